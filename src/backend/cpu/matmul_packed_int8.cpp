// Int8 packed-panel kernels and their scalar definition (see matmul_packed_int8.h).
#include "backend/cpu/matmul_packed_int8.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/int8_activations.h"
#include "backend/cpu/matmul_avx2.h"
#include "core/check.h"
#include "core/half.h"

namespace tmill::cpu::detail {
namespace packed {
namespace {

// ---- packing (scalar; once per weight at load) ----

void put_nibbles(uint8_t* area, int r, const uint8_t* c) {
  for (int v = 0; v < 4; ++v)
    for (int j = 0; j < 4; ++j)
      area[64 * v + 4 * r + j] =
          static_cast<uint8_t>((c[4 * v + j] & 15) | (c[16 + 4 * v + j] & 15) << 4);
}

void put_high_bits(uint8_t* masks, int r, const uint8_t* c) {
  for (int v = 0; v < 4; ++v)
    for (int h = 0; h < 2; ++h) {
      uint64_t m;
      std::memcpy(&m, masks + 16 * v + 8 * h, sizeof m);
      for (int j = 0; j < 4; ++j)
        m |= static_cast<uint64_t>(c[16 * h + 4 * v + j] >> 4 & 1) << (4 * r + j);
      std::memcpy(masks + 16 * v + 8 * h, &m, sizeof m);
    }
}

void put_bytes(uint8_t* area, int r, const uint8_t* c) {
  for (int v = 0; v < 8; ++v)
    for (int j = 0; j < 4; ++j)
      area[64 * v + 4 * r + j] = static_cast<uint8_t>(c[4 * v + j] ^ 0x80);
}

void put_six_bits(uint8_t* area, int r, const uint8_t* c) {
  put_nibbles(area, r, c);  // the low 4 bits
  for (int u = 0; u < 2; ++u)
    for (int j = 0; j < 4; ++j) {
      uint8_t bits = 0;
      for (int k = 0; k < 4; ++k)
        bits = static_cast<uint8_t>(bits | (c[16 * u + 4 * k + j] >> 4 & 3) << (2 * k));
      area[kNibbleBytes + 64 * u + 4 * r + j] = bits;
    }
}

// ---- kernels ----

// Activations (x[0..3]) as one int32, in all 16 lanes.
TM_AVX512 inline __m512i broadcast_quad(const int8_t* x) {
  int32_t v;
  std::memcpy(&v, x, sizeof v);
  return _mm512_set1_epi32(v);
}

// Independent accumulation chains per token: enough to hide vpdpbusd's latency when few tokens
// share the weights. Integer sums, so the count changes nothing in the results.
template <int T>
constexpr int kChains = T == 1   ? 4
                        : T <= 4 ? 2
                                 : 1;

template <int C, int T>
TM_AVX512 inline void add_chains(__m512i (&ic)[C][T], __m512i* sum) {
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    sum[t] = ic[0][t];
#pragma GCC unroll 4
    for (int c = 1; c < C; ++c) sum[t] = _mm512_add_epi32(sum[t], ic[c][t]);
  }
}

// Σ code·x over one block of 32 for T tokens (x: token 0's block, token t at + t * n_in) from a
// nibble area, the codes as stored (0..15; Q5_0 0..31 with bit 4 from `masks`): no offsets.
template <DType kType, int T>
TM_AVX512 inline void nibble_sums(const uint8_t* codes, const uint8_t* masks, const int8_t* x,
                                  int64_t n_in, __m512i* sum) {
  constexpr int C = kChains<T>;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512i ic[C][T];
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) ic[c][t] = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    const __m512i w = _mm512_loadu_si512(codes + 64 * v);
    __m512i lo = _mm512_and_si512(w, low4);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), low4);
    if constexpr (kType == DType::Q5_0) {
      uint64_t high[2];
      std::memcpy(high, masks + 16 * v, sizeof high);
      const __m512i sixteen = _mm512_set1_epi8(16);
      lo = _mm512_mask_add_epi8(lo, _cvtu64_mask64(high[0]), lo, sixteen);
      hi = _mm512_mask_add_epi8(hi, _cvtu64_mask64(high[1]), hi, sixteen);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      __m512i& a = ic[(2 * v) % C][t];
      a = _mm512_dpbusd_epi32(a, lo, broadcast_quad(x + t * n_in + 4 * v));
      __m512i& b = ic[(2 * v + 1) % C][t];
      b = _mm512_dpbusd_epi32(b, hi, broadcast_quad(x + t * n_in + 16 + 4 * v));
    }
  }
  add_chains<C, T>(ic, sum);
}

