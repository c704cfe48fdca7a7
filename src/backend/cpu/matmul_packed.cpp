// Packed-panel int16 kernels and the packing entry points (see matmul_packed.h for the layouts
// and why).
#include "backend/cpu/matmul_packed.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/int16_activations.h"
#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/matmul_packed_amx.h"
#include "backend/cpu/matmul_packed_int8.h"
#include "backend/cpu/packed_panel.h"
#include "backend/cpu/packed_records.h"
#include "core/check.h"
#include "quant/blocks.h"

namespace tmill::cpu::detail {
namespace {

using namespace packed;  // record frame: sizes, offsets, pack_record

// Element of the block at position s of the activations' unpack order.
constexpr int element_at(int s) { return s < 8 ? s : s < 16 ? s + 8 : s < 24 ? s - 8 : s; }

// ---- packing (scalar; once per weight at load) ----

// Row r's 32 codes c[k] (by element) into a nibble codes area; bits above 4 are dropped.
void put_nibbles(uint8_t* codes, int r, const uint8_t* c) {
  auto nib = [&](int s) { return c[element_at(s)] & 0x0f; };
  for (int g = 0; g < 8; ++g) {
    codes[32 * g + 2 * r] = static_cast<uint8_t>(nib(4 * g) | nib(4 * g + 2) << 4);
    codes[32 * g + 2 * r + 1] = static_cast<uint8_t>(nib(4 * g + 1) | nib(4 * g + 3) << 4);
  }
}

// Q5_0: bit 4 of row r's codes into the lane masks (group g: two 32-bit masks, for pairs 2g and
// 2g + 1; bit 2r / 2r + 1 = row r's first / second code of the pair).
void put_high_bits(uint8_t* masks, int r, const uint8_t* c) {
  auto high = [&](int s) { return static_cast<uint32_t>(c[element_at(s)] >> 4); };
  for (int g = 0; g < 8; ++g) {
    uint32_t m[2];
    std::memcpy(m, masks + 8 * g, sizeof m);
    m[0] |= (high(4 * g) << (2 * r)) | (high(4 * g + 1) << (2 * r + 1));
    m[1] |= (high(4 * g + 2) << (2 * r)) | (high(4 * g + 3) << (2 * r + 1));
    std::memcpy(masks + 8 * g, m, sizeof m);
  }
}

// Q6_K: row r's 32 codes (0..63) into a six-bit codes area of 2 triples x 3 x 64 bytes. Triple
// m holds pairs 8m .. 8m + 7: in 16-bit lane 2r + s (s = 0, 1: the pair's first or second code)
// of its three 64-byte vectors W0, W1, W2, the 48-bit number W0 | W1 << 16 | W2 << 32 has pair
// 8m + k's code at bits 6k .. 6k + 5. Eight codes per 48 bits need no widening: each comes out
// of the three lanes with one or two shifts and one mask.
void put_six_bits(uint8_t* area, int r, const uint8_t* c) {
  for (int m = 0; m < 2; ++m)
    for (int s = 0; s < 2; ++s) {
      uint64_t bits = 0;
      for (int k = 0; k < 8; ++k)
        bits |= static_cast<uint64_t>(c[element_at(2 * (8 * m + k) + s)] & 63) << (6 * k);
      for (int i = 0; i < 3; ++i) {
        const auto word = static_cast<uint16_t>(bits >> (16 * i));
        std::memcpy(area + 192 * m + 64 * i + 2 * (2 * r + s), &word, sizeof word);
      }
    }
}

// Row r's 32 byte codes into a byte codes area (pair p: bytes c[e(2p)], c[e(2p+1)]).
void put_bytes(uint8_t* codes, int r, const uint8_t* c) {
  for (int p = 0; p < 16; ++p) {
    codes[32 * p + 2 * r] = c[element_at(2 * p)];
    codes[32 * p + 2 * r + 1] = c[element_at(2 * p + 1)];
  }
}

constexpr CodePlacement kInt16Pairs{put_nibbles, put_high_bits, put_bytes, put_six_bits};

// ---- kernels ----

// acc + the int16 pair products of w with *pair in every lane: vpdpwssd with the pair as an
// embedded-broadcast memory operand, one fused instruction. GCC 12 emits a separate
// vpbroadcastd for _mm512_dpwssd_epi32(acc, w, _mm512_set1_epi32(*pair)), and with one
// broadcast per multiply-add the two together ran into the core's rename width.
TM_AVX512 inline __m512i dot_pair(__m512i acc, __m512i w, const int32_t* pair) {
  asm("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*pair));
  return acc;
}

// Exact int32 sums Σ code·x over one block of 32, for T tokens (x: the block's pairs in the
// grouped layout, pair p of token t at x[p * T + t]; see group_tokens), from a nibble codes area:
// kType Q4_0 (code - 8), Q5_0 (code - 16 with the high bits from `masks`), else the nibble as is. C
// independent chains per token hide vpdpwssd's latency when few tokens share the weights; integer
// sums, so C changes nothing.
template <DType kType, int T>
TM_AVX512 inline void nibble_sums(const uint8_t* codes, const uint8_t* masks, const int32_t* x,
                                  __m512i* sum) {
  constexpr int C = T == 1 ? 4 : (T <= 4 ? 2 : 1);
  const __m512i low4 = _mm512_set1_epi16(0x0f);
  __m512i ic[C][T];
  zero_chains(ic);
#pragma GCC unroll 8
  for (int g = 0; g < 8; ++g) {
    const __m512i v =
        _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * g)));
    __m512i lo = _mm512_and_si512(v, low4);
    __m512i hi = _mm512_srli_epi16(v, 4);  // v's lanes are zero-extended bytes: no mask
    if constexpr (kType == DType::Q4_0) {
      lo = _mm512_sub_epi16(lo, _mm512_set1_epi16(8));
      hi = _mm512_sub_epi16(hi, _mm512_set1_epi16(8));
    } else if constexpr (kType == DType::Q5_0) {
      // code - 16 = nibble - 16 where the high bit is clear, the nibble where it is set.
      uint32_t high[2];
      std::memcpy(high, masks + 8 * g, sizeof high);
      const __m512i sixteen = _mm512_set1_epi16(16);
      lo = _mm512_mask_sub_epi16(lo, _cvtu32_mask32(~high[0]), lo, sixteen);
      hi = _mm512_mask_sub_epi16(hi, _cvtu32_mask32(~high[1]), hi, sixteen);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      ic[(2 * g) % C][t] = dot_pair(ic[(2 * g) % C][t], lo, x + (2 * g) * T + t);
      ic[(2 * g + 1) % C][t] = dot_pair(ic[(2 * g + 1) % C][t], hi, x + (2 * g + 1) * T + t);
    }
  }
  add_chains(ic, sum);
}

