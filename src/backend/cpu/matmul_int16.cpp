// int16-activation matmul kernels (see matmul_int16.h).
//
// Per weight row, a format's block reader produces each block of 32 weights as two vectors of
// 16 int16 codes, with a float scale `dw` and an additive term `mw` such that
// weight[k] = dw * code[k] + mw. The codes are widened from bytes with in-lane unpacks (cheaper
// than cross-lane zero/sign extension), which leaves the elements in the order
// [0-7, 16-23] [8-15, 24-31]; the activations are stored in that same order (kPermuted), and a
// dot product does not care about the order of its terms. K-quant sub-block scales are folded into
// the codes
// (|code| <= 32 * 128, so products with int16 activations and their pairwise sums fit int32).
// The sink then forms, per token row t:
//   acc_t += float(Σ code[k] * xq[k]) * (dw * dx_b)      (vpmaddwd, one scale per block)
//   min_t += mw * Σ_k x[k]                               (only formats with an additive term)
#include "backend/cpu/matmul_int16.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/int16_activations.h"
#include "backend/cpu/matmul_avx2.h"
#include "quant/blocks.h"
#include "quant/formats.h"

namespace tmill::cpu::detail {
namespace {

using quant::kQK;
using quant::kQK_K;

// Dot products of one weight row with T quantized token rows. Two accumulator sets (even and
// odd blocks) halve the FMA dependency chain.
template <int T, bool kHasMin>
struct Int16DotSink {
  const int16_t* codes;  // token 0's codes; token t at + t * n_in
  const float* scales;   // token 0's block scales; token t at + t * n_blocks
  const float* sums;
  int64_t n_in;
  int64_t n_blocks;
  __m256 acc[2][T];
  float min_acc[T];

  TM_AVX2 Int16DotSink(const QuantizedActivations& a)
      : codes(a.codes.data()),
        scales(a.scales.data()),
        sums(a.sums.data()),
        n_in(a.n_in),
        n_blocks(a.n_blocks) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      acc[0][t] = acc[1][t] = _mm256_setzero_ps();
      min_acc[t] = 0.0f;
    }
  }

  TM_AVX2 void block(int64_t b, __m256i w_lo, __m256i w_hi, float dw, float mw) {
    const int parity = static_cast<int>(b & 1);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const int16_t* xb = codes + t * n_in + b * kQK;
      const __m256i s = _mm256_add_epi32(
          _mm256_madd_epi16(w_lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb))),
          _mm256_madd_epi16(w_hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 16))));
      const __m256 scale = _mm256_set1_ps(dw * scales[t * n_blocks + b]);
      acc[parity][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, acc[parity][t]);
      if constexpr (kHasMin) min_acc[t] += mw * sums[t * n_blocks + b];
    }
  }

  TM_AVX2 float result(int t) const {
    return hsum(_mm256_add_ps(acc[0][t], acc[1][t])) + min_acc[t];
  }
};

// 32 codes in element order (bytes) -> int16 halves in the unpack order.
TM_AVX2 inline void widen_u8(__m256i v, __m256i& lo, __m256i& hi) {
  lo = _mm256_unpacklo_epi8(v, _mm256_setzero_si256());
  hi = _mm256_unpackhi_epi8(v, _mm256_setzero_si256());
}
TM_AVX2 inline void widen_i8(__m256i v, __m256i& lo, __m256i& hi) {
  const __m256i sign = _mm256_cmpgt_epi8(_mm256_setzero_si256(), v);
  lo = _mm256_unpacklo_epi8(v, sign);
  hi = _mm256_unpackhi_epi8(v, sign);
}

// ---------------------------------------------------------------------------------------------
// Weight codes. Each reader yields 32 codes in element order as bytes, widened to the int16
// unpack order.

// Legacy formats (one scale d in the first two bytes of each block). kMinOffset: byte offset
// of an f16 additive term m; otherwise kMinPerScale * d is the additive term (Q4_0 and Q5_0
// are read as unsigned codes, q - 8 = q + (-8)), or there is none.
struct Q4_0Codes {
  static constexpr int kBytes = sizeof(quant::BlockQ4_0);  // d, qs[16]
  static constexpr int kMinOffset = -1;
  static constexpr float kMinPerScale = -8.0f;
  TM_AVX2 static void codes(const uint8_t* p, __m256i& lo, __m256i& hi) {
    widen_u8(unpack_nibbles16(p + 2), lo, hi);
  }
};
struct Q4_1Codes {
  static constexpr int kBytes = sizeof(quant::BlockQ4_1);  // d, m, qs[16]
  static constexpr int kMinOffset = 2;
  static constexpr float kMinPerScale = 0.0f;
  TM_AVX2 static void codes(const uint8_t* p, __m256i& lo, __m256i& hi) {
    widen_u8(unpack_nibbles16(p + 4), lo, hi);
  }
};
struct Q5_0Codes {
  static constexpr int kBytes = sizeof(quant::BlockQ5_0);  // d, qh[4], qs[16]
  static constexpr int kMinOffset = -1;
  static constexpr float kMinPerScale = -16.0f;
  TM_AVX2 static void codes(const uint8_t* p, __m256i& lo, __m256i& hi) {
    uint32_t qh;
    std::memcpy(&qh, p + 2, sizeof qh);
    const __m256i high = _mm256_and_si256(expand_bits32(qh), _mm256_set1_epi8(0x10));
    widen_u8(_mm256_or_si256(unpack_nibbles16(p + 6), high), lo, hi);
  }
};
struct Q5_1Codes {
  static constexpr int kBytes = sizeof(quant::BlockQ5_1);  // d, m, qh[4], qs[16]
  static constexpr int kMinOffset = 2;
  static constexpr float kMinPerScale = 0.0f;
  TM_AVX2 static void codes(const uint8_t* p, __m256i& lo, __m256i& hi) {
    uint32_t qh;
    std::memcpy(&qh, p + 4, sizeof qh);
    const __m256i high = _mm256_and_si256(expand_bits32(qh), _mm256_set1_epi8(0x10));
    widen_u8(_mm256_or_si256(unpack_nibbles16(p + 8), high), lo, hi);
  }
};
struct Q8_0Codes {
  static constexpr int kBytes = sizeof(quant::BlockQ8_0);  // d, qs[32]
  static constexpr int kMinOffset = -1;
  static constexpr float kMinPerScale = 0.0f;
  TM_AVX2 static void codes(const uint8_t* p, __m256i& lo, __m256i& hi) {
    widen_i8(load32(p + 2), lo, hi);
  }
};

