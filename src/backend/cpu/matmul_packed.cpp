// Packed-panel int16 kernels (see matmul_packed.h for the layout and why).
#include "backend/cpu/matmul_packed.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/int16_activations.h"
#include "backend/cpu/matmul_avx2.h"
#include "core/check.h"
#include "quant/blocks.h"

#define TM_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace tmill::cpu::detail {
namespace {

using quant::kQK;

// Record of one panel-block: d[16] (f16); m[16] (f16, Q4_1) or the high-bit masks (Q5_0,
// 8 bytes a group); then the codes.
constexpr size_t kScaleBytes = 2 * kPanelRows;
constexpr size_t kHighBitBytes = 8 * 8;

constexpr bool format_has_min(DType type) { return type == DType::Q4_1; }
constexpr size_t codes_bytes(DType type) {
  return type == DType::Q8_0 ? 2 * kQK * kPanelRows / 2 : kQK * kPanelRows / 2;
}
constexpr size_t codes_offset(DType type) {
  return kScaleBytes + (format_has_min(type) ? kScaleBytes : 0) +
         (type == DType::Q5_0 ? kHighBitBytes : 0);
}
constexpr size_t record_bytes(DType type) { return codes_offset(type) + codes_bytes(type); }

// Element of the block at position s of the activations' unpack order.
constexpr int element_at(int s) { return s < 8 ? s : s < 16 ? s + 8 : s < 24 ? s - 8 : s; }

// The 32 codes of one source block, by element, unsigned as stored (Q4: 0..15, Q5_0: 0..31,
// Q8_0: -128..127 as bytes).
void block_codes(DType type, const uint8_t* block, uint8_t* c) {
  if (type == DType::Q8_0) {
    std::memcpy(c, block + 2, kQK);
    return;
  }
  const uint8_t* qs = block + (type == DType::Q4_0 ? 2 : type == DType::Q4_1 ? 4 : 6);
  for (int k = 0; k < kQK / 2; ++k) {
    c[k] = qs[k] & 0x0f;
    c[k + kQK / 2] = qs[k] >> 4;
  }
  if (type == DType::Q5_0) {
    uint32_t qh;
    std::memcpy(&qh, block + 2, sizeof qh);
    for (int k = 0; k < kQK; ++k) c[k] |= static_cast<uint8_t>((qh >> k & 1) << 4);
  }
}

size_t source_block_bytes(DType type) {
  switch (type) {
    case DType::Q4_0:
      return sizeof(quant::BlockQ4_0);
    case DType::Q4_1:
      return sizeof(quant::BlockQ4_1);
    case DType::Q5_0:
      return sizeof(quant::BlockQ5_0);
    default:
      return sizeof(quant::BlockQ8_0);
  }
}

// Activation pair (x[2p], x[2p+1]) as one int32, in all 16 lanes.
TM_AVX512 inline __m512i broadcast_pair(const int16_t* x) {
  int32_t v;
  std::memcpy(&v, x, sizeof v);
  return _mm512_set1_epi32(v);
}

// 16 f16 values as floats (exact). (maskz: the plain conversion trips GCC 12's
// maybe-uninitialized on its undefined source.)
TM_AVX512 inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// One panel x T tokens: y[t][0..16). C independent int32 chains per token hide vpdpwssd's
// latency when few tokens share the weights; their sum is exact, so C does not change results.
template <DType kType, int T>
TM_AVX512 void panel_tokens(const uint8_t* panel, int64_t n_in, const QuantizedActivations& a,
                            int64_t t0, float* y, int64_t y_stride) {
  constexpr int C = T == 1 ? 4 : (T <= 4 ? 2 : 1);
  constexpr size_t kRecord = record_bytes(kType);
  const int64_t nb = n_in / kQK;
  const int16_t* xq = a.codes.data() + t0 * n_in;
  const float* xd = a.scales.data() + t0 * a.n_blocks;
  const __m512i low4 = _mm512_set1_epi16(0x0f);
  const __m512i eight = _mm512_set1_epi16(8);
  const __m512i sixteen = _mm512_set1_epi16(16);
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* rec = panel + static_cast<size_t>(b) * kRecord;
    const uint8_t* codes = rec + codes_offset(kType);
    __m512i ic[C][T];
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) ic[c][t] = _mm512_setzero_si512();
    if constexpr (kType == DType::Q8_0) {
#pragma GCC unroll 16
      for (int p = 0; p < 16; ++p) {
        const __m512i w = _mm512_cvtepi8_epi16(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * p)));
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
          ic[p % C][t] =
              _mm512_dpwssd_epi32(ic[p % C][t], w, broadcast_pair(xq + t * n_in + b * kQK + 2 * p));
      }
    } else {
#pragma GCC unroll 8
      for (int g = 0; g < 8; ++g) {
        const __m512i v = _mm512_cvtepu8_epi16(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * g)));
        __m512i lo = _mm512_and_si512(v, low4);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        if constexpr (kType == DType::Q4_0) {
          lo = _mm512_sub_epi16(lo, eight);
          hi = _mm512_sub_epi16(hi, eight);
        } else if constexpr (kType == DType::Q5_0) {
          // code - 16 = nibble - 16 where the high bit is clear, the nibble where it is set.
          uint32_t high[2];
          std::memcpy(high, rec + kScaleBytes + 8 * g, sizeof high);
          lo = _mm512_mask_sub_epi16(lo, _cvtu32_mask32(~high[0]), lo, sixteen);
          hi = _mm512_mask_sub_epi16(hi, _cvtu32_mask32(~high[1]), hi, sixteen);
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          ic[(2 * g) % C][t] = _mm512_dpwssd_epi32(ic[(2 * g) % C][t], lo,
                                                   broadcast_pair(xq + t * n_in + b * kQK + 4 * g));
          ic[(2 * g + 1) % C][t] = _mm512_dpwssd_epi32(
              ic[(2 * g + 1) % C][t], hi, broadcast_pair(xq + t * n_in + b * kQK + 4 * g + 2));
        }
      }
    }
    const __m512 d = load_f16x16(rec);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      __m512i sum = ic[0][t];
