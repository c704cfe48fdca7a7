#include "backend/cpu/activation.h"

#include <immintrin.h>

#include <cmath>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/matmul.h"

namespace tmill::cpu {
namespace {

constexpr float kGeluScale = 2.0f * 0.7978845608028654f;  // 2 * sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

float sigmoid(float z) {
  const float e = std::exp(-std::fabs(z));
  return (z >= 0.0f ? 1.0f : e) / (1.0f + e);
}

float gelu_arg(float x) { return kGeluScale * (x + kGeluCubic * x * x * x); }

TM_AVX2 inline __m256 sigmoid8(__m256 z) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 e =
      detail::exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_and_ps(z, abs_mask)));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 num = _mm256_blendv_ps(e, one, _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_GE_OQ));
  return _mm256_div_ps(num, _mm256_add_ps(one, e));
}

template <bool kGelu>
TM_AVX2 void gated_avx2(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(gate + i);
    __m256 z = x;
    if constexpr (kGelu) {
      const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
      z = _mm256_mul_ps(_mm256_set1_ps(kGeluScale),
                        _mm256_fmadd_ps(_mm256_set1_ps(kGeluCubic), x3, x));
    }
    const __m256 a = _mm256_mul_ps(x, sigmoid8(z));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(a, _mm256_loadu_ps(up + i)));
  }
  if constexpr (kGelu)
    gated_gelu_scalar(gate + i, up + i, out + i, n - i);
  else
    gated_silu_scalar(gate + i, up + i, out + i, n - i);
}

}  // namespace

void gated_silu_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

void gated_gelu_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gelu_arg(gate[i])) * up[i];
}

void gated_silu(const float* gate, const float* up, float* out, int64_t n) {
  if (simd_enabled())
    gated_avx2<false>(gate, up, out, n);
  else
    gated_silu_scalar(gate, up, out, n);
}

void gated_gelu(const float* gate, const float* up, float* out, int64_t n) {
  if (simd_enabled())
    gated_avx2<true>(gate, up, out, n);
  else
    gated_gelu_scalar(gate, up, out, n);
}

}  // namespace tmill::cpu
