// Gated activations for the FFN: out[i] = act(gate[i]) * up[i], act = SiLU or GELU (tanh
// approximation). Both are written as x * sigmoid(z) (SiLU: z = x; GELU: z = 2 * sqrt(2/pi) *
// (x + 0.044715 x^3), since 0.5 * (1 + tanh(y)) = sigmoid(2y)), and the sigmoid as
// (z >= 0 ? 1 : e) / (1 + e) with e = exp(-|z|) <= 1: no overflow and no cancellation for
// either sign, so one exp per element replaces libm's tanhf (which was 17% of Gemma 3's
// prefill: expm1f + tanhf in perf).
#pragma once

#include <cstdint>

namespace tmill::cpu {

// Portable version (the reference and the SIMD path's tail).
void gated_silu_scalar(const float* gate, const float* up, float* out, int64_t n);
void gated_gelu_scalar(const float* gate, const float* up, float* out, int64_t n);

// Dispatches to AVX2 when SIMD kernels are enabled (matmul.h's simd_enabled()).
void gated_silu(const float* gate, const float* up, float* out, int64_t n);
void gated_gelu(const float* gate, const float* up, float* out, int64_t n);

}  // namespace tmill::cpu