template <class F>
constexpr bool kLegacyHasMin = F::kMinOffset >= 0 || F::kMinPerScale != 0.0f;

template <class F>
TM_AVX2 inline float legacy_min(const uint8_t* p, float d) {
  if constexpr (F::kMinOffset >= 0) return load_f16(p + F::kMinOffset);
  return F::kMinPerScale * d;
}

template <class F, class Sink>
TM_AVX2 void read_legacy(const uint8_t* row, int64_t n, Sink& sink) {
  for (int64_t b = 0; b < n / kQK; ++b) {
    const uint8_t* p = row + b * F::kBytes;
    __m256i lo, hi;
    F::codes(p, lo, hi);
    const float d = load_f16(p);
    sink.block(b, lo, hi, d, legacy_min<F>(p, d));
  }
}

// Q4_K / Q5_K: super-block of 8 sub-blocks of 32; weight = d·sc_j·q - dmin·m_j. The 6-bit
// scale is folded into the codes (<= 31 · 63).
template <class Sink>
TM_AVX2 inline void emit_k_sub(Sink& sink, int64_t b, __m256i codes, uint8_t sc, uint8_t m, float d,
                               float dmin) {
  __m256i lo, hi;
  widen_u8(codes, lo, hi);
  const __m256i s = _mm256_set1_epi16(sc);
  sink.block(b, _mm256_mullo_epi16(lo, s), _mm256_mullo_epi16(hi, s), d,
             -dmin * static_cast<float>(m));
}

template <class Sink>
TM_AVX2 void read_q4_k(const uint8_t* row, int64_t n, Sink& sink) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* p = row + i * sizeof(quant::BlockQ4_K);  // d, dmin, scales[12], qs[128]
    const float d = load_f16(p);
    const float dmin = load_f16(p + 2);
    uint8_t sc[8], m[8];
    quant::unpack_k_scales(p + 4, sc, m);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load32(p + 16 + 32 * c);
      const int64_t b = i * 8 + 2 * c;
      emit_k_sub(sink, b, _mm256_and_si256(q, m4), sc[2 * c], m[2 * c], d, dmin);
      emit_k_sub(sink, b + 1, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), sc[2 * c + 1],
                 m[2 * c + 1], d, dmin);
    }
  }
}

template <class Sink>
TM_AVX2 void read_q5_k(const uint8_t* row, int64_t n, Sink& sink) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    // d, dmin, scales[12], qh[32], qs[128]
    const uint8_t* p = row + i * sizeof(quant::BlockQ5_K);
    const float d = load_f16(p);
    const float dmin = load_f16(p + 2);
    uint8_t sc[8], m[8];
    quant::unpack_k_scales(p + 4, sc, m);
    const __m256i qh = load32(p + 16);
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      q5_k_codes(p, c, qh, lo, hi);
      const int64_t b = i * 8 + 2 * c;
      emit_k_sub(sink, b, lo, sc[2 * c], m[2 * c], d, dmin);
      emit_k_sub(sink, b + 1, hi, sc[2 * c + 1], m[2 * c + 1], d, dmin);
    }
  }
}

// Q6_K: the 32-element blocks of one super-block as signed codes times their two 16-element
// sub-scales: (lo, hi) of block j (0..7) into out[j]. In the unpack order each 128-bit lane
// holds elements of one 16-half: lane 0 the first (scale sc[2j]), lane 1 the second.
TM_AVX2 inline void q6_k_blocks(const uint8_t* p, __m256i (*out)[2]) {
  const __m256i bias = _mm256_set1_epi8(32);
  const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192);
  for (int h = 0; h < 2; ++h) {
    __m256i q[4];
    q6_k_half_codes(p, h, q);
    for (int j = 0; j < 4; ++j) {
      const int s = 8 * h + 2 * j;
      const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
      __m256i lo, hi;
      widen_i8(_mm256_sub_epi8(q[j], bias), lo, hi);
      out[4 * h + j][0] = _mm256_mullo_epi16(lo, scale);
      out[4 * h + j][1] = _mm256_mullo_epi16(hi, scale);
    }
  }
}

template <class Sink>
TM_AVX2 void read_q6_k(const uint8_t* row, int64_t n, Sink& sink) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* p = row + i * sizeof(quant::BlockQ6_K);  // ql[128], qh[64], scales[16], d
    const float d = load_f16(p + 208);
    __m256i blocks[8][2];
    q6_k_blocks(p, blocks);
    for (int j = 0; j < 8; ++j) sink.block(i * 8 + j, blocks[j][0], blocks[j][1], d, 0.0f);
  }
}

// ---------------------------------------------------------------------------------------------
// One token row (decode): groups of 8 blocks. Each block's integer dot product stays a vector
// of 8 partial sums until a group is complete; then one horizontal reduction gives the 8 block
// sums in one vector, and the scales of the 8 blocks are applied with single vector ops
// instead of a scalar multiply, a broadcast and an FMA per block.

// Lane k of the result = sum of the lanes of s[k].
TM_AVX2 inline __m256i reduce8(const __m256i* s) {
  const __m256i h01 = _mm256_hadd_epi32(s[0], s[1]);
  const __m256i h23 = _mm256_hadd_epi32(s[2], s[3]);
  const __m256i h45 = _mm256_hadd_epi32(s[4], s[5]);
  const __m256i h67 = _mm256_hadd_epi32(s[6], s[7]);
  const __m256i h03 = _mm256_hadd_epi32(h01, h23);  // 128-bit half j: lanes of half j of s[0..3]
  const __m256i h47 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(h03, h47, 0x20),
                          _mm256_permute2x128_si256(h03, h47, 0x31));
}

