// The KV block pool: which blocks are in use (and by how many sequences), which are free, and
// which free blocks still hold a reusable prompt prefix (the prefix cache).
//
// Every block is in exactly one state:
//   used    refs > 0                      owned by one or more sequences' block tables
//   cached  refs == 0, has a content key  evictable; an identical prefix can take it back
//   free    refs == 0, no key             ready to allocate
// so free + cached + used == total at all times (check_invariants() verifies it).
//
// A block's content key is its position in a hash chain (see prefix_hash.h) plus the exact
// tokens it holds, so a lookup never matches on a hash collision alone. Cached blocks are
// evicted least recently released first.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

namespace tmill::engine {

struct BlockKey {
  uint64_t hash = 0;            // chain hash of this block and all blocks before it (plus the salt)
  uint64_t parent = 0;          // chain hash of the previous block (0 for the first)
  std::vector<int32_t> tokens;  // exactly block_size tokens
};

class BlockPool {
 public:
  explicit BlockPool(int32_t n_blocks);

  int32_t total() const { return n_blocks_; }
  int32_t used() const { return used_; }
  int32_t cached() const { return static_cast<int32_t>(lru_.size()); }
  int32_t free_uncached() const { return static_cast<int32_t>(free_.size()); }
  // Blocks an allocation could get right now (free + evictable cached).
  int32_t available() const { return free_uncached() + cached(); }

  // A block with refs == 1: a never-used one if any, else the least recently released cached
  // one (its content key is dropped). -1 when every block is in use.
  int32_t allocate();
  // Another reference to a used or cached block (a prefix-cache hit or a shared prompt).
  void retain(int32_t block);
  // Drops one reference; at zero the block becomes cached (if it has a key) or free.
  void release(int32_t block);

  // The block holding exactly this content, or -1.
  int32_t lookup(const BlockKey& key) const;
  // Records that `block` (in use, fully written) holds `key`'s content. If another block
  // already holds the same content, nothing changes (the first one stays the cached copy).
  void publish(int32_t block, BlockKey key);

  int32_t refs(int32_t block) const { return refs_[static_cast<size_t>(block)]; }
  // "" when consistent, else what is wrong (for tests and debug checks).
  std::string check_invariants() const;

 private:
  void drop_key(int32_t block);

  int32_t n_blocks_;
  int32_t used_ = 0;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;  // stack of never-used / key-less free blocks
  std::list<int32_t> lru_;     // cached blocks, least recently released first
  std::vector<std::list<int32_t>::iterator> lru_pos_;  // valid while the block is in lru_
  std::vector<uint8_t> in_lru_;
  std::vector<BlockKey> keys_;  // per block; tokens empty when it has no key
  std::vector<uint8_t> has_key_;
  std::unordered_multimap<uint64_t, int32_t> by_hash_;  // chain hash -> blocks with that key
};

}  // namespace tmill::engine
