#include "backend/cpu/f16_rows.h"

#include <immintrin.h>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/matmul.h"
#include "core/half.h"

namespace tmill::cpu {
namespace {

TM_AVX2 int64_t f32_to_f16_avx2(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  return i;
}

}  // namespace

void f32_to_f16_row(const float* x, uint16_t* y, int64_t n) {
  const int64_t done = simd_enabled() ? f32_to_f16_avx2(x, y, n) : 0;
  for (int64_t i = done; i < n; ++i) y[i] = f32_to_f16(x[i]);
}

}  // namespace tmill::cpu
