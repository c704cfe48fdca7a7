// Int8 packed-panel kernels and their scalar definition (see matmul_packed_int8.h).
#include "backend/cpu/matmul_packed_int8.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/int8_activations.h"
#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/packed_panel.h"
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

// Σ code·x over one block of 32 for T tokens (x: token 0's block, token t at + t * n_in) from a
// nibble area, the codes as stored (0..15; Q5_0 0..31 with bit 4 from `masks`): no offsets.
template <DType kType, int T>
TM_AVX512 inline void nibble_sums(const uint8_t* codes, const uint8_t* masks, const int8_t* x,
                                  int64_t n_in, __m512i* sum) {
  constexpr int C = kChains<T>;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512i ic[C][T];
  zero_chains(ic);
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
  add_chains(ic, sum);
}

// The same from a byte area (Q8_0, codes + 128): no offset.
template <int T>
TM_AVX512 inline void byte_sums(const uint8_t* codes, const int8_t* x, int64_t n_in, __m512i* sum) {
  constexpr int C = kChains<T>;
  __m512i ic[C][T];
  zero_chains(ic);
#pragma GCC unroll 8
  for (int v = 0; v < 8; ++v) {
    const __m512i w = _mm512_loadu_si512(codes + 64 * v);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      ic[v % C][t] = _mm512_dpbusd_epi32(ic[v % C][t], w, broadcast_quad(x + t * n_in + 4 * v));
  }
  add_chains(ic, sum);
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
  zero_chains(lo_ic);
  zero_chains(hi_ic);
  const __m512i h0 = _mm512_loadu_si512(codes + kNibbleBytes);
  const __m512i h1 = _mm512_loadu_si512(codes + kNibbleBytes + 64);
  six_bit_step<0>(codes, h0, h1, x, n_in, lo_ic, hi_ic);
  six_bit_step<1>(codes, h0, h1, x, n_in, lo_ic, hi_ic);
  six_bit_step<2>(codes, h0, h1, x, n_in, lo_ic, hi_ic);
  six_bit_step<3>(codes, h0, h1, x, n_in, lo_ic, hi_ic);
  add_chains(lo_ic, first);
  add_chains(hi_ic, second);
}

// The offset each legacy format's stored codes carry.
constexpr int32_t code_offset(DType type) {
  return type == DType::Q4_0 ? 8 : type == DType::Q5_0 ? 16 : type == DType::Q8_0 ? 128 : 0;
}

// The int8 layout's integer sums for panel_tokens (packed_panel.h): the raw sums less the
// codes' offset times the activation codes' sums.
struct Int8Codes {
  static constexpr int64_t kCodeBytes = 1;
  const Int8Activations& a;

  template <DType kType, int T>
  TM_AVX512 void block_sums(const uint8_t* area, const uint8_t* masks, int64_t t0, int64_t b,
                            int64_t n_in, __m512i* sum) const {
    const int8_t* x = a.codes.data() + t0 * n_in + b * kQK;
    if constexpr (kType == DType::Q8_0)
      byte_sums<T>(area, x, n_in, sum);
    else
      nibble_sums<kType, T>(area, masks, x, n_in, sum);
    if constexpr (code_offset(kType) != 0) {
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const int32_t* s = a.code_sums.data() + 2 * ((t0 + t) * a.n_blocks + b);
        sum[t] = _mm512_sub_epi32(sum[t], _mm512_set1_epi32(code_offset(kType) * (s[0] + s[1])));
      }
    }
  }

  template <int T>
  TM_AVX512 void six_bit_sums(const uint8_t* area, int64_t t0, int64_t b, int64_t n_in,
                              __m512i* first, __m512i* second) const {
    packed::six_bit_sums<T>(area, a.codes.data() + t0 * n_in + b * kQK, n_in, first, second);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const int32_t* s = a.code_sums.data() + 2 * ((t0 + t) * a.n_blocks + b);
      first[t] = _mm512_sub_epi32(first[t], _mm512_set1_epi32(32 * s[0]));
      second[t] = _mm512_sub_epi32(second[t], _mm512_set1_epi32(32 * s[1]));
    }
  }
};

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
                             int64_t row_end, bool quantize, WeightPrefetch prefetch) {
  Int8Activations& a = thread_int8_activations();
  if (quantize) quantize_activations_int8(x, n_tokens, n_in, a);
  packed_rows(type, Int8Codes{a}, packed, n_in, 0, n_tokens, y, y_stride, row_begin, row_end,
              prefetch);
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