#pragma GCC unroll 4
      for (int c = 1; c < C; ++c) sum = _mm512_add_epi32(sum, ic[c][t]);
      acc[t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, sum),
                               _mm512_mul_ps(d, _mm512_set1_ps(xd[t * a.n_blocks + b])), acc[t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    if constexpr (format_has_min(kType)) {
      const float* xs = a.sums.data() + (t0 + t) * a.n_blocks;
      __m512 mn = _mm512_setzero_ps();
      for (int64_t b = 0; b < nb; ++b) {
        const __m512 m = load_f16x16(panel + static_cast<size_t>(b) * kRecord + kScaleBytes);
        mn = _mm512_fmadd_ps(m, _mm512_set1_ps(xs[b]), mn);
      }
      acc[t] = _mm512_add_ps(acc[t], mn);
    }
    _mm512_storeu_ps(y + t * y_stride, acc[t]);
  }
}

template <DType kType>
TM_AVX512 void packed_rows(const uint8_t* packed, int64_t n_in, const QuantizedActivations& a,
                           int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                           int64_t row_end) {
  const size_t panel_bytes = static_cast<size_t>(n_in / kQK) * record_bytes(kType);
  // Token chunks whose int16 activations (2·n_in bytes a token) stay in L2 while every panel of
  // the range runs over them.
  const int64_t chunk = std::max<int64_t>(16, 262144 / (2 * n_in));
  for (int64_t c0 = 0; c0 < n_tokens; c0 += chunk) {
    const int64_t c1 = std::min(n_tokens, c0 + chunk);
    for (int64_t o0 = row_begin; o0 < row_end; o0 += kPanelRows) {
      const uint8_t* panel = packed + static_cast<size_t>(o0 / kPanelRows) * panel_bytes;
      for (int64_t t = c0; t < c1; t += 8) {
        float* yt = y + t * y_stride + o0;
        switch (std::min<int64_t>(8, c1 - t)) {
          case 1:
            panel_tokens<kType, 1>(panel, n_in, a, t, yt, y_stride);
            break;
          case 2:
            panel_tokens<kType, 2>(panel, n_in, a, t, yt, y_stride);
            break;
          case 3:
            panel_tokens<kType, 3>(panel, n_in, a, t, yt, y_stride);
            break;
          case 4:
            panel_tokens<kType, 4>(panel, n_in, a, t, yt, y_stride);
            break;
          case 5:
            panel_tokens<kType, 5>(panel, n_in, a, t, yt, y_stride);
            break;
          case 6:
            panel_tokens<kType, 6>(panel, n_in, a, t, yt, y_stride);
            break;
          case 7:
            panel_tokens<kType, 7>(panel, n_in, a, t, yt, y_stride);
            break;
          default:
            panel_tokens<kType, 8>(panel, n_in, a, t, yt, y_stride);
            break;
        }
      }
    }
  }
}

}  // namespace