TM_AVX2 inline __m256i block_dot(__m256i lo, __m256i hi, const int16_t* x) {
  return _mm256_add_epi32(
      _mm256_madd_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))),
      _mm256_madd_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16))));
}

// 8 f16 values at p, p + stride, ..., p + 7 * stride (byte offsets) as floats.
TM_AVX2 inline __m256 gather_f16(const uint8_t* p, int stride) {
  const __m256i idx =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
  const __m256i words = _mm256_and_si256(
      _mm256_i32gather_epi32(reinterpret_cast<const int*>(p), idx, 1), _mm256_set1_epi32(0xffff));
  // [w0..w3, 0, w4..w7, 0] as 16-bit values, then the two 64-bit halves with data together.
  const __m256i packed =
      _mm256_permute4x64_epi64(_mm256_packus_epi32(words, _mm256_setzero_si256()), 0xd8);
  return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

// The f16 pairs (d, m) at p + k * stride for k < 8 (formats that store m right after d): one
// gather for both.
TM_AVX2 inline void gather_f16_pairs(const uint8_t* p, int stride, __m256& d, __m256& m) {
  const __m256i idx =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
  const __m256i words = _mm256_i32gather_epi32(reinterpret_cast<const int*>(p), idx, 1);
  // Per 128-bit lane [d0..d3, m0..m3 | d4..d7, m4..m7], then d's and m's in separate halves.
  const __m256i packed = _mm256_permute4x64_epi64(
      _mm256_packus_epi32(_mm256_and_si256(words, _mm256_set1_epi32(0xffff)),
                          _mm256_srli_epi32(words, 16)),
      0xd8);
  d = _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
  m = _mm256_cvtph_ps(_mm256_extracti128_si256(packed, 1));
}

// dot(row, x) for one token row of a legacy format.
template <class F>
TM_AVX2 float legacy_row_dot(const uint8_t* row, int64_t n_blocks, const int16_t* xq,
                             const float* xd, const float* xs) {
  __m256 acc = _mm256_setzero_ps();
  __m256 min_acc = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= n_blocks; b += 8) {
    const uint8_t* p = row + b * F::kBytes;
    __m256i s[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      __m256i lo, hi;
      F::codes(p + k * F::kBytes, lo, hi);
      s[k] = block_dot(lo, hi, xq + (b + k) * kQK);
    }
    __m256 d, m;
    if constexpr (F::kMinOffset == 2)
      gather_f16_pairs(p, F::kBytes, d, m);
    else
      d = gather_f16(p, F::kBytes);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(s)), _mm256_mul_ps(d, _mm256_loadu_ps(xd + b)),
                          acc);
    if constexpr (F::kMinOffset == 2)
      min_acc = _mm256_fmadd_ps(m, _mm256_loadu_ps(xs + b), min_acc);
    else if constexpr (F::kMinOffset >= 0)
      min_acc = _mm256_fmadd_ps(gather_f16(p + F::kMinOffset, F::kBytes), _mm256_loadu_ps(xs + b),
                                min_acc);
    else if constexpr (F::kMinPerScale != 0.0f)
      min_acc = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(F::kMinPerScale)),
                                _mm256_loadu_ps(xs + b), min_acc);
  }
  float tail = 0.0f;
  for (; b < n_blocks; ++b) {
    const uint8_t* p = row + b * F::kBytes;
    __m256i lo, hi;
    F::codes(p, lo, hi);
    const float d = load_f16(p);
    tail += static_cast<float>(hsum_epi32(block_dot(lo, hi, xq + b * kQK))) * d * xd[b];
    if constexpr (kLegacyHasMin<F>) tail += legacy_min<F>(p, d) * xs[b];
  }
  return hsum(_mm256_add_ps(acc, min_acc)) + tail;
}

// 8 uint8 values as floats.
TM_AVX2 inline __m256 u8x8_to_ps(const uint8_t* v8) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(v8))));
}

// Q4_K and Q5_K: a super-block of 256 is exactly one group of 8 blocks; the 6-bit scales are
// applied in float with the activation scales.
template <bool kFive>
TM_AVX2 float k_row_dot(const uint8_t* row, int64_t n_super, const int16_t* xq, const float* xd,
                        const float* xs) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  constexpr size_t kBytes = kFive ? sizeof(quant::BlockQ5_K) : sizeof(quant::BlockQ4_K);
  __m256 acc = _mm256_setzero_ps();
  __m256 min_acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n_super; ++i) {
    const uint8_t* p = row + i * kBytes;  // d, dmin, scales[12], (qh[32]), qs[128]
    uint8_t sc[8], m[8];
    quant::unpack_k_scales(p + 4, sc, m);
    const int16_t* x = xq + i * kQK_K;
    __m256i s[8];
    const __m256i qh = kFive ? load32(p + 16) : _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      __m256i codes_lo, codes_hi;
      if constexpr (kFive) {
        q5_k_codes(p, c, qh, codes_lo, codes_hi);
      } else {
        const __m256i q = load32(p + 16 + 32 * c);
        codes_lo = _mm256_and_si256(q, m4);
        codes_hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      }
      __m256i lo, hi;
      widen_u8(codes_lo, lo, hi);
      s[2 * c] = block_dot(lo, hi, x + 64 * c);
      widen_u8(codes_hi, lo, hi);
      s[2 * c + 1] = block_dot(lo, hi, x + 64 * c + 32);
    }
    // Σ_j d·sc_j·dx_j·isum_j  -  dmin · Σ_j m_j·Σx_j
    const __m256 scale = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(load_f16(p)), u8x8_to_ps(sc)),
                                       _mm256_loadu_ps(xd + 8 * i));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(s)), scale, acc);
    min_acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(-load_f16(p + 2)), u8x8_to_ps(m)),
                              _mm256_loadu_ps(xs + 8 * i), min_acc);
  }
  return hsum(_mm256_add_ps(acc, min_acc));
}

