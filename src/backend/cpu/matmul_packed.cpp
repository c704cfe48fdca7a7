// Packed-panel int16 kernels and the packing entry points (see matmul_packed.h for the layouts
// and why).
#include "backend/cpu/matmul_packed.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/int16_activations.h"
#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/matmul_packed_int8.h"
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

// Activation pair (x[2p], x[2p+1]) as one int32, in all 16 lanes.
TM_AVX512 inline __m512i broadcast_pair(const int16_t* x) {
  int32_t v;
  std::memcpy(&v, x, sizeof v);
  return _mm512_set1_epi32(v);
}

// Exact int32 sums Σ code·x over one block of 32, for T tokens (x: token 0's block codes, token
// t at + t * n_in), from a nibble codes area: kType Q4_0 (code - 8), Q5_0 (code - 16 with the
// high bits from `masks`), else the nibble as is. C independent chains per token hide
// vpdpwssd's latency when few tokens share the weights; integer sums, so C changes nothing.
template <DType kType, int T>
TM_AVX512 inline void nibble_sums(const uint8_t* codes, const uint8_t* masks, const int16_t* x,
                                  int64_t n_in, __m512i* sum) {
  constexpr int C = T == 1 ? 4 : (T <= 4 ? 2 : 1);
  const __m512i low4 = _mm512_set1_epi16(0x0f);
  __m512i ic[C][T];
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) ic[c][t] = _mm512_setzero_si512();
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
      ic[(2 * g) % C][t] =
          _mm512_dpwssd_epi32(ic[(2 * g) % C][t], lo, broadcast_pair(x + t * n_in + 4 * g));
      ic[(2 * g + 1) % C][t] =
          _mm512_dpwssd_epi32(ic[(2 * g + 1) % C][t], hi, broadcast_pair(x + t * n_in + 4 * g + 2));
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    sum[t] = ic[0][t];
#pragma GCC unroll 4
    for (int c = 1; c < C; ++c) sum[t] = _mm512_add_epi32(sum[t], ic[c][t]);
  }
}

// The same from a byte codes area (Q8_0): 16 pairs of 32 bytes, each widened to 16-bit lanes.
template <int T>
TM_AVX512 inline void byte_sums(const uint8_t* codes, const int16_t* x, int64_t n_in,
                                __m512i* sum) {
  constexpr int C = T <= 2 ? 4 : 2;
  __m512i ic[C][T];
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) ic[c][t] = _mm512_setzero_si512();
#pragma GCC unroll 16
  for (int p = 0; p < 16; ++p) {
    const __m512i w =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * p)));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      ic[p % C][t] = _mm512_dpwssd_epi32(ic[p % C][t], w, broadcast_pair(x + t * n_in + 2 * p));
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    sum[t] = ic[0][t];
#pragma GCC unroll 4
    for (int c = 1; c < C; ++c) sum[t] = _mm512_add_epi32(sum[t], ic[c][t]);
  }
}

// Q6_K's exact int32 sums over one block of 32 of (code - 32)·x, from a six-bit codes area, split
// by half (Q6_K scales each 16 elements): first[t] sums elements 0-15 (in the unpack order pairs
// 0-3 and 8-11), second[t] elements 16-31. The -32 is applied once per half as -32·Σx (bias32:
// 32·Σx of the two halves per token, tokens bias_stride apart).
template <int T>
TM_AVX512 inline void six_bit_sums(const uint8_t* codes, const int16_t* x, int64_t n_in,
                                   const int32_t* bias32, int64_t bias_stride, __m512i* first,
                                   __m512i* second) {
  constexpr int C = T == 1 ? 4 : T <= 2 ? 2 : 1;  // chains per half
  const __m512i six = _mm512_set1_epi16(63);
  constexpr int kOrThenAnd = 0xa8;  // _mm512_ternarylogic_epi32 immediate for (a | b) & c
  __m512i ic[2][C][T];
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) ic[h][c][t] = _mm512_setzero_si512();
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
        ic[h][c][t] = _mm512_dpwssd_epi32(ic[h][c][t], code[k],
                                          broadcast_pair(x + t * n_in + 2 * (8 * m + k)));
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    first[t] = ic[0][0][t];
    second[t] = ic[1][0][t];
#pragma GCC unroll 4
    for (int c = 1; c < C; ++c) {
      first[t] = _mm512_add_epi32(first[t], ic[0][c][t]);
      second[t] = _mm512_add_epi32(second[t], ic[1][c][t]);
    }
    first[t] = _mm512_sub_epi32(first[t], _mm512_set1_epi32(bias32[t * bias_stride]));
    second[t] = _mm512_sub_epi32(second[t], _mm512_set1_epi32(bias32[t * bias_stride + 1]));
  }
}

