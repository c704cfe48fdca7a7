// Attention over the paged f16 KV cache for one query token and the query heads that share one
// KV head (grouped-query attention), with an online softmax: the scores of one tile of cached
// positions at a time, never the full score row.
//
// Two kernels: a portable scalar one (the reference) and an AVX2+FMA+F16C one that converts
// each K/V row once per group and keeps the group's accumulators in registers. Both visit
// positions in the same order and give the same result up to float rounding; neither depends
// on which other tokens are in the batch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tmill::cpu {

struct AttentionJob {
  const float* q = nullptr;  // [group][head_dim] query rows (unscaled)
  float* out = nullptr;      // [group][head_dim]
  // Head-major f16 blocks (backend::kv_cache_view): [block][n_kv_head][block_size][row], rows
  // of head_dim values k_row_bytes / v_row_bytes apart.
  const uint8_t* k_cache = nullptr;
  const uint8_t* v_cache = nullptr;
  size_t k_row_bytes = 0;
  size_t v_row_bytes = 0;
  int32_t n_kv_head = 1;
  int32_t kv_head = 0;                   // the KV head this job reads
  const int32_t* block_table = nullptr;  // the sequence's blocks, in position order
  int32_t block_size = 0;                // slots per block
  int32_t first = 0;                     // visible positions: [first, last]
  int32_t last = 0;
  int32_t group = 1;  // query heads sharing this KV head
  int32_t head_dim = 0;
  float scale = 1.0f;  // applied to q·k
  // The job this thread runs next, if known: the SIMD kernel prefetches its first tile's K/V
  // rows while finishing this one (results never depend on it).
  const AttentionJob* next = nullptr;
};

// This job's KV head's f16 row for position `pos` (through the block table).
inline const uint16_t* cache_row(const uint8_t* cache, size_t row_bytes, const AttentionJob& job,
                                 int32_t pos) {
  const int64_t block = job.block_table[pos / job.block_size];
  const int64_t row = (block * job.n_kv_head + job.kv_head) * job.block_size + pos % job.block_size;
  return reinterpret_cast<const uint16_t*>(cache + static_cast<size_t>(row) * row_bytes);
}

// Floats of per-thread scratch attention() needs.
size_t attention_scratch_floats(int32_t group, int32_t head_dim);

// Computes job.out = softmax(scale · q·Kᵀ) · V over the visible positions (all zeros when none
// is visible). Uses the SIMD kernel when simd_enabled() (matmul.h) and head_dim % 8 == 0.
void attention(const AttentionJob& job, float* scratch);

// The scalar reference, whatever simd_enabled() says.
void attention_scalar(const AttentionJob& job, float* scratch);

namespace detail {
void attention_avx2(const AttentionJob& job, float* scratch);
}

}  // namespace tmill::cpu