// Q6_K, one token: the 6-bit codes are used unsigned (0..63) and the -32 offset becomes
// -32·d·Σ_h sc_h·Σx_h over the 16-element halves h (exact float sums). The 16 sub-scales are
// applied in float to the 16 half-sums, which the first two levels of the hadd tree give for
// free: for 4 blocks, lanes 0-3 hold the first halves and lanes 4-7 the second halves.
TM_AVX2 float q6_k_row_dot(const uint8_t* row, int64_t n_super, const int16_t* xq, const float* xd,
                           const float* xh) {
  // Scale order matching the half-sum lanes of blocks 0-3 and 4-7: [0 2 4 6 | 1 3 5 7] and
  // [8 10 12 14 | 9 11 13 15].
  const __m128i order_lo = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i order_hi =
      _mm_setr_epi8(8, 10, 12, 14, 9, 11, 13, 15, -1, -1, -1, -1, -1, -1, -1, -1);
  __m256 acc = _mm256_setzero_ps();
  __m256 bias_acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n_super; ++i) {
    const uint8_t* p = row + i * sizeof(quant::BlockQ6_K);  // ql[128], qh[64], scales[16], d
    const int16_t* x = xq + i * kQK_K;
    __m256i s[8];
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      q6_k_half_codes(p, h, q);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        __m256i lo, hi;
        widen_u8(q[j], lo, hi);
        s[4 * h + j] = block_dot(lo, hi, x + 128 * h + 32 * j);
      }
    }
    const __m256i h03 =
        _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    const __m256i h47 =
        _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
    const __m128i sc = load16(p + 192);
    const __m256 sc03 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_shuffle_epi8(sc, order_lo)));
    const __m256 sc47 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_shuffle_epi8(sc, order_hi)));
    const __m256 d = _mm256_set1_ps(load_f16(p + 208));
    // Activation scales of blocks 0-3 and 4-7, repeated for both halves.
    const __m256 dx03 = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(xd + 8 * i));
    const __m256 dx47 = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(xd + 8 * i + 4));
    acc =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(h03), _mm256_mul_ps(_mm256_mul_ps(sc03, dx03), d), acc);
    acc =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(h47), _mm256_mul_ps(_mm256_mul_ps(sc47, dx47), d), acc);
    // Bias: Σ_h sc_h · Σx_h in natural half order (sc[0..15] against half sums 0..15).
    const __m256 sc_lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc));
    const __m256 sc_hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8)));
    const __m256 bias = _mm256_fmadd_ps(sc_lo, _mm256_loadu_ps(xh + 16 * i),
                                        _mm256_mul_ps(sc_hi, _mm256_loadu_ps(xh + 16 * i + 8)));
    bias_acc = _mm256_fmadd_ps(bias, _mm256_mul_ps(d, _mm256_set1_ps(-32.0f)), bias_acc);
  }
  return hsum(_mm256_add_ps(acc, bias_acc));
}

// One token row: y[o] for o in [row_begin, row_end).
TM_AVX2 void one_token_rows(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                            const QuantizedActivations& a, float* y, int64_t row_begin,
                            int64_t row_end) {
  const int16_t* xq = a.codes.data();
  const float* xd = a.scales.data();
  const float* xs = a.sums.data();
  const int64_t nb = n_in / kQK;
  auto run = [&](auto&& dot) {
    for (int64_t o = row_begin; o < row_end; ++o)
      y[o] = dot(W + static_cast<size_t>(o) * w_row_bytes);
  };
  switch (type) {
    case DType::Q4_0:
      run([&](const uint8_t* r) { return legacy_row_dot<Q4_0Codes>(r, nb, xq, xd, xs); });
      break;
    case DType::Q4_1:
      run([&](const uint8_t* r) { return legacy_row_dot<Q4_1Codes>(r, nb, xq, xd, xs); });
      break;
    case DType::Q5_0:
      run([&](const uint8_t* r) { return legacy_row_dot<Q5_0Codes>(r, nb, xq, xd, xs); });
      break;
    case DType::Q5_1:
      run([&](const uint8_t* r) { return legacy_row_dot<Q5_1Codes>(r, nb, xq, xd, xs); });
      break;
    case DType::Q8_0:
      run([&](const uint8_t* r) { return legacy_row_dot<Q8_0Codes>(r, nb, xq, xd, xs); });
      break;
    case DType::Q4_K:
      run([&](const uint8_t* r) { return k_row_dot<false>(r, n_in / kQK_K, xq, xd, xs); });
      break;
    case DType::Q5_K:
      run([&](const uint8_t* r) { return k_row_dot<true>(r, n_in / kQK_K, xq, xd, xs); });
      break;
    case DType::Q6_K:
      run([&](const uint8_t* r) {
        return q6_k_row_dot(r, n_in / kQK_K, xq, xd, a.half_sums.data());
      });
      break;
    default:
      break;
  }
}

template <class Sink>
TM_AVX2 void read_row(DType type, const uint8_t* row, int64_t n, Sink& sink) {
  switch (type) {
    case DType::Q4_0:
      read_legacy<Q4_0Codes>(row, n, sink);
      break;
    case DType::Q4_1:
      read_legacy<Q4_1Codes>(row, n, sink);
      break;
    case DType::Q5_0:
      read_legacy<Q5_0Codes>(row, n, sink);
      break;
    case DType::Q5_1:
      read_legacy<Q5_1Codes>(row, n, sink);
      break;
    case DType::Q8_0:
      read_legacy<Q8_0Codes>(row, n, sink);
      break;
    case DType::Q4_K:
      read_q4_k(row, n, sink);
      break;
    case DType::Q5_K:
      read_q5_k(row, n, sink);
      break;
    case DType::Q6_K:
      read_q6_k(row, n, sink);
      break;
    default:
      break;
  }
}

