#include "engine/block_pool.h"

#include "core/check.h"

namespace tmill::engine {

BlockPool::BlockPool(int32_t n_blocks)
    : n_blocks_(n_blocks),
      refs_(static_cast<size_t>(n_blocks), 0),
      lru_pos_(static_cast<size_t>(n_blocks)),
      in_lru_(static_cast<size_t>(n_blocks), 0),
      keys_(static_cast<size_t>(n_blocks)),
      has_key_(static_cast<size_t>(n_blocks), 0) {
  free_.reserve(static_cast<size_t>(n_blocks));
  // Stack order: block 0 is handed out first.
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int32_t BlockPool::allocate() {
  int32_t block = -1;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    block = lru_.front();
    lru_.pop_front();
    in_lru_[static_cast<size_t>(block)] = 0;
    drop_key(block);
  } else {
    return -1;
  }
  refs_[static_cast<size_t>(block)] = 1;
  ++used_;
  return block;
}

void BlockPool::retain(int32_t block) {
  const size_t b = static_cast<size_t>(block);
  TM_CHECK(block >= 0 && block < n_blocks_, "retain: block out of range");
  if (refs_[b] == 0) {
    TM_CHECK(in_lru_[b], "retain: a free block without content cannot be shared");
    lru_.erase(lru_pos_[b]);
    in_lru_[b] = 0;
    ++used_;
  }
  ++refs_[b];
}

void BlockPool::release(int32_t block) {
  const size_t b = static_cast<size_t>(block);
  TM_CHECK(block >= 0 && block < n_blocks_ && refs_[b] > 0, "release: block not in use");
  if (--refs_[b] > 0) return;
  --used_;
  if (has_key_[b]) {
    lru_pos_[b] = lru_.insert(lru_.end(), block);
    in_lru_[b] = 1;
  } else {
    free_.push_back(block);
  }
}

int32_t BlockPool::lookup(const BlockKey& key) const {
  auto [first, last] = by_hash_.equal_range(key.hash);
  for (auto it = first; it != last; ++it) {
    const BlockKey& k = keys_[static_cast<size_t>(it->second)];
    if (k.parent == key.parent && k.tokens == key.tokens) return it->second;
  }
  return -1;
}

void BlockPool::publish(int32_t block, BlockKey key) {
  const size_t b = static_cast<size_t>(block);
  TM_CHECK(block >= 0 && block < n_blocks_ && refs_[b] > 0, "publish: block not in use");
  if (has_key_[b] || lookup(key) >= 0) return;
  by_hash_.emplace(key.hash, block);
  keys_[b] = std::move(key);
  has_key_[b] = 1;
}

void BlockPool::drop_key(int32_t block) {
  const size_t b = static_cast<size_t>(block);
  if (!has_key_[b]) return;
  auto [first, last] = by_hash_.equal_range(keys_[b].hash);
  for (auto it = first; it != last; ++it) {
    if (it->second == block) {
      by_hash_.erase(it);
      break;
    }
  }
  keys_[b] = BlockKey{};
  has_key_[b] = 0;
}

std::string BlockPool::check_invariants() const {
  int32_t used = 0, cached = 0, free = 0;
  for (int32_t b = 0; b < n_blocks_; ++b) {
    const size_t i = static_cast<size_t>(b);
    if (refs_[i] < 0) return "negative refcount on block " + std::to_string(b);
    if (refs_[i] > 0) {
      ++used;
      if (in_lru_[i]) return "used block " + std::to_string(b) + " is on the LRU list";
    } else if (in_lru_[i]) {
      ++cached;
      if (!has_key_[i]) return "cached block " + std::to_string(b) + " has no content key";
    } else {
      ++free;
    }
  }
  if (used != used_) return "used count drifted";
  if (cached != static_cast<int32_t>(lru_.size())) return "LRU list length drifted";
  if (free != static_cast<int32_t>(free_.size())) return "free list length drifted";
  if (used + cached + free != n_blocks_) return "free + cached + used != total";
  return "";
}

}  // namespace tmill::engine