// The same from a byte codes area (Q8_0): 16 pairs of 32 bytes, each widened to 16-bit lanes.
template <int T>
TM_AVX512 inline void byte_sums(const uint8_t* codes, const int32_t* x, __m512i* sum) {
  constexpr int C = T <= 2 ? 4 : 2;
  __m512i ic[C][T];
  zero_chains(ic);
#pragma GCC unroll 16
  for (int p = 0; p < 16; ++p) {
    const __m512i w =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * p)));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) ic[p % C][t] = dot_pair(ic[p % C][t], w, x + p * T + t);
  }
  add_chains(ic, sum);
}

// Q6_K's exact int32 sums over one block of 32 of (code - 32)·x, from a six-bit codes area, split
// by half (Q6_K scales each 16 elements): first[t] sums elements 0-15 (in the unpack order pairs
// 0-3 and 8-11), second[t] elements 16-31. The -32 is applied once per half as -32·Σx (bias32:
// 32·Σx of the two halves per token, tokens bias_stride apart).
template <int T>
TM_AVX512 inline void six_bit_sums(const uint8_t* codes, const int32_t* x, const int32_t* bias32,
                                   int64_t bias_stride, __m512i* first, __m512i* second) {
  constexpr int C = T == 1 ? 4 : T <= 2 ? 2 : 1;  // chains per half
  const __m512i six = _mm512_set1_epi16(63);
  constexpr int kOrThenAnd = 0xa8;  // _mm512_ternarylogic_epi32 immediate for (a | b) & c
  __m512i ic[2][C][T];
  zero_chains(ic[0]);
  zero_chains(ic[1]);
#pragma GCC unroll 2
  for (int m = 0; m < 2; ++m) {
    const __m512i w0 = _mm512_loadu_si512(codes + 192 * m);
    const __m512i w1 = _mm512_loadu_si512(codes + 192 * m + 64);
    const __m512i w2 = _mm512_loadu_si512(codes + 192 * m + 128);
    const __m512i code[8] = {
        _mm512_and_si512(w0, six),
        _mm512_and_si512(_mm512_srli_epi16(w0, 6), six),
        _mm512_ternarylogic_epi32(_mm512_srli_epi16(w0, 12), _mm512_slli_epi16(w1, 4), six,
                                  kOrThenAnd),
        _mm512_and_si512(_mm512_srli_epi16(w1, 2), six),
        _mm512_and_si512(_mm512_srli_epi16(w1, 8), six),
        _mm512_ternarylogic_epi32(_mm512_srli_epi16(w1, 14), _mm512_slli_epi16(w2, 2), six,
                                  kOrThenAnd),
        _mm512_and_si512(_mm512_srli_epi16(w2, 4), six),
        _mm512_srli_epi16(w2, 10),
    };
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const int h = k >> 2;
      const int c = (k & 3) % C;
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        ic[h][c][t] = dot_pair(ic[h][c][t], code[k], x + (8 * m + k) * T + t);
    }
  }
  add_chains(ic[0], first);
  add_chains(ic[1], second);
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    first[t] = _mm512_sub_epi32(first[t], _mm512_set1_epi32(bias32[t * bias_stride]));
    second[t] = _mm512_sub_epi32(second[t], _mm512_set1_epi32(bias32[t * bias_stride + 1]));
  }
}