bool has_min(DType type) { return type != DType::Q8_0 && type != DType::Q6_K; }

template <int T, bool kHasMin>
TM_AVX2 void rows_for_tokens(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                             const QuantizedActivations& a, int64_t t0, float* y, int64_t y_stride,
                             int64_t row_begin, int64_t row_end) {
  for (int64_t o = row_begin; o < row_end; ++o) {
    Int16DotSink<T, kHasMin> sink(a);
    sink.codes += t0 * a.n_in;
    sink.scales += t0 * a.n_blocks;
    sink.sums += t0 * a.n_blocks;
    read_row(type, W + static_cast<size_t>(o) * w_row_bytes, n_in, sink);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) y[(t0 + t) * y_stride + o] = sink.result(t);
  }
}

template <bool kHasMin>
TM_AVX2 void dispatch_tokens(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                             const QuantizedActivations& a, int64_t n_tokens, float* y,
                             int64_t y_stride, int64_t row_begin, int64_t row_end) {
  // Up to 4 token rows share each pass over a weight row; more are taken 4 at a time, over
  // strips of kStripRows rows so that the later passes find the strip in L1.
  constexpr int64_t kStripRows = 16;
  for (int64_t strip = row_begin; strip < row_end; strip += kStripRows) {
    const int64_t strip_end = std::min(row_end, strip + kStripRows);
    for_token_groups<4>(0, n_tokens, [&](auto tokens, int64_t t0) {
      rows_for_tokens<decltype(tokens)::value, kHasMin>(type, W, w_row_bytes, n_in, a, t0, y,
                                                        y_stride, strip, strip_end);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Batch-invariant kernels: one numeric definition per format, whatever the token count, the
// rows' position in the call or the thread split. Per weight row and token row:
//   acc = 0;  for each sub-block j in order:  acc = fma(float(I_j), D_j * xd_b(j), acc)
//   mn  = 0;  for each block b in order:      mn  = fma(M_b, xs_b, mn)   (formats with a min)
//   y   = acc + mn  (or acc)
// I_j = Σ code·xq over sub-block j is an exact int32 sum (so its internal order is free), D_j
// the sub-block's weight scale and M_b its additive term (both exact: an f16 times a small
// integer), xd_b / xs_b the activation block's scale and float sum from
// quantize_activations. Every kernel below vectorizes across weight rows (one lane per row)
// and evaluates these same IEEE operations on the same operands in the same order per lane,
// so a row's value cannot depend on its neighbours. Sub-blocks are the 32-element blocks,
// except for Q6_K, whose 16-element halves carry their own scales (kSub = 16); Q4_0 / Q5_0
// use signed codes (q - 8, q - 16), so only Q4_1, Q5_1, Q4_K and Q5_K have a min.
//
// Format traits: codes(row, b, lo, hi) gives block b's codes (int16, unpack order);
// scales(row, c, count, d, m) the D (and M) of sub-blocks 8c .. 8c + count - 1 as lanes.

template <class C>
struct InvLegacy {
  static constexpr int kSub = 32;
  static constexpr bool kHasMin = C::kMinOffset >= 0;
  TM_AVX2 static void codes(const uint8_t* row, int64_t b, __m256i& lo, __m256i& hi) {
    C::codes(row + b * C::kBytes, lo, hi);
    if constexpr (C::kMinPerScale != 0.0f) {
      const __m256i off = _mm256_set1_epi16(static_cast<int16_t>(-C::kMinPerScale));
      lo = _mm256_sub_epi16(lo, off);
      hi = _mm256_sub_epi16(hi, off);
    }
  }
  TM_AVX2 static void scales(const uint8_t* row, int64_t c, int count, __m256& d, __m256& m) {
    const uint8_t* p = row + 8 * c * C::kBytes;
    m = _mm256_setzero_ps();
    if (count == 8) {
      if constexpr (kHasMin) {
        static_assert(C::kMinOffset == 2, "m must follow d");
        gather_f16_pairs(p, C::kBytes, d, m);
      } else {
        d = gather_f16(p, C::kBytes);
      }
      return;
    }
    // The row's last blocks: no gather past its end.
    float dd[8] = {}, mm[8] = {};
    for (int j = 0; j < count; ++j) {
      dd[j] = load_f16(p + j * C::kBytes);
      if constexpr (kHasMin) mm[j] = load_f16(p + j * C::kBytes + C::kMinOffset);
    }
    d = _mm256_loadu_ps(dd);
    m = _mm256_loadu_ps(mm);
  }
};

// Q4_K / Q5_K: sub-block j of super-block i has D = d·sc_j and M = -dmin·m_j (unsigned codes).
template <bool kFive>
struct InvK45 {
  static constexpr int kSub = 32;
  static constexpr bool kHasMin = true;
  static constexpr size_t kBytes = kFive ? sizeof(quant::BlockQ5_K) : sizeof(quant::BlockQ4_K);
  TM_AVX2 static void codes(const uint8_t* row, int64_t b, __m256i& lo, __m256i& hi) {
    const uint8_t* p = row + (b / 8) * kBytes;  // d, dmin, scales[12], (qh[32]), qs[128]
    const int j = static_cast<int>(b % 8);
    __m256i v;
    if constexpr (kFive) {
      __m256i c_lo, c_hi;
      q5_k_codes(p, j / 2, load32(p + 16), c_lo, c_hi);
      v = (j & 1) ? c_hi : c_lo;
    } else {
      const __m256i q = load32(p + 16 + 32 * (j / 2));
      const __m256i m4 = _mm256_set1_epi8(0x0f);
      v = (j & 1) ? _mm256_and_si256(_mm256_srli_epi16(q, 4), m4) : _mm256_and_si256(q, m4);
    }
    widen_u8(v, lo, hi);
  }
  TM_AVX2 static void scales(const uint8_t* row, int64_t c, int, __m256& d, __m256& m) {
    const uint8_t* p = row + c * kBytes;
    uint8_t sc[8], mins[8];
    quant::unpack_k_scales(p + 4, sc, mins);
    d = _mm256_mul_ps(_mm256_set1_ps(load_f16(p)), u8x8_to_ps(sc));
    m = _mm256_mul_ps(_mm256_set1_ps(-load_f16(p + 2)), u8x8_to_ps(mins));
  }
};

// Q6_K: signed codes q - 32; sub-block = 16-element half, D = d·sc (int8). Chunk c is half c % 2
// of super-block c / 2 (its 8 sub-scales).
struct InvQ6K {
  static constexpr int kSub = 16;
  static constexpr bool kHasMin = false;
  static constexpr size_t kBytes = sizeof(quant::BlockQ6_K);  // ql[128], qh[64], scales[16], d
  TM_AVX2 static void codes(const uint8_t* row, int64_t b, __m256i& lo, __m256i& hi) {
    const uint8_t* p = row + (b / 8) * kBytes;
    const int k = static_cast<int>(b % 8);
    __m256i q[4];
    q6_k_half_codes(p, k / 4, q);
    widen_i8(_mm256_sub_epi8(q[k % 4], _mm256_set1_epi8(32)), lo, hi);
  }
  TM_AVX2 static void scales(const uint8_t* row, int64_t c, int, __m256& d, __m256& m) {
    const uint8_t* p = row + (c / 2) * kBytes;
    const __m128i sc = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 192 + 8 * (c % 2)));
    d = _mm256_mul_ps(_mm256_set1_ps(load_f16(p + 208)),
                      _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
    m = _mm256_setzero_ps();
  }
};

// D and M of 8 rows for chunk c, transposed: d[j] / m[j] lane r = sub-block 8c + j of row r.
template <class F>
TM_AVX2 inline void chunk_scales8(const uint8_t* const* rows, int64_t c, int count, __m256* d,
                                  __m256* m) {
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) F::scales(rows[r], c, count, d[r], m[r]);
  transpose8(d);
  if constexpr (F::kHasMin) transpose8(m);
}

// Q6_K: the two 16-element half sums of each of 8 block dot vectors, lanes = rows. In the
// unpack order 128-bit lane 0 holds the first half's terms, lane 1 the second's.
TM_AVX2 inline void reduce8_halves(const __m256i* s, __m256i& h0, __m256i& h1) {
  const __m256i h03 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
  const __m256i h47 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
  h0 = _mm256_permute2x128_si256(h03, h47, 0x20);
  h1 = _mm256_permute2x128_si256(h03, h47, 0x31);
}

// One token, 8 rows (lanes), for decode: no packing, the codes go straight into vpmaddwd.
template <class F>
TM_AVX2 __m256 inv_rows8_one(const uint8_t* const* rows, int64_t n_in, const int16_t* xq,
                             const float* xd, const float* xs) {
  __m256 acc = _mm256_setzero_ps();
  __m256 mn = _mm256_setzero_ps();
  const int64_t n_sub = n_in / F::kSub;
  for (int64_t c0 = 0; c0 < n_sub; c0 += 8) {
    const int count = static_cast<int>(std::min<int64_t>(8, n_sub - c0));
    __m256 d[8], m[8];
    chunk_scales8<F>(rows, c0 / 8, count, d, m);
    __m256i s[8];
    if constexpr (F::kSub == 32) {
      for (int j = 0; j < count; ++j) {
        const int64_t b = c0 + j;
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) {
          __m256i lo, hi;
          F::codes(rows[r], b, lo, hi);
          s[r] = block_dot(lo, hi, xq + b * kQK);
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(s)),
                              _mm256_mul_ps(d[j], _mm256_set1_ps(xd[b])), acc);
        if constexpr (F::kHasMin) mn = _mm256_fmadd_ps(m[j], _mm256_set1_ps(xs[b]), mn);
      }
    } else {
      // Q6_K: chunk = one half of a super-block, 4 blocks whose codes come from the same bytes:
      // decode them together per row (q6_k_half_codes), then reduce block by block.
      __m256i s4[4][8];
      const int64_t b0 = c0 / 2;
      const __m256i bias = _mm256_set1_epi8(32);
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        __m256i q[4];
        q6_k_half_codes(rows[r] + (b0 / 8) * F::kBytes, static_cast<int>(b0 % 8) / 4, q);
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          __m256i lo, hi;
          widen_i8(_mm256_sub_epi8(q[k], bias), lo, hi);
          s4[k][r] = block_dot(lo, hi, xq + (b0 + k) * kQK);
        }
      }
      for (int k = 0; k < count / 2; ++k) {
        const int64_t b = b0 + k;
        for (int r = 0; r < 8; ++r) s[r] = s4[k][r];
        __m256i h0, h1;
        reduce8_halves(s, h0, h1);
        const __m256 dx = _mm256_set1_ps(xd[b]);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h0), _mm256_mul_ps(d[2 * k], dx), acc);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h1), _mm256_mul_ps(d[2 * k + 1], dx), acc);
      }
    }
  }
  if constexpr (F::kHasMin) return _mm256_add_ps(acc, mn);
  return acc;
}

