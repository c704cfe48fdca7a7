// KV cache storage: a pool of fixed-size blocks on the device, and per-sequence block tables.
// K and V are f16, one tensor per layer each, all views into one device buffer, in head-major
// blocks (backend::kv_cache_view: [n_blocks][n_kv_head][block_size][head_dim]). Slot of
// (seq, pos) = block_table[pos / block_size] * block_size + pos % block_size.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "backend/device.h"
#include "core/expected.h"
#include "model/hparams.h"

namespace tmill::model {

// Tokens per KV block unless a caller chooses otherwise.
inline constexpr int32_t kDefaultKvBlockSize = 16;

class KvCache {
 public:
  static Expected<std::unique_ptr<KvCache>> create(backend::Device& device, const HParams& hp,
                                                   int32_t n_blocks, int32_t block_size);

  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return n_blocks_; }
  int32_t free_blocks() const { return static_cast<int32_t>(free_.size()); }
  int64_t capacity_tokens() const { return static_cast<int64_t>(n_blocks_) * block_size_; }
  size_t bytes() const;

  // Make sure `seq` owns blocks covering positions [0, n_positions). Fails (changing nothing)
  // when the pool has too few free blocks.
  Status reserve(int32_t seq, int32_t n_positions);
  // Return all of `seq`'s blocks to the pool.
  void release(int32_t seq);
  // Externally managed block tables (the serving engine's block pool owns the blocks and their
  // sharing): set `seq`'s table as given, or forget it. A cache is used either this way or
  // through reserve()/release(), never both.
  void assign(int32_t seq, std::span<const int32_t> blocks);
  void forget(int32_t seq) { tables_.erase(seq); }
  bool has_sequence(int32_t seq) const { return tables_.count(seq) != 0; }
  // Positions currently covered by `seq`'s blocks.
  int32_t reserved_positions(int32_t seq) const;
  const std::vector<int32_t>& block_table(int32_t seq) const;
  int32_t slot(int32_t seq, int32_t pos) const;

  backend::Tensor& k(int32_t layer) { return k_[static_cast<size_t>(layer)]; }
  backend::Tensor& v(int32_t layer) { return v_[static_cast<size_t>(layer)]; }

 private:
  KvCache() = default;
  int32_t n_blocks_ = 0;
  int32_t block_size_ = 0;
  std::unique_ptr<backend::Buffer> buffer_;  // every layer's K and V
  std::vector<backend::Tensor> k_, v_;
  std::vector<int32_t> free_;  // free block ids (stack)
  std::unordered_map<int32_t, std::vector<int32_t>> tables_;
};

}  // namespace tmill::model