// Q6_K's bias term per token, block and half: 32·Σ x codes over the half's 16 elements
// (positions 0-7 and 16-23 of the block in the unpack order, then 8-15 and 24-31), [T][blocks][2]
// in a per-thread buffer.
const int32_t* q6_k_bias(const QuantizedActivations& a, int64_t n_tokens, bool compute) {
  thread_local std::vector<int32_t> bias;
  if (!compute) return bias.data();
  bias.resize(static_cast<size_t>(n_tokens * a.n_blocks * 2));
  for (int64_t tb = 0; tb < n_tokens * a.n_blocks; ++tb) {
    const int16_t* x = a.codes.data() + tb * kQK;
    int32_t half[2] = {0, 0};
    for (int s = 0; s < kQK; ++s) half[(s >> 3) & 1] += x[s];
    bias[2 * tb] = 32 * half[0];
    bias[2 * tb + 1] = 32 * half[1];
  }
  return bias.data();
}

// r[i][j] <-> r[j][i] for eight rows of eight 32-bit values.
TM_AVX512 inline void transpose8x8(__m256 (&r)[8]) {
  __m256 u[8], v[8];
  for (int i = 0; i < 8; i += 2) {
    u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    v[i] = _mm256_shuffle_ps(u[i], u[i + 2], 0x44);
    v[i + 1] = _mm256_shuffle_ps(u[i], u[i + 2], 0xee);
    v[i + 2] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0x44);
    v[i + 3] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(v[i], v[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(v[i], v[i + 4], 0x31);
  }
}

// The activation codes of each group of 8 tokens interleaved: tokens [t0, t0 + G) (G = 8, or
// what is left for the last group) as pairs [pair index (element / 2)][token of the group], one
// int32 per pair, at offset t0 * n_in / 2. A kernel over one group then reaches every pair at a
// fixed offset from one pointer. With a pointer per token (codes + t * n_in), eight tokens'
// pointers did not fit the general registers, and the innermost loop reloaded them from the
// stack between its broadcasts.
// Full groups go through 8x8 transposes of int32 pairs (a scalar copy per pair was 3% of
// Llama-3.2-1B-shape prefill).
// Only tokens from t_begin (a multiple of kTokenGroup) are grouped; the others keep their place.
TM_AVX512 void group_tokens(const QuantizedActivations& a, int64_t t_begin, int64_t n_tokens,
                            std::vector<int32_t>& out) {
  static_assert(kTokenGroup == 8, "the transpose below is 8x8");
  const int64_t n_pairs = a.n_in / 2;  // a multiple of 16
  out.resize(static_cast<size_t>(n_tokens * n_pairs));
  for (int64_t t0 = t_begin; t0 < n_tokens; t0 += kTokenGroup) {
    const int64_t g = std::min<int64_t>(kTokenGroup, n_tokens - t0);
    int32_t* dst = out.data() + t0 * n_pairs;
    if (g == 8) {
      const int16_t* src = a.codes.data() + t0 * a.n_in;
      for (int64_t p = 0; p < n_pairs; p += 8) {
        __m256 r[8];
        for (int t = 0; t < 8; ++t)
          r[t] = _mm256_loadu_ps(reinterpret_cast<const float*>(src + t * a.n_in + 2 * p));
        transpose8x8(r);
        for (int j = 0; j < 8; ++j)
          _mm256_storeu_ps(reinterpret_cast<float*>(dst + (p + j) * 8), r[j]);
      }
      continue;
    }
    for (int64_t t = 0; t < g; ++t) {
      const int16_t* src = a.codes.data() + (t0 + t) * a.n_in;
      for (int64_t p = 0; p < n_pairs; ++p) std::memcpy(dst + p * g + t, src + 2 * p, 4);
    }
  }
}

// This thread's grouped codes (group_tokens).
std::vector<int32_t>& thread_grouped_codes() {
  thread_local std::vector<int32_t> grouped;
  return grouped;
}

// The int16 layout's integer sums for panel_tokens (packed_panel.h).
struct Int16Codes {
  static constexpr int64_t kCodeBytes = 2;
  const QuantizedActivations& a;
  const int32_t* grouped;  // group_tokens
  const int32_t* bias32;   // q6_k_bias (Q6_K only)

  // Block b's pairs of the group starting at token t0 (of T tokens).
  template <int T>
  const int32_t* pairs(int64_t t0, int64_t b, int64_t n_in) const {
    return grouped + t0 * (n_in / 2) + b * (kQK / 2) * T;
  }

  template <DType kType, int T>
  TM_AVX512 void block_sums(const uint8_t* area, const uint8_t* masks, int64_t t0, int64_t b,
                            int64_t n_in, __m512i* sum) const {
    if constexpr (kType == DType::Q8_0)
      byte_sums<T>(area, pairs<T>(t0, b, n_in), sum);
    else
      nibble_sums<kType, T>(area, masks, pairs<T>(t0, b, n_in), sum);
  }

  template <int T>
  TM_AVX512 void six_bit_sums(const uint8_t* area, int64_t t0, int64_t b, int64_t n_in,
                              __m512i* first, __m512i* second) const {
    detail::six_bit_sums<T>(area, pairs<T>(t0, b, n_in), bias32 + (t0 * a.n_blocks + b) * 2,
                            2 * a.n_blocks, first, second);
  }
};

}  // namespace