// The same from a byte area (Q8_0, codes + 128): no offset.
template <int T>
TM_AVX512 inline void byte_sums(const uint8_t* codes, const int8_t* x, int64_t n_in, __m512i* sum) {
  constexpr int C = kChains<T>;
  __m512i ic[C][T];
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) ic[c][t] = _mm512_setzero_si512();
#pragma GCC unroll 8
  for (int v = 0; v < 8; ++v) {
    const __m512i w = _mm512_loadu_si512(codes + 64 * v);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      ic[v % C][t] = _mm512_dpbusd_epi32(ic[v % C][t], w, broadcast_quad(x + t * n_in + 4 * v));
  }
  add_chains<C, T>(ic, sum);
}

// Bits 4-5 of every byte: the high bits of vector V's codes, from a high-bits vector (they sit
// at bits 2V, 2V + 1; 16-bit shifts, as no bit the 0x30 mask keeps crosses a byte).
template <int V>
TM_AVX512 inline __m512i high_bits_of(__m512i h) {
  const __m512i mask = _mm512_set1_epi8(0x30);
  if constexpr (V == 0) return _mm512_and_si512(_mm512_slli_epi16(h, 4), mask);
  if constexpr (V == 1) return _mm512_and_si512(_mm512_slli_epi16(h, 2), mask);
  if constexpr (V == 2) return _mm512_and_si512(h, mask);
  return _mm512_and_si512(_mm512_srli_epi16(h, 2), mask);
}

// Q6_K, vector V of a six-bit area: codes of elements 4V.. (into lo chains) and 16 + 4V.. (hi).
template <int V, int C, int T>
TM_AVX512 inline void six_bit_step(const uint8_t* codes, __m512i h0, __m512i h1, const int8_t* x,
                                   int64_t n_in, __m512i (&lo_ic)[C][T], __m512i (&hi_ic)[C][T]) {
  constexpr int kLowOrHigh = 0xec;  // _mm512_ternarylogic_epi32 immediate for (a & c) | b
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i n = _mm512_loadu_si512(codes + 64 * V);
  const __m512i lo = _mm512_ternarylogic_epi32(n, high_bits_of<V>(h0), low4, kLowOrHigh);
  const __m512i hi =
      _mm512_ternarylogic_epi32(_mm512_srli_epi16(n, 4), high_bits_of<V>(h1), low4, kLowOrHigh);
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    lo_ic[V % C][t] =
        _mm512_dpbusd_epi32(lo_ic[V % C][t], lo, broadcast_quad(x + t * n_in + 4 * V));
    hi_ic[V % C][t] =
        _mm512_dpbusd_epi32(hi_ic[V % C][t], hi, broadcast_quad(x + t * n_in + 16 + 4 * V));
  }
}

// Q6_K's sums over one block of 32 by half, codes 0..63 (no offset): first[t] elements 0-15,
// second[t] elements 16-31.
template <int T>
TM_AVX512 inline void six_bit_sums(const uint8_t* codes, const int8_t* x, int64_t n_in,
                                   __m512i* first, __m512i* second) {
  constexpr int C = T == 1 ? 2 : 1;  // chains per half
  __m512i lo_ic[C][T], hi_ic[C][T];
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) lo_ic[c][t] = hi_ic[c][t] = _mm512_setzero_si512();
  const __m512i h0 = _mm512_loadu_si512(codes + kNibbleBytes);
  const __m512i h1 = _mm512_loadu_si512(codes + kNibbleBytes + 64);
  six_bit_step<0>(codes, h0, h1, x, n_in, lo_ic, hi_ic);
  six_bit_step<1>(codes, h0, h1, x, n_in, lo_ic, hi_ic);
  six_bit_step<2>(codes, h0, h1, x, n_in, lo_ic, hi_ic);
  six_bit_step<3>(codes, h0, h1, x, n_in, lo_ic, hi_ic);
  add_chains<C, T>(lo_ic, first);
  add_chains<C, T>(hi_ic, second);
}

// The offset each legacy format's stored codes carry.
constexpr int32_t code_offset(DType type) {
  return type == DType::Q4_0 ? 8 : type == DType::Q5_0 ? 16 : type == DType::Q8_0 ? 128 : 0;
}

