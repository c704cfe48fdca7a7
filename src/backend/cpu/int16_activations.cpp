#include "backend/cpu/int16_activations.h"

#include <immintrin.h>

#include "backend/cpu/avx2_helpers.h"
#include "quant/blocks.h"

namespace tmill::cpu::detail {

using quant::kQK;

QuantizedActivations& thread_activations() {
  thread_local QuantizedActivations a;
  return a;
}

TM_AVX2 void quantize_activations(const float* x, int64_t n_tokens, int64_t n_in,
                                  QuantizedActivations& a) {
  a.n_in = n_in;
  a.n_blocks = n_in / kQK;
  const size_t codes = static_cast<size_t>(n_tokens * n_in);
  if (a.codes.size() < codes) a.codes.resize(codes);
  const size_t blocks = static_cast<size_t>(n_tokens * a.n_blocks);
  if (a.scales.size() < blocks) {
    a.scales.resize(blocks);
    a.sums.resize(blocks);
    a.half_sums.resize(2 * blocks);
  }
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t b = 0; b < a.n_blocks; ++b) {
      const float* xb = x + t * n_in + b * kQK;
      __m256 v[4];
      for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(xb + 8 * k);
      const __m256 amax = _mm256_max_ps(
          _mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
          _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      const float max_abs = _mm_cvtss_f32(m4);
      const float scale = max_abs / 32767.0f;
      const __m256 inv = _mm256_set1_ps(max_abs > 0.0f ? 32767.0f / max_abs : 0.0f);
      __m256i q[4];
      for (int k = 0; k < 4; ++k)
        q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], inv));  // round to nearest
      // packs works per 128-bit lane: restore element order with a 64-bit permute.
      const __m256i q01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xd8);
      const __m256i q23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xd8);
      // The unpack order (see the top of this file): [0-7, 16-23] then [8-15, 24-31].
      int16_t* out = a.codes.data() + t * n_in + b * kQK;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                          _mm256_permute2x128_si256(q01, q23, 0x20));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16),
                          _mm256_permute2x128_si256(q01, q23, 0x31));
      const size_t bi = static_cast<size_t>(t * a.n_blocks + b);
      a.scales[bi] = scale;
      const float first = hsum(_mm256_add_ps(v[0], v[1]));
      const float second = hsum(_mm256_add_ps(v[2], v[3]));
      a.sums[bi] = first + second;
      a.half_sums[2 * bi] = first;
      a.half_sums[2 * bi + 1] = second;
    }
  }
}

}  // namespace tmill::cpu::detail
