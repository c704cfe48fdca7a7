// Decode-path matmul with integer dot products: activations quantized on the fly to int16 per
// block of 32 (scale = max|x| / 32767, so the relative error is below 2^-15 of the block's
// largest value — logits stay as close to exact arithmetic as the f32 path), weights widened
// from their quantized codes to int16 without converting to float, and pairs multiplied and
// added with vpmaddwd. Scales are applied once per block of 32.
//
// Covers Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K; other formats (and prefill-sized
// batches) take the f32 kernels. AVX2 only: call after cpu_has_avx2().
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tmill::cpu::detail {

// Most token rows one call handles (the caller splits larger batches).
inline constexpr int64_t kInt16MaxTokens = 8;

bool int16_supports(DType type);

// matmul_rows for n_tokens <= kInt16MaxTokens and int16_supports(type).
void matmul_rows_int16(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                       const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                       int64_t row_begin, int64_t row_end);

// The batch-invariant int16 kernels (see "Batch-invariant kernels" in matmul_int16.cpp): any
// n_tokens, and every row's result is bit-identical whatever n_tokens, the row range or the
// kernel variant (one token, AVX2 panels, AVX-512 VNNI panels).
void matmul_rows_int16_invariant(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                                 const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                                 int64_t row_begin, int64_t row_end);

// Whether the invariant multi-token kernels use AVX-512 VNNI (when the CPU has it). Tests turn
// it off to cover the AVX2 variant; not meant to be toggled while kernels run.
bool int16_vnni_enabled();
void set_int16_vnni(bool on);

}  // namespace tmill::cpu::detail