// One panel x T tokens: y[t][0..16), the float steps of matmul_rows_int8_reference per lane.
template <DType kType, int T>
TM_AVX512 void panel_tokens(const uint8_t* panel, int64_t n_in, const Int8Activations& a,
                            int64_t t0, float* y, int64_t y_stride) {
  constexpr size_t kRecord = record_bytes(kType);
  constexpr bool kHasMin = kType == DType::Q4_1 || kType == DType::Q4_K;
  const int64_t nb = a.n_blocks;
  const int64_t n_units = n_in / unit_elems(kType);
  const int8_t* xq = a.codes.data() + t0 * n_in;
  const float* xd = a.scales.data() + t0 * nb;
  const float* xs = a.sums.data() + t0 * nb;
  const int32_t* cs = a.code_sums.data() + 2 * t0 * nb;
  __m512 acc[T], mn[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = mn[t] = _mm512_setzero_ps();
  for (int64_t u = 0; u < n_units; ++u) {
    const uint8_t* rec = panel + static_cast<size_t>(u) * kRecord;
    const uint8_t* codes = rec + codes_offset(kType);
    if constexpr (kType == DType::Q4_K) {
      const __m512 d = load_f16x16(rec);
      const __m512 neg_dmin = _mm512_castsi512_ps(
          _mm512_xor_si512(_mm512_castps_si512(load_f16x16(rec + kF16Bytes)),
                           _mm512_set1_epi32(static_cast<int32_t>(0x80000000u))));
      for (int j = 0; j < 8; ++j) {
        const int64_t b = 8 * u + j;
        const __m512 dj = _mm512_mul_ps(d, load_u8x16(rec + 2 * kF16Bytes + kPanelRows * j));
        const __m512 mj =
            _mm512_mul_ps(neg_dmin, load_u8x16(rec + 2 * kF16Bytes + kPanelRows * (8 + j)));
        __m512i sum[T];
        nibble_sums<DType::Q4_1, T>(codes + kNibbleBytes * j, nullptr, xq + b * kQK, n_in, sum);
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
        six_bit_sums<T>(codes + kSixBitBytes * static_cast<size_t>(j), xq + b * kQK, n_in, first,
                        second);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const int32_t* s = cs + 2 * (t * nb + b);
          first[t] = _mm512_sub_epi32(first[t], _mm512_set1_epi32(32 * s[0]));
          second[t] = _mm512_sub_epi32(second[t], _mm512_set1_epi32(32 * s[1]));
          acc[t] = _mm512_fmadd_ps(int_to_float(first[t]), scaled(d0, xd[t * nb + b]), acc[t]);
          acc[t] = _mm512_fmadd_ps(int_to_float(second[t]), scaled(d1, xd[t * nb + b]), acc[t]);
        }
      }
    } else {
      const int64_t b = u;
      __m512i sum[T];
      if constexpr (kType == DType::Q8_0) {
        byte_sums<T>(codes, xq + b * kQK, n_in, sum);
      } else {
        nibble_sums<kType, T>(codes, rec + kF16Bytes, xq + b * kQK, n_in, sum);
      }
      const __m512 d = load_f16x16(rec);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        if constexpr (code_offset(kType) != 0) {
          const int32_t* s = cs + 2 * (t * nb + b);
          sum[t] = _mm512_sub_epi32(sum[t], _mm512_set1_epi32(code_offset(kType) * (s[0] + s[1])));
        }
        acc[t] = _mm512_fmadd_ps(int_to_float(sum[t]), scaled(d, xd[t * nb + b]), acc[t]);
      }
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

template <DType kType>
TM_AVX512 void packed_rows(const uint8_t* packed, int64_t n_in, const Int8Activations& a,
                           int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                           int64_t row_end) {
  const size_t panel_bytes = static_cast<size_t>(n_in / unit_elems(kType)) * record_bytes(kType);
  // Token chunks whose int8 activations (n_in bytes a token) stay in L2 while every panel of
  // the range runs over them.
  const int64_t chunk = std::max<int64_t>(16, 262144 / n_in);
  for (int64_t c0 = 0; c0 < n_tokens; c0 += chunk) {
    const int64_t c1 = std::min(n_tokens, c0 + chunk);
    for (int64_t o0 = row_begin; o0 < row_end; o0 += kPanelRows) {
      const uint8_t* panel = packed + static_cast<size_t>(o0 / kPanelRows) * panel_bytes;
      for_token_groups<8>(c0, c1, [&](auto tokens, int64_t t) {
        panel_tokens<kType, decltype(tokens)::value>(panel, n_in, a, t, y + t * y_stride + o0,
                                                     y_stride);
      });
    }
  }
}

// ---- the scalar definition ----

// Row o's codes for block b (by element) with their offset applied, and the block's scales:
// d_sub[s] the weight scale of each 16 elements (equal pairs except Q6_K), m the min term's
// weight (0 without one).
struct BlockCodes {
  int32_t c[kQK];
  float d_sub[2];
  float m;
};

BlockCodes block_codes(DType type, const uint8_t* row, int64_t b) {
  BlockCodes out{};
  if (type == DType::Q4_K) {
    const auto blk = quant::load_block<quant::BlockQ4_K>(row, b / 8);
    const int j = static_cast<int>(b % 8);
    uint8_t sc[8], mins[8];
    quant::unpack_k_scales(blk.scales, sc, mins);
    for (int k = 0; k < kQK; ++k) {
      const uint8_t byte = blk.qs[32 * (j / 2) + k];
      out.c[k] = j % 2 ? byte >> 4 : byte & 15;
    }
    const float d = f16_to_f32(blk.d);
    out.d_sub[0] = out.d_sub[1] = d * static_cast<float>(sc[j]);
    out.m = -f16_to_f32(blk.dmin) * static_cast<float>(mins[j]);
    return out;
  }
  if (type == DType::Q6_K) {
    const auto blk = quant::load_block<quant::BlockQ6_K>(row, b / 8);
    const int j = static_cast<int>(b % 8);
    int8_t q[kQK_K];
    quant::q6_k_codes(blk, q);
    for (int k = 0; k < kQK; ++k) out.c[k] = q[kQK * j + k];
    const float d = f16_to_f32(blk.d);
    out.d_sub[0] = d * static_cast<float>(blk.scales[2 * j]);
    out.d_sub[1] = d * static_cast<float>(blk.scales[2 * j + 1]);
    return out;
  }
  const uint8_t* block = row + static_cast<size_t>(b) * info(type).block_bytes;
  uint8_t c[kQK];
  legacy_codes(type, block, c);
  for (int k = 0; k < kQK; ++k)
    out.c[k] = type == DType::Q8_0 ? static_cast<int8_t>(c[k]) : c[k] - code_offset(type);
  uint16_t h;
  std::memcpy(&h, block, sizeof h);
  out.d_sub[0] = out.d_sub[1] = f16_to_f32(h);
  if (type == DType::Q4_1) {
    std::memcpy(&h, block + 2, sizeof h);
    out.m = f16_to_f32(h);
  }
  return out;
}

}  // namespace

const CodePlacement kInt8Quads{put_nibbles, put_high_bits, put_bytes, put_six_bits};

}  // namespace packed