// Packed panel of 16 rows for the multi-token kernels: codes as int32 pairs [n_in/2][16 rows]
// (pair p of block b = int32 p of its 32 codes in the unpack order, matching the activations),
// D [n_sub][16] and M [n_blocks][16] (lanes = rows).
struct Panel16 {
  int32_t* codes;
  float* d;
  float* m;
};

template <class F>
TM_AVX2 void pack_panel16(const uint8_t* const* rows, int64_t n_in, const Panel16& out) {
  const int64_t n_sub = n_in / F::kSub;
  const int64_t nb = n_in / kQK;
  for (int half = 0; half < 2; ++half) {
    const uint8_t* const* r8 = rows + 8 * half;
    for (int64_t c0 = 0; c0 < n_sub; c0 += 8) {
      const int count = static_cast<int>(std::min<int64_t>(8, n_sub - c0));
      __m256 d[8], m[8];
      chunk_scales8<F>(r8, c0 / 8, count, d, m);
      for (int j = 0; j < count; ++j) {
        _mm256_store_ps(out.d + (c0 + j) * 16 + 8 * half, d[j]);
        if constexpr (F::kHasMin) _mm256_store_ps(out.m + (c0 + j) * 16 + 8 * half, m[j]);
      }
    }
    for (int64_t b = 0; b < nb; ++b) {
      __m256 lo[8], hi[8];
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        __m256i l, h;
        F::codes(r8[r], b, l, h);
        lo[r] = _mm256_castsi256_ps(l);
        hi[r] = _mm256_castsi256_ps(h);
      }
      transpose8(lo);
      transpose8(hi);
      float* dst = reinterpret_cast<float*>(out.codes + b * 16 * 16 + 8 * half);
#pragma GCC unroll 8
      for (int p = 0; p < 8; ++p) {
        _mm256_store_ps(dst + p * 16, lo[p]);
        _mm256_store_ps(dst + (p + 8) * 16, hi[p]);
      }
    }
  }
}