WeightPrefetch automatic_weight_prefetch(size_t packed_bytes, size_t cache_bytes,
                                         int64_t n_tokens) {
  const bool cache_resident = cache_bytes > 0 && packed_bytes <= cache_bytes / 4;
  return cache_resident || n_tokens > 1 ? WeightPrefetch::kFar : WeightPrefetch::kNear;
}

bool packed_supported(DType type, int64_t n_out, int64_t n_in) {
  const bool format = type == DType::Q4_0 || type == DType::Q4_1 || type == DType::Q5_0 ||
                      type == DType::Q8_0 || type == DType::Q4_K || type == DType::Q6_K;
  return format && n_out > 0 && n_out % kPanelRows == 0 && n_in > 0 &&
         n_in % unit_elems(type) == 0 && cpu_has_avx2() && cpu_has_avx512_vnni();
}

size_t packed_bytes(DType type, int64_t n_out, int64_t n_in) {
  return static_cast<size_t>(n_out / kPanelRows) * static_cast<size_t>(n_in / unit_elems(type)) *
         record_bytes(type);
}

void pack_rows(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in, int64_t row_begin,
               int64_t row_end, uint8_t* out, PackedCodes layout) {
  TM_CHECK(row_begin % kPanelRows == 0 && row_end % kPanelRows == 0, "pack_rows: ragged range");
  const int64_t n_units = n_in / unit_elems(type);
  const size_t record = record_bytes(type);
  for (int64_t o0 = row_begin; o0 < row_end; o0 += kPanelRows)
    for (int64_t u = 0; u < n_units; ++u)
      pack_record(type, W, w_row_bytes, o0, u,
                  out + static_cast<size_t>(o0 / kPanelRows * n_units + u) * record,
                  layout == PackedCodes::kInt8Quads ? kInt8Quads : kInt16Pairs);
}