// One panel x T tokens: y[t][0..16). Per row (lane) and token this is the batch-invariant
// definition of matmul_int16.cpp: acc = fma(float(I_j), D_j * xd_b, acc) over sub-blocks j in
// order, mn = fma(M_b, xs_b, mn) over blocks in order for formats with a min, y = acc + mn.
template <DType kType, int T>
TM_AVX512 void panel_tokens(const uint8_t* panel, int64_t n_in, const QuantizedActivations& a,
                            const int32_t* bias32, int64_t t0, float* y, int64_t y_stride) {
  constexpr size_t kRecord = record_bytes(kType);
  constexpr bool kHasMin = kType == DType::Q4_1 || kType == DType::Q4_K;
  const int64_t n_units = n_in / unit_elems(kType);
  const int16_t* xq = a.codes.data() + t0 * n_in;
  const float* xd = a.scales.data() + t0 * a.n_blocks;
  const float* xs = a.sums.data() + t0 * a.n_blocks;
  __m512 acc[T], mn[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = mn[t] = _mm512_setzero_ps();
  for (int64_t u = 0; u < n_units; ++u) {
    const uint8_t* rec = panel + static_cast<size_t>(u) * kRecord;
    const uint8_t* codes = rec + codes_offset(kType);
    if constexpr (kType == DType::Q4_K) {
      const __m512 d = load_f16x16(rec);
      // -dmin: a sign flip, as the unpacked kernels' unary minus.
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
          acc[t] =
              _mm512_fmadd_ps(int_to_float(sum[t]), scaled(dj, xd[t * a.n_blocks + b]), acc[t]);
          mn[t] = _mm512_fmadd_ps(mj, _mm512_set1_ps(xs[t * a.n_blocks + b]), mn[t]);
        }
      }
    } else if constexpr (kType == DType::Q6_K) {
      const __m512 d = load_f16x16(rec);
      for (int j = 0; j < 8; ++j) {
        const int64_t b = 8 * u + j;
        const __m512 d0 = _mm512_mul_ps(d, load_i8x16(rec + kF16Bytes + kPanelRows * (2 * j)));
        const __m512 d1 = _mm512_mul_ps(d, load_i8x16(rec + kF16Bytes + kPanelRows * (2 * j + 1)));
        __m512i first[T], second[T];
        six_bit_sums<T>(codes + block_codes_bytes(kType) * static_cast<size_t>(j), xq + b * kQK,
                        n_in, bias32 + (t0 * a.n_blocks + b) * 2, 2 * a.n_blocks, first, second);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          acc[t] =
              _mm512_fmadd_ps(int_to_float(first[t]), scaled(d0, xd[t * a.n_blocks + b]), acc[t]);
          acc[t] =
              _mm512_fmadd_ps(int_to_float(second[t]), scaled(d1, xd[t * a.n_blocks + b]), acc[t]);
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
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(int_to_float(sum[t]), scaled(d, xd[t * a.n_blocks + b]), acc[t]);
      if constexpr (kType == DType::Q4_1) {
        const __m512 m = load_f16x16(rec + kF16Bytes);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
          mn[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(xs[t * a.n_blocks + b]), mn[t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    if constexpr (kHasMin) acc[t] = _mm512_add_ps(acc[t], mn[t]);
    _mm512_storeu_ps(y + t * y_stride, acc[t]);
  }
}

// Q6_K's bias term per token, block and half: 32·Σ x codes over the half's 16 elements
// (positions 0-7 and 16-23 of the block in the unpack order, then 8-15 and 24-31), [T][blocks][2]
// in a per-thread buffer.
const int32_t* q6_k_bias(const QuantizedActivations& a, int64_t n_tokens) {
  thread_local std::vector<int32_t> bias;
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

template <DType kType>
TM_AVX512 void packed_rows(const uint8_t* packed, int64_t n_in, const QuantizedActivations& a,
                           int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                           int64_t row_end) {
  const size_t panel_bytes = static_cast<size_t>(n_in / unit_elems(kType)) * record_bytes(kType);
  // Token chunks whose int16 activations (2·n_in bytes a token) stay in L2 while every panel of
  // the range runs over them.
  const int64_t chunk = std::max<int64_t>(16, 262144 / (2 * n_in));
  const int32_t* bias32 = nullptr;
  if constexpr (kType == DType::Q6_K) bias32 = q6_k_bias(a, n_tokens);
  for (int64_t c0 = 0; c0 < n_tokens; c0 += chunk) {
    const int64_t c1 = std::min(n_tokens, c0 + chunk);
    for (int64_t o0 = row_begin; o0 < row_end; o0 += kPanelRows) {
      const uint8_t* panel = packed + static_cast<size_t>(o0 / kPanelRows) * panel_bytes;
      for_token_groups<8>(c0, c1, [&](auto tokens, int64_t t) {
        panel_tokens<kType, decltype(tokens)::value>(panel, n_in, a, bias32, t,
                                                     y + t * y_stride + o0, y_stride);
      });
    }
  }
}

}  // namespace

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
                        int64_t row_end, PackedCodes layout) {
  TM_CHECK(row_begin % kPanelRows == 0 && row_end % kPanelRows == 0,
           "matmul_rows_packed: ragged range");
  if (row_begin == row_end || n_tokens == 0) return;
  if (layout == PackedCodes::kInt8Quads) {
    matmul_rows_packed_int8(type, packed, n_in, x, n_tokens, y, y_stride, row_begin, row_end);
    return;
  }
  QuantizedActivations& a = thread_activations();
  quantize_activations(x, n_tokens, n_in, a);
  switch (type) {
    case DType::Q4_0:
      packed_rows<DType::Q4_0>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
      break;
    case DType::Q4_1:
      packed_rows<DType::Q4_1>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
      break;
    case DType::Q5_0:
      packed_rows<DType::Q5_0>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
      break;
    case DType::Q8_0:
      packed_rows<DType::Q8_0>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
      break;
    case DType::Q4_K:
      packed_rows<DType::Q4_K>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
      break;
    case DType::Q6_K:
      packed_rows<DType::Q6_K>(packed, n_in, a, n_tokens, y, y_stride, row_begin, row_end);
      break;
    default:
      TM_CHECK(false, "matmul_rows_packed: unsupported format");
  }
}

}  // namespace tmill::cpu::detail