using namespace packed;

void matmul_rows_packed_int8(DType type, const uint8_t* packed, int64_t n_in, const float* x,
                             int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                             int64_t row_end) {
  Int8Activations& a = thread_int8_activations();
  quantize_activations_int8(x, n_tokens, n_in, a);
  switch (type) {
    case DType::Q4_0:
      return packed_rows<DType::Q4_0>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
    case DType::Q4_1:
      return packed_rows<DType::Q4_1>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
    case DType::Q5_0:
      return packed_rows<DType::Q5_0>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
    case DType::Q8_0:
      return packed_rows<DType::Q8_0>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
    case DType::Q4_K:
      return packed_rows<DType::Q4_K>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
    case DType::Q6_K:
      return packed_rows<DType::Q6_K>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
    default:
      TM_CHECK(false, "matmul_rows_packed_int8: unsupported format");
  }
}

void matmul_rows_int8_reference(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                                const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                                int64_t row_begin, int64_t row_end) {
  Int8Activations a;
  quantize_activations_int8(x, n_tokens, n_in, a);
  const bool has_min = type == DType::Q4_1 || type == DType::Q4_K;
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t o = row_begin; o < row_end; ++o) {
      const uint8_t* row = W + static_cast<size_t>(o) * w_row_bytes;
      float acc = 0.0f, mn = 0.0f;
      for (int64_t b = 0; b < a.n_blocks; ++b) {
        const BlockCodes blk = block_codes(type, row, b);
        const int8_t* xq = a.codes.data() + (t * a.n_blocks + b) * kQK;
        int32_t half[2] = {0, 0};
        for (int k = 0; k < kQK; ++k) half[k / 16] += blk.c[k] * xq[k];
        const float xd = a.scales[static_cast<size_t>(t * a.n_blocks + b)];
        if (type == DType::Q6_K) {
          acc = std::fma(static_cast<float>(half[0]), blk.d_sub[0] * xd, acc);
          acc = std::fma(static_cast<float>(half[1]), blk.d_sub[1] * xd, acc);
        } else {
          acc = std::fma(static_cast<float>(half[0] + half[1]), blk.d_sub[0] * xd, acc);
        }
        if (has_min) mn = std::fma(blk.m, a.sums[static_cast<size_t>(t * a.n_blocks + b)], mn);
      }
      y[t * y_stride + o] = has_min ? acc + mn : acc;
    }
}

}  // namespace tmill::cpu::detail
