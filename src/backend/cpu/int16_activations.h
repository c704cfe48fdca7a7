// Activations quantized to int16 per block of 32 for the int16 matmul kernels
// (matmul_int16.cpp, matmul_packed.cpp): codes = round(x * 32767 / max|x| of the block), stored
// per block in the unpack order [0-7, 16-23] [8-15, 24-31] (the order in-lane byte unpacks
// leave weight codes in), with the block's scale and exact float sums beside them.
#pragma once

#include <cstdint>
#include <vector>

namespace tmill::cpu::detail {

// Token rows [T][n_in] quantized: codes [T][n_in], per block of 32 the scale [T][n_in/32] and
// the exact float sum [T][n_in/32].
struct QuantizedActivations {
  std::vector<int16_t> codes;
  std::vector<float> scales;
  std::vector<float> sums;
  std::vector<float> half_sums;  // [T][n_in/16]: exact sums of each 16 elements (Q6_K's bias)
  int64_t n_in = 0;
  int64_t n_blocks = 0;
};

// This thread's buffers (grown to the largest size seen; no allocation after warm-up).
QuantizedActivations& thread_activations();

// Quantizes x [n_tokens][n_in] (n_in a multiple of 32) into a. AVX2: call after cpu_has_avx2().
void quantize_activations(const float* x, int64_t n_tokens, int64_t n_in, QuantizedActivations& a);

}  // namespace tmill::cpu::detail
