// Activations quantized to int8 per block of 32 for the int8 packed kernels
// (matmul_packed_int8.cpp): codes = round-to-nearest-even(x * (127 / max|x| of the block)), in
// element order, with per block the scale max|x| / 127, the integer sums of the codes of each
// half (for the formats whose codes carry an offset: Q4_0 -8, Q5_0 -16, Q8_0 as u8 -128, Q6_K
// -32 per 16 elements), and the block's sum as the codes represent it, scale · Σ codes (for the
// formats with a min).
//
// Why the min term takes the rounded sum, not the exact one: a Q4_1 weight is d·n + m with
// n in 0..15 and m near -8d, so the rounding errors e_k of the activations enter the result as
// Σ (d·n_k + m)·e_k, small because the weights are centred, only when both terms see the same
// rounded activations. With the exact sum in the min term the error is d·Σ n_k·e_k, whose
// 7.5·d·Σ e_k part does not cancel: logits of the synthetic Q4_1 and Q4_K models moved 6x
// further from the scalar kernels' (1 - cosine 3.5e-4 vs 6e-5 for the other formats).
#pragma once

#include <cstdint>
#include <vector>

namespace tmill::cpu::detail {

struct Int8Activations {
  std::vector<int8_t> codes;       // [T][n_in]
  std::vector<float> scales;       // [T][n_blocks]
  std::vector<float> sums;         // [T][n_blocks]: scale · Σ codes
  std::vector<int32_t> code_sums;  // [T][n_blocks][2]: Σ codes of elements 0-15, 16-31
  int64_t n_in = 0;
  int64_t n_blocks = 0;
};

// This thread's buffers (grown to the largest size seen; no allocation after warm-up).
Int8Activations& thread_int8_activations();

// Quantizes x [n_tokens][n_in] (n_in a multiple of 32) into a. Needs AVX-512 (call only where
// packed_supported() holds).
void quantize_activations_int8(const float* x, int64_t n_tokens, int64_t n_in, Int8Activations& a);

}  // namespace tmill::cpu::detail
