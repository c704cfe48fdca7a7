// Small AVX2+FMA+F16C helpers shared by the CPU kernels. Include only from files whose every
// caller checks cpu_has_avx2() first: each function carries the TM_AVX2 target attribute
// (instead of a file-wide pragma), so nothing here is compiled for AVX2 behind the back of
// code that runs on older CPUs.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#define TM_AVX2 __attribute__((target("avx2,fma,f16c")))
// The AVX-512 VNNI kernel variants (call only when cpu_has_avx512_vnni()).
#define TM_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace tmill::cpu::detail {

// Runs f(std::integral_constant<int, T>{}, t) for t = begin, begin + kMax, ... < end, with
// T = min(kMax, end - t): the kernels take their token count as a template argument (their
// per-token registers are unrolled over it).
template <int kMax, class F>
inline void for_token_groups(int64_t begin, int64_t end, F&& f) {
  for (int64_t t = begin; t < end; t += kMax) {
    const int64_t n = std::min<int64_t>(kMax, end - t);
    [&]<int... k>(std::integer_sequence<int, k...>) {
      (void)((n == k + 1 && (f(std::integral_constant<int, k + 1>{}, t), true)) || ...);
    }
    (std::make_integer_sequence<int, kMax>{});
  }
}

TM_AVX2 inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

TM_AVX2 inline __m128i load16(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
TM_AVX2 inline __m256i load32(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Low 8 bytes of b as floats, signed / unsigned.
TM_AVX2 inline __m256 i8_to_ps(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)); }
TM_AVX2 inline __m256 u8_to_ps(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)); }

TM_AVX2 inline __m128i lo128(__m256i v) { return _mm256_castsi256_si128(v); }
TM_AVX2 inline __m128i hi128(__m256i v) { return _mm256_extracti128_si256(v, 1); }

// Byte k of the result is 0xff when bit k of `bits` is set (k < 32).
TM_AVX2 inline __m256i expand_bits32(uint32_t bits) {
  // Lane 0 takes bytes 0-1 of the broadcast word, lane 1 bytes 2-3, each byte 8 times.
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i select = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), spread);
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, select), select);
}

// Legacy 4-bit nibbles: 16 bytes -> 32 codes, lane 0 = low nibbles (elements 0..15), lane 1 =
// high nibbles (elements 16..31).
TM_AVX2 inline __m256i unpack_nibbles16(const uint8_t* qs) {
  // Both 128-bit lanes get the 16 bytes; the upper lane's 64-bit words are shifted right by 4
  // so its bytes' low nibbles are the original high nibbles (bits shifted in from the next
  // byte land in the high nibble and are masked off).
  const __m256i q = _mm256_broadcastsi128_si256(load16(qs));
  return _mm256_and_si256(_mm256_srlv_epi64(q, _mm256_setr_epi64x(0, 0, 4, 4)),
                          _mm256_set1_epi8(0x0f));
}

// Q5_K (quant/blocks.h): the 5-bit codes of sub-blocks 2c (lo) and 2c + 1 (hi), each 32 bytes in
// element order: group c's low/high nibbles with bits 2c and 2c + 1 of qh (= load32(p + 16)).
TM_AVX2 __attribute__((always_inline)) inline void q5_k_codes(const uint8_t* p, int c, __m256i qh,
                                                              __m256i& lo, __m256i& hi) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  const __m256i q = load32(p + 48 + 32 * c);
  const __m256i sel0 = _mm256_set1_epi8(static_cast<char>(1 << (2 * c)));
  const __m256i sel1 = _mm256_set1_epi8(static_cast<char>(2 << (2 * c)));
  const __m256i h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, sel0), sel0), bit4);
  const __m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, sel1), sel1), bit4);
  lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
  hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
}

// Q6_K (quant/blocks.h): the 6-bit codes (0..63, before the -32 offset) of half h (0, 1) of the
// super-block at p, as 4 vectors of 32 bytes: q[j] holds elements 128h + 32j .. + 31 in order,
// built from that quarter's low nibbles in ql and bits 2j, 2j+1 of qh moved to bits 4-5.
TM_AVX2 __attribute__((always_inline)) inline void q6_k_half_codes(const uint8_t* p, int h,
                                                                   __m256i q[4]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m2hi = _mm256_set1_epi8(0x30);
  const __m256i ql0 = load32(p + 64 * h);
  const __m256i ql1 = load32(p + 64 * h + 32);
  const __m256i qh = load32(p + 128 + 32 * h);
  q[0] =
      _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2hi));
  q[1] =
      _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2hi));
  q[2] =
      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m2hi));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2hi));
}

TM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

TM_AVX2 inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// In place: v[c] lane r <- v[r] lane c (8x8 transpose; works on any 32-bit lanes).
TM_AVX2 inline void transpose8(__m256* v) {
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
  v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// e^x for x <= 0 (softmax arguments, sigmoids), relative error ~1e-7: x = n·ln2 + r with |r| <=
// ln2/2, e^r by its degree-6 Taylor polynomial, 2^n through the exponent bits. Below -87 the result
// flushes to 0.
TM_AVX2 inline __m256 exp_nonpositive(__m256 x) {
  const __m256 too_small = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2 split in two parts
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i pow2n =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n));
  return _mm256_andnot_ps(too_small, result);
}

}  // namespace tmill::cpu::detail