// The pairs of a block in the order the kernels visit them: for Q6_K the first 8 are the first
// 16-element half ([0-3] of lo = elements 0-7, [0-3] of hi = 8-15), the last 8 the second.
constexpr int kPairOrder[16] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};

inline int32_t load_pair(const int16_t* x) {
  int32_t v;
  std::memcpy(&v, x, sizeof v);
  return v;
}

// AVX2 multi-token kernel: 8 rows (one half of a panel) x T tokens; y[t][0..valid).
template <int T, class F>
TM_AVX2 void panel8_tokens(const Panel16& pn, int half, int64_t n_in, const QuantizedActivations& a,
                           int64_t t0, float* y, int64_t y_stride, int valid) {
  const int64_t nb = n_in / kQK;
  __m256 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const int16_t* xq = a.codes.data() + t0 * n_in;
  const float* xd = a.scales.data() + t0 * a.n_blocks;
  for (int64_t b = 0; b < nb; ++b) {
    const int32_t* wb = pn.codes + b * 256 + 8 * half;
    const int16_t* xb = xq + b * kQK;
    constexpr int kParts = F::kSub == 16 ? 2 : 1;
#pragma GCC unroll 2
    for (int part = 0; part < kParts; ++part) {
      __m256i ia[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) ia[t] = _mm256_setzero_si256();
#pragma GCC unroll 16
      for (int i = 0; i < 16 / kParts; ++i) {
        const int p = kPairOrder[part * (16 / kParts) + i];
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + p * 16));
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
          ia[t] = _mm256_add_epi32(
              ia[t], _mm256_madd_epi16(w, _mm256_set1_epi32(load_pair(xb + t * n_in + 2 * p))));
      }
      const __m256 d = _mm256_load_ps(pn.d + (b * kParts + part) * 16 + 8 * half);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[t]),
                                 _mm256_mul_ps(d, _mm256_set1_ps(xd[t * a.n_blocks + b])), acc[t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    if constexpr (F::kHasMin) {
      const float* xs = a.sums.data() + (t0 + t) * a.n_blocks;
      __m256 mn = _mm256_setzero_ps();
      for (int64_t b = 0; b < nb; ++b)
        mn = _mm256_fmadd_ps(_mm256_load_ps(pn.m + b * 16 + 8 * half), _mm256_set1_ps(xs[b]), mn);
      acc[t] = _mm256_add_ps(acc[t], mn);
    }
    float out[8];
    _mm256_storeu_ps(out, acc[t]);
    std::memcpy(y + t * y_stride, out, static_cast<size_t>(valid) * sizeof(float));
  }
}

}  // namespace