bool packed_supported(DType type, int64_t n_out, int64_t n_in) {
  const bool format =
      type == DType::Q4_0 || type == DType::Q4_1 || type == DType::Q5_0 || type == DType::Q8_0;
  return format && n_out > 0 && n_out % kPanelRows == 0 && n_in > 0 && n_in % kQK == 0 &&
         cpu_has_avx2() && cpu_has_avx512_vnni();
}

size_t packed_bytes(DType type, int64_t n_out, int64_t n_in) {
  return static_cast<size_t>(n_out / kPanelRows) * static_cast<size_t>(n_in / kQK) *
         record_bytes(type);
}

void pack_rows(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in, int64_t row_begin,
               int64_t row_end, uint8_t* out) {
  TM_CHECK(row_begin % kPanelRows == 0 && row_end % kPanelRows == 0, "pack_rows: ragged range");
  const int64_t nb = n_in / kQK;
  const size_t record = record_bytes(type);
  const size_t src_block = source_block_bytes(type);
  const bool four_bit = type != DType::Q8_0;
  uint8_t c[kQK];
  for (int64_t o0 = row_begin; o0 < row_end; o0 += kPanelRows) {
    uint8_t* panel = out + static_cast<size_t>(o0 / kPanelRows * nb) * record;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* rec = panel + static_cast<size_t>(b) * record;
      uint8_t* codes = rec + codes_offset(type);
      if (type == DType::Q5_0) std::memset(rec + kScaleBytes, 0, kHighBitBytes);
      for (int r = 0; r < kPanelRows; ++r) {
        const uint8_t* src =
            W + static_cast<size_t>(o0 + r) * w_row_bytes + static_cast<size_t>(b) * src_block;
        std::memcpy(rec + 2 * r, src, 2);                                              // d
        if (format_has_min(type)) std::memcpy(rec + kScaleBytes + 2 * r, src + 2, 2);  // m
        block_codes(type, src, c);
        if (four_bit) {
          auto nib = [&](int s) { return c[element_at(s)] & 0x0f; };
          for (int g = 0; g < 8; ++g) {
            codes[32 * g + 2 * r] = static_cast<uint8_t>(nib(4 * g) | nib(4 * g + 2) << 4);
            codes[32 * g + 2 * r + 1] = static_cast<uint8_t>(nib(4 * g + 1) | nib(4 * g + 3) << 4);
          }
          if (type == DType::Q5_0) {
            // Group g: a 32-bit lane mask per pair vector, bit 2r / 2r + 1 = the high bit of
            // row r's first / second code in it.
            auto high = [&](int s) { return static_cast<uint32_t>(c[element_at(s)] >> 4); };
            for (int g = 0; g < 8; ++g) {
              uint32_t m[2];
              std::memcpy(m, rec + kScaleBytes + 8 * g, sizeof m);
              m[0] |= (high(4 * g) << (2 * r)) | (high(4 * g + 1) << (2 * r + 1));
              m[1] |= (high(4 * g + 2) << (2 * r)) | (high(4 * g + 3) << (2 * r + 1));
              std::memcpy(rec + kScaleBytes + 8 * g, m, sizeof m);
            }
          }
        } else {
          for (int p = 0; p < 16; ++p) {
            codes[32 * p + 2 * r] = c[element_at(2 * p)];
            codes[32 * p + 2 * r + 1] = c[element_at(2 * p + 1)];
          }
        }
      }
    }
  }
}

void matmul_rows_packed(DType type, const uint8_t* packed, int64_t n_in, const float* x,
                        int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                        int64_t row_end) {
  TM_CHECK(row_begin % kPanelRows == 0 && row_end % kPanelRows == 0,
           "matmul_rows_packed: ragged range");
  if (row_begin == row_end || n_tokens == 0) return;
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
    default:
      TM_CHECK(false, "matmul_rows_packed: unsupported format");
  }
}

}  // namespace tmill::cpu::detail
