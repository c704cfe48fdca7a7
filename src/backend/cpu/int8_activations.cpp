#include "backend/cpu/int8_activations.h"

#include <immintrin.h>

#include "backend/cpu/avx2_helpers.h"
#include "quant/blocks.h"

namespace tmill::cpu::detail {

using quant::kQK;

Int8Activations& thread_int8_activations() {
  thread_local Int8Activations a;
  return a;
}

// GCC 12 reports its own headers' _mm512_undefined_*() sources (behind the reductions and
// conversions below) as maybe-uninitialized; they are don't-care inputs by definition.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
TM_AVX512 void quantize_activations_int8(const float* x, int64_t n_tokens, int64_t n_in,
                                         Int8Activations& a) {
  a.n_in = n_in;
  a.n_blocks = n_in / kQK;
  const size_t codes = static_cast<size_t>(n_tokens * n_in);
  if (a.codes.size() < codes) a.codes.resize(codes);
  const size_t blocks = static_cast<size_t>(n_tokens * a.n_blocks);
  if (a.scales.size() < blocks) {
    a.scales.resize(blocks);
    a.sums.resize(blocks);
    a.code_sums.resize(2 * blocks);
  }
  for (int64_t tb = 0; tb < n_tokens * a.n_blocks; ++tb) {
    const float* xb = x + tb * kQK;  // blocks of consecutive tokens are contiguous
    const __m512 v0 = _mm512_loadu_ps(xb);
    const __m512 v1 = _mm512_loadu_ps(xb + 16);
    const float max_abs = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const __m512 inv = _mm512_set1_ps(max_abs > 0.0f ? 127.0f / max_abs : 0.0f);
    // Rounds to nearest even (MXCSR default); |code| <= 127, so the narrowing is exact.
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, inv));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, inv));
    int8_t* out = a.codes.data() + tb * kQK;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm512_cvtepi32_epi8(q1));
    const size_t bi = static_cast<size_t>(tb);
    a.scales[bi] = max_abs / 127.0f;
    a.code_sums[2 * bi] = _mm512_reduce_add_epi32(q0);
    a.code_sums[2 * bi + 1] = _mm512_reduce_add_epi32(q1);
    a.sums[bi] = a.scales[bi] * static_cast<float>(a.code_sums[2 * bi] + a.code_sums[2 * bi + 1]);
  }
}
#pragma GCC diagnostic pop

}  // namespace tmill::cpu::detail