namespace {

// AVX-512 VNNI variant of panel8_tokens: all 16 rows of the panel in one register, vpdpwssd
// for the multiply-add. Same operations per lane, so bit-identical to the AVX2 kernel.
template <int T, class F>
TM_AVX512 void panel16_tokens_vnni(const Panel16& pn, int64_t n_in, const QuantizedActivations& a,
                                   int64_t t0, float* y, int64_t y_stride, int valid) {
  const int64_t nb = n_in / kQK;
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const int16_t* xq = a.codes.data() + t0 * n_in;
  const float* xd = a.scales.data() + t0 * a.n_blocks;
  for (int64_t b = 0; b < nb; ++b) {
    const int32_t* wb = pn.codes + b * 256;
    const int16_t* xb = xq + b * kQK;
    constexpr int kParts = F::kSub == 16 ? 2 : 1;
#pragma GCC unroll 2
    for (int part = 0; part < kParts; ++part) {
      __m512i ia[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) ia[t] = _mm512_setzero_si512();
#pragma GCC unroll 16
      for (int i = 0; i < 16 / kParts; ++i) {
        const int p = kPairOrder[part * (16 / kParts) + i];
        const __m512i w = _mm512_load_si512(wb + p * 16);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
          ia[t] =
              _mm512_dpwssd_epi32(ia[t], w, _mm512_set1_epi32(load_pair(xb + t * n_in + 2 * p)));
      }
      const __m512 d = _mm512_load_ps(pn.d + (b * kParts + part) * 16);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        // (maskz: the plain conversion trips GCC 12's maybe-uninitialized on its undefined source.)
        acc[t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, ia[t]),
                                 _mm512_mul_ps(d, _mm512_set1_ps(xd[t * a.n_blocks + b])), acc[t]);
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    if constexpr (F::kHasMin) {
      const float* xs = a.sums.data() + (t0 + t) * a.n_blocks;
      __m512 mn = _mm512_setzero_ps();
      for (int64_t b = 0; b < nb; ++b)
        mn = _mm512_fmadd_ps(_mm512_load_ps(pn.m + b * 16), _mm512_set1_ps(xs[b]), mn);
      acc[t] = _mm512_add_ps(acc[t], mn);
    }
    _mm512_mask_storeu_ps(y + t * y_stride, mask, acc[t]);
  }
}

std::atomic<bool> g_vnni_allowed{true};

// A per-thread buffer of at least n elements of T, 64-byte aligned, grown once to the largest
// size seen (no allocation on the per-token path after warm-up).
template <class T, int kTag>
T* aligned_buffer(size_t n) {
  thread_local std::vector<T> buf;
  const size_t need = n + 64 / sizeof(T);
  if (buf.size() < need) buf.resize(need);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + (64 - addr % 64) % 64 / sizeof(T);
}

template <class F>
TM_AVX2 void inv_rows(const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                      const QuantizedActivations& a, int64_t n_tokens, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end, bool vnni) {
  auto row_ptrs = [&](int64_t o0, int n, const uint8_t** rows) {
    // Rows past the range repeat the last one (their lanes are computed and dropped).
    for (int r = 0; r < n; ++r)
      rows[r] = W + static_cast<size_t>(std::min(o0 + r, row_end - 1)) * w_row_bytes;
  };
  if (n_tokens == 1) {
    for (int64_t o0 = row_begin; o0 < row_end; o0 += 8) {
      const uint8_t* rows[8];
      row_ptrs(o0, 8, rows);
      const __m256 v = inv_rows8_one<F>(rows, n_in, a.codes.data(), a.scales.data(), a.sums.data());
      float out[8];
      _mm256_storeu_ps(out, v);
      std::memcpy(y + o0, out,
                  static_cast<size_t>(std::min<int64_t>(8, row_end - o0)) * sizeof(float));
    }
    return;
  }
  const int64_t n_sub = n_in / F::kSub;
  Panel16 pn;
  pn.codes = aligned_buffer<int32_t, 0>(static_cast<size_t>(n_in / 2 * 16));
  pn.d = aligned_buffer<float, 1>(static_cast<size_t>(n_sub * 16));
  pn.m = aligned_buffer<float, 2>(static_cast<size_t>(n_in / kQK * 16));
  // Token chunks whose int16 activations (2·n_in bytes a token) stay in L2 (~256 KiB) while
  // every panel of the range runs over them; each panel is packed once per chunk.
  const int64_t chunk = std::max<int64_t>(16, 262144 / (2 * n_in));
  for (int64_t c0 = 0; c0 < n_tokens; c0 += chunk) {
    const int64_t c1 = std::min(n_tokens, c0 + chunk);
    for (int64_t o0 = row_begin; o0 < row_end; o0 += 16) {
      const uint8_t* rows[16];
      row_ptrs(o0, 16, rows);
      pack_panel16<F>(rows, n_in, pn);
      const int valid = static_cast<int>(std::min<int64_t>(16, row_end - o0));
      if (vnni) {
        for_token_groups<8>(c0, c1, [&](auto tokens, int64_t t) {
          panel16_tokens_vnni<decltype(tokens)::value, F>(pn, n_in, a, t, y + t * y_stride + o0,
                                                          y_stride, valid);
        });
        continue;
      }
      for (int half = 0; half < 2 && 8 * half < valid; ++half) {
        const int v8 = std::min(8, valid - 8 * half);
        for_token_groups<4>(c0, c1, [&](auto tokens, int64_t t) {
          panel8_tokens<decltype(tokens)::value, F>(pn, half, n_in, a, t,
                                                    y + t * y_stride + o0 + 8 * half, y_stride, v8);
        });
      }
    }
  }
}

}  // namespace

bool int16_vnni_enabled() {
  return g_vnni_allowed.load(std::memory_order_relaxed) && cpu_has_avx512_vnni();
}

void set_int16_vnni(bool on) { g_vnni_allowed.store(on, std::memory_order_relaxed); }

void matmul_rows_int16_invariant(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                                 const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                                 int64_t row_begin, int64_t row_end) {
  QuantizedActivations& a = thread_activations();
  quantize_activations(x, n_tokens, n_in, a);
  const bool vnni = int16_vnni_enabled();
  auto run = [&](auto traits) {
    using F = decltype(traits);
    inv_rows<F>(W, w_row_bytes, n_in, a, n_tokens, y, y_stride, row_begin, row_end, vnni);
  };
  switch (type) {
    case DType::Q4_0:
      run(InvLegacy<Q4_0Codes>{});
      break;
    case DType::Q4_1:
      run(InvLegacy<Q4_1Codes>{});
      break;
    case DType::Q5_0:
      run(InvLegacy<Q5_0Codes>{});
      break;
    case DType::Q5_1:
      run(InvLegacy<Q5_1Codes>{});
      break;
    case DType::Q8_0:
      run(InvLegacy<Q8_0Codes>{});
      break;
    case DType::Q4_K:
      run(InvK45<false>{});
      break;
    case DType::Q5_K:
      run(InvK45<true>{});
      break;
    case DType::Q6_K:
      run(InvQ6K{});
      break;
    default:
      break;
  }
}

bool int16_supports(DType type) {
  switch (type) {
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void matmul_rows_int16(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                       const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                       int64_t row_begin, int64_t row_end) {
  QuantizedActivations& a = thread_activations();
  quantize_activations(x, n_tokens, n_in, a);
  if (n_tokens == 1) {
    one_token_rows(type, W, w_row_bytes, n_in, a, y, row_begin, row_end);
    return;
  }
  if (has_min(type))
    dispatch_tokens<true>(type, W, w_row_bytes, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
  else
    dispatch_tokens<false>(type, W, w_row_bytes, n_in, a, n_tokens, y, y_stride, row_begin,
                           row_end);
}

}  // namespace tmill::cpu::detail
