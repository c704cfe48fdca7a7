// What both packed code layouts (int16 pairs: matmul_packed.cpp; int8 quads:
// matmul_packed_int8.cpp) share above their integer sums: per 16-row panel and token, the float
// steps of the batch-invariant definition, the walk over panels and token groups, and the
// dispatch by format. A layout supplies only its exact int32 sums, as a `Codes` object with:
//   a                           its activations (codes, scales, sums, n_blocks);
//   kCodeBytes                  bytes per activation code (sizes the token chunks);
//   block_sums<kType, T>(area, masks, t0, b, n_in, sum)
//                               Σ (code - offset)·x over block b (a legacy block, or a Q4_K
//                               sub-block with kType = Q4_1) for tokens t0 .. t0 + T, from a
//                               nibble area (masks: Q5_0's fifth bits) or a byte area (Q8_0);
//   six_bit_sums<T>(area, t0, b, n_in, first, second)
//                               Q6_K's Σ (code - 32)·x over block b by half (elements 0-15,
//                               16-31).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/matmul_packed.h"
#include "backend/cpu/packed_records.h"
#include "core/check.h"
#include "core/dtype.h"

namespace tmill::cpu::detail::packed {

// Tokens per kernel call: the kernels keep this many tokens' accumulators in registers.
inline constexpr int kTokenGroup = 8;

// 16-lane loads of a record's per-row scales. 16 f16 values as floats (exact). (maskz here and
// below: the plain conversions trip GCC 12's maybe-uninitialized on their undefined source.)
TM_AVX512 inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
TM_AVX512 inline __m512 load_u8x16(const uint8_t* p) {
  return _mm512_maskz_cvtepi32_ps(
      0xffff,
      _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
TM_AVX512 inline __m512 load_i8x16(const uint8_t* p) {
  return _mm512_maskz_cvtepi32_ps(
      0xffff,
      _mm512_maskz_cvtepi8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
TM_AVX512 inline __m512 int_to_float(__m512i v) { return _mm512_maskz_cvtepi32_ps(0xffff, v); }
// A weight scale times the activation block's scale: D * xd.
TM_AVX512 inline __m512 scaled(__m512 d, float xd) { return _mm512_mul_ps(d, _mm512_set1_ps(xd)); }

// A Q4_K record's per-row scales: sub-block j's weight scale D_j = d·sc_j and min weight
// M_j = -dmin·m_j (-dmin: a sign flip, as the unpacked kernels' unary minus).
struct Q4KScales {
  __m512 d, neg_dmin;
};
TM_AVX512 inline Q4KScales q4_k_scales(const uint8_t* rec) {
  return {load_f16x16(rec), _mm512_castsi512_ps(_mm512_xor_si512(
                                _mm512_castps_si512(load_f16x16(rec + kF16Bytes)),
                                _mm512_set1_epi32(static_cast<int32_t>(0x80000000u))))};
}
TM_AVX512 inline __m512 q4_k_sub_scale(const Q4KScales& s, const uint8_t* rec, int j) {
  return _mm512_mul_ps(s.d, load_u8x16(rec + 2 * kF16Bytes + kPanelRows * j));
}
TM_AVX512 inline __m512 q4_k_sub_min(const Q4KScales& s, const uint8_t* rec, int j) {
  return _mm512_mul_ps(s.neg_dmin, load_u8x16(rec + 2 * kF16Bytes + kPanelRows * (8 + j)));
}

// How far ahead of a record one pass over a panel prefetches (bytes; 0: not at all), from the
// caller's WeightPrefetch.
struct StreamAhead {
  int64_t near = 0;  // into L1
  int64_t far = 0;   // into L2
};
inline StreamAhead stream_ahead(WeightPrefetch prefetch) {
  switch (prefetch) {
    case WeightPrefetch::kOff:
      return {};
    case WeightPrefetch::kNear:
      return {kNearPrefetchBytes, 0};
    case WeightPrefetch::kFar:
      return {kNearPrefetchBytes, kFarPrefetchBytes};
  }
  return {};
}

// Every cache line of the kBytes at p, for reading (prefetches never fault, so p may run past
// the panels). kLocality as __builtin_prefetch's: 3 = into L1 (prefetcht0), 2 = into L2
// (prefetcht1).
template <size_t kBytes, int kLocality>
inline void prefetch_lines(const uint8_t* p) {
  for (size_t off = 0; off < kBytes; off += 64) __builtin_prefetch(p + off, 0, kLocality);
}

// C independent accumulation chains per token (they hide the dot-product instructions' latency
// when few tokens share the weights; integer sums, so C changes no result).
template <int C, int T>
TM_AVX512 inline void zero_chains(__m512i (&ic)[C][T]) {
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) ic[c][t] = _mm512_setzero_si512();
}

template <int C, int T>
TM_AVX512 inline void add_chains(const __m512i (&ic)[C][T], __m512i* sum) {
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    sum[t] = ic[0][t];
#pragma GCC unroll 4
    for (int c = 1; c < C; ++c) sum[t] = _mm512_add_epi32(sum[t], ic[c][t]);
  }
}

// One panel x T tokens: y[t][0..16). Per row (lane) and token: acc = fma(float(I_j), D_j * xd_b,
// acc) over sub-blocks j in order, mn = fma(M_b, xs_b, mn) over blocks in order for formats with
// a min, y = acc + mn (matmul_int16.cpp's batch-invariant definition; the int8 layout's is
// matmul_rows_int8_reference).
template <class Codes, DType kType, int T>
TM_AVX512 void panel_tokens(const Codes& codes, const uint8_t* panel, int64_t n_in, int64_t t0,
                            float* y, int64_t y_stride, StreamAhead ahead) {
  constexpr size_t kRecord = record_bytes(kType);
  constexpr bool kHasMin = kType == DType::Q4_1 || kType == DType::Q4_K;
  const int64_t nb = codes.a.n_blocks;
  const int64_t n_units = n_in / unit_elems(kType);
  const float* xd = codes.a.scales.data() + t0 * nb;
  const float* xs = codes.a.sums.data() + t0 * nb;
  __m512 acc[T], mn[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = mn[t] = _mm512_setzero_ps();
  for (int64_t u = 0; u < n_units; ++u) {
    const uint8_t* rec = panel + static_cast<size_t>(u) * kRecord;
    const uint8_t* area = rec + codes_offset(kType);
    if (ahead.near > 0) prefetch_lines<kRecord, 3>(rec + ahead.near);
    if (ahead.far > 0) prefetch_lines<kRecord, 2>(rec + ahead.far);
    if constexpr (kType == DType::Q4_K) {
      const Q4KScales scales = q4_k_scales(rec);
      for (int j = 0; j < 8; ++j) {
        const int64_t b = 8 * u + j;
        const __m512 dj = q4_k_sub_scale(scales, rec, j);
        const __m512 mj = q4_k_sub_min(scales, rec, j);
        __m512i sum[T];
        codes.template block_sums<DType::Q4_1, T>(area + kNibbleBytes * j, nullptr, t0, b, n_in,
                                                  sum);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          acc[t] = _mm512_fmadd_ps(int_to_float(sum[t]), scaled(dj, xd[t * nb + b]), acc[t]);
          mn[t] = _mm512_fmadd_ps(mj, _mm512_set1_ps(xs[t * nb + b]), mn[t]);
        }
      }
    } else if constexpr (kType == DType::Q6_K) {
      const __m512 d = load_f16x16(rec);
      for (int j = 0; j < 8; ++j) {
        const int64_t b = 8 * u + j;
        const __m512 d0 = _mm512_mul_ps(d, load_i8x16(rec + kF16Bytes + kPanelRows * (2 * j)));
        const __m512 d1 = _mm512_mul_ps(d, load_i8x16(rec + kF16Bytes + kPanelRows * (2 * j + 1)));
        __m512i first[T], second[T];
        codes.template six_bit_sums<T>(area + kSixBitBytes * static_cast<size_t>(j), t0, b, n_in,
                                       first, second);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          acc[t] = _mm512_fmadd_ps(int_to_float(first[t]), scaled(d0, xd[t * nb + b]), acc[t]);
          acc[t] = _mm512_fmadd_ps(int_to_float(second[t]), scaled(d1, xd[t * nb + b]), acc[t]);
        }
      }
    } else {
      const int64_t b = u;
      __m512i sum[T];
      codes.template block_sums<kType, T>(area, rec + kF16Bytes, t0, b, n_in, sum);
      const __m512 d = load_f16x16(rec);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(int_to_float(sum[t]), scaled(d, xd[t * nb + b]), acc[t]);
      if constexpr (kType == DType::Q4_1) {
        const __m512 m = load_f16x16(rec + kF16Bytes);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
          mn[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(xs[t * nb + b]), mn[t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    if constexpr (kHasMin) acc[t] = _mm512_add_ps(acc[t], mn[t]);
    _mm512_storeu_ps(y + t * y_stride, acc[t]);
  }
}

template <class Codes, DType kType>
TM_AVX512 void panel_rows(const Codes& codes, const uint8_t* packed, int64_t n_in, int64_t t_begin,
                          int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                          int64_t row_end, WeightPrefetch prefetch) {
  const StreamAhead ahead = stream_ahead(prefetch);
  const size_t panel_bytes = static_cast<size_t>(n_in / unit_elems(kType)) * record_bytes(kType);
  // Token chunks whose activation codes stay in L2 while every panel of the range runs over
  // them; whole groups of kTokenGroup tokens, so the groups start where the int16 layout's
  // grouped codes do (matmul_packed.cpp, group_tokens).
  const int64_t chunk =
      std::max<int64_t>(16, 262144 / (Codes::kCodeBytes * n_in)) / kTokenGroup * kTokenGroup;
  for (int64_t c0 = t_begin; c0 < n_tokens; c0 += chunk) {
    const int64_t c1 = std::min(n_tokens, c0 + chunk);
    for (int64_t o0 = row_begin; o0 < row_end; o0 += kPanelRows) {
      const uint8_t* panel = packed + static_cast<size_t>(o0 / kPanelRows) * panel_bytes;
      // The chunk's first group brings the panel in; the others find it in cache.
      for_token_groups<kTokenGroup>(c0, c1, [&](auto tokens, int64_t t) {
        panel_tokens<Codes, kType, decltype(tokens)::value>(codes, panel, n_in, t,
                                                            y + t * y_stride + o0, y_stride,
                                                            t == c0 ? ahead : StreamAhead{});
      });
    }
  }
}

// y[t][o] for tokens t in [t_begin, n_tokens) (t_begin a multiple of kTokenGroup) and rows o in
// [row_begin, row_end) from a tensor packed in Codes' layout.
template <class Codes>
void packed_rows(DType type, const Codes& codes, const uint8_t* packed, int64_t n_in,
                 int64_t t_begin, int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                 int64_t row_end, WeightPrefetch prefetch) {
  switch (type) {
    case DType::Q4_0:
      return panel_rows<Codes, DType::Q4_0>(codes, packed, n_in, t_begin, n_tokens, y, y_stride,
                                            row_begin, row_end, prefetch);
    case DType::Q4_1:
      return panel_rows<Codes, DType::Q4_1>(codes, packed, n_in, t_begin, n_tokens, y, y_stride,
                                            row_begin, row_end, prefetch);
    case DType::Q5_0:
      return panel_rows<Codes, DType::Q5_0>(codes, packed, n_in, t_begin, n_tokens, y, y_stride,
                                            row_begin, row_end, prefetch);
    case DType::Q8_0:
      return panel_rows<Codes, DType::Q8_0>(codes, packed, n_in, t_begin, n_tokens, y, y_stride,
                                            row_begin, row_end, prefetch);
    case DType::Q4_K:
      return panel_rows<Codes, DType::Q4_K>(codes, packed, n_in, t_begin, n_tokens, y, y_stride,
                                            row_begin, row_end, prefetch);
    case DType::Q6_K:
      return panel_rows<Codes, DType::Q6_K>(codes, packed, n_in, t_begin, n_tokens, y, y_stride,
                                            row_begin, row_end, prefetch);
    default:
      TM_CHECK(false, "matmul_rows_packed: unsupported format");
  }
}

}  // namespace tmill::cpu::detail::packed