void matmul_rows_packed(DType type, const uint8_t* packed, int64_t n_in, const float* x,
                        int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                        int64_t row_end, PackedCodes layout, bool same_input,
                        WeightPrefetch prefetch) {
  TM_CHECK(row_begin % kPanelRows == 0 && row_end % kPanelRows == 0,
           "matmul_rows_packed: ragged range");
  if (row_begin == row_end || n_tokens == 0) return;
  // What this thread's activation buffers hold (for `same_input`).
  struct Quantized {
    const float* x = nullptr;
    int64_t n_tokens = 0, n_in = 0;
    PackedCodes layout = PackedCodes::kInt16Pairs;
    bool q6_k_bias = false;     // int16: Q6_K's bias computed for them
    int64_t grouped_from = -1;  // int16: tokens from here are grouped (group_tokens); -1: none
    int64_t split_tokens = 0;   // int16: tokens [0, split_tokens) split for AMX
  };
  thread_local Quantized held;
  const bool reuse = same_input && held.x == x && held.n_tokens == n_tokens && held.n_in == n_in &&
                     held.layout == layout;
  if (!reuse) held = {x, n_tokens, n_in, layout, false, -1, 0};
  if (layout == PackedCodes::kInt8Quads) {
    matmul_rows_packed_int8(type, packed, n_in, x, n_tokens, y, y_stride, row_begin, row_end,
                            !reuse, prefetch);
    return;
  }
  QuantizedActivations& a = thread_activations();
  if (!reuse) quantize_activations(x, n_tokens, n_in, a);
  // Whole tiles of 16 tokens go through AMX where it runs and enough tokens share the weights
  // (bit-identical sums, see matmul_packed_amx.h); the rest through the VNNI kernels below.
  const int64_t amx_tiles =
      n_tokens >= kAmxMinTokens && amx_covers(type) && amx_enabled() ? n_tokens / kAmxTokens : 0;
  const int64_t t_vnni = amx_tiles * kAmxTokens;
  if (amx_tiles > 0) {
    SplitActivations& split = thread_split_activations();
    if (held.split_tokens < t_vnni) {
      split_activations(a, t_vnni, split);
      held.split_tokens = t_vnni;
    }
    matmul_tiles_amx(type, packed, n_in, a, split, amx_tiles, y, y_stride, row_begin, row_end);
    if (t_vnni == n_tokens) return;
  }
  std::vector<int32_t>& grouped = thread_grouped_codes();
  if (held.grouped_from < 0 || held.grouped_from > t_vnni) {
    group_tokens(a, t_vnni, n_tokens, grouped);
    held.grouped_from = t_vnni;
  }
  const int32_t* bias = nullptr;
  if (type == DType::Q6_K) {
    bias = q6_k_bias(a, n_tokens, !held.q6_k_bias);
    held.q6_k_bias = true;
  }
  packed_rows(type, Int16Codes{a, grouped.data(), bias}, packed, n_in, t_vnni, n_tokens, y,
              y_stride, row_begin, row_end, prefetch);
}

}  // namespace tmill::cpu::detail
