#include "model/kv_cache.h"

#include "core/check.h"

namespace tmill::model {

Expected<std::unique_ptr<KvCache>> KvCache::create(backend::Device& device, const HParams& hp,
                                                   int32_t n_blocks, int32_t block_size) {
  if (n_blocks <= 0 || block_size <= 0)
    return fail("KV cache needs a positive block count and size");
  std::unique_ptr<KvCache> kv(new KvCache());
  kv->n_blocks_ = n_blocks;
  kv->block_size_ = block_size;
  const int64_t n_slots = static_cast<int64_t>(n_blocks) * block_size;
  const size_t slot_bytes =
      static_cast<size_t>(hp.n_kv_head) * static_cast<size_t>(hp.head_dim) * sizeof(uint16_t);
  // One allocation for every layer's K and V (64-byte aligned pieces): a device may back a large
  // buffer with large pages (the CPU does), and decode reads the whole cache every step.
  const size_t piece_bytes = (slot_bytes * static_cast<size_t>(n_slots) + 63) / 64 * 64;
  TM_ASSIGN(auto buffer, device.allocate(piece_bytes * 2 * static_cast<size_t>(hp.n_layer)));
  auto* base = static_cast<uint8_t*>(buffer->data());
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    for (int kind = 0; kind < 2; ++kind) {
      uint8_t* piece =
          base + (2 * static_cast<size_t>(il) + static_cast<size_t>(kind)) * piece_bytes;
      const backend::Tensor t =
          backend::kv_cache_view(piece, n_blocks, block_size, hp.n_kv_head, hp.head_dim, &device);
      (kind == 0 ? kv->k_ : kv->v_).push_back(t);
    }
  }
  kv->buffer_ = std::move(buffer);
  kv->free_.reserve(static_cast<size_t>(n_blocks));
  for (int32_t b = n_blocks - 1; b >= 0; --b) kv->free_.push_back(b);
  return kv;
}

size_t KvCache::bytes() const { return buffer_->size(); }

Status KvCache::reserve(int32_t seq, int32_t n_positions) {
  auto& table = tables_[seq];
  const int64_t needed_blocks = (static_cast<int64_t>(n_positions) + block_size_ - 1) / block_size_;
  const int64_t missing = needed_blocks - static_cast<int64_t>(table.size());
  if (missing <= 0) return Status::success();
  if (missing > static_cast<int64_t>(free_.size())) {
    if (table.empty()) tables_.erase(seq);
    return fail("KV cache full: sequence ", seq, " needs ", missing, " more blocks of ",
                block_size_, " tokens but only ", free_.size(), " of ", n_blocks_, " are free");
  }
  for (int64_t i = 0; i < missing; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  return Status::success();
}

void KvCache::release(int32_t seq) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return;
  for (int32_t b : it->second) free_.push_back(b);
  tables_.erase(it);
}

void KvCache::assign(int32_t seq, std::span<const int32_t> blocks) {
  for (int32_t b : blocks) TM_CHECK(b >= 0 && b < n_blocks_, "assign: block id out of range");
  tables_[seq].assign(blocks.begin(), blocks.end());
}

int32_t KvCache::reserved_positions(int32_t seq) const {
  auto it = tables_.find(seq);
  return it == tables_.end() ? 0 : static_cast<int32_t>(it->second.size()) * block_size_;
}

const std::vector<int32_t>& KvCache::block_table(int32_t seq) const {
  auto it = tables_.find(seq);
  TM_CHECK(it != tables_.end(), "block_table of unknown sequence");
  return it->second;
}

int32_t KvCache::slot(int32_t seq, int32_t pos) const {
  const auto& table = block_table(seq);
  TM_CHECK(pos >= 0 && pos / block_size_ < static_cast<int32_t>(table.size()), "slot out of range");
  return table[static_cast<size_t>(pos / block_size_)] * block_size_ + pos % block_size_;
}

}  // namespace tmill::model
