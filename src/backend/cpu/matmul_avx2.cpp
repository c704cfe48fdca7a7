// AVX2+FMA+F16C kernels for matmul_rows and the fast row dequantizer.
//
// Two strategies, by token count:
//   n_tokens <= 8 (decode, small batches): each weight row is dequantized into registers and
//     multiplied into up to 4 token rows on the fly (DotSink); nothing is stored. Decode is
//     bound by this dequantization, so it is vectorized for every common format.
//   n_tokens > 8 (prefill): 16 rows are dequantized, transposed into a packed panel, and a
//     16 x 6 outer-product kernel runs all tokens over it (FMA-bound, ~85% of AVX2 peak).
//
// Every function that uses these instructions carries TM_AVX2 (a per-function target
// attribute) instead of a file-wide #pragma, so no inline function from a header is ever
// compiled for AVX2 behind the back of callers on older CPUs. Only call in after
// cpu_has_avx2().
//
// Dequantizers are written once, as templates over a "sink" that receives each vector of 8
// weights (StoreSink: dequantize to memory; DotSink: multiply into token rows). They evaluate
// the same float operations as the reference (quant/*.cpp): a separate multiply and add, no
// FMA, so dequantized values are bit-identical. Block layouts: quant/blocks.h.
#include "backend/cpu/matmul_avx2.h"

#include <immintrin.h>

#include <cpuid.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/avx2_helpers.h"
#include "core/half.h"
#include "quant/blocks.h"
#include "quant/formats.h"

namespace tmill::cpu::detail {
namespace {

using quant::kQK;
using quant::kQK_K;

// ---------------------------------------------------------------------------------------------
// Sinks: where a dequantizer sends each vector of 8 weights.
//
// put(slot, off, v) receives weights off .. off + 8 of the row; put1(off, w) one weight (tails
// of the plain formats). `slot` (0..3) is a compile-time constant once inlined: the position
// of the vector within its 32 elements, so a sink can spread consecutive vectors over
// independent accumulators.

// Writes the row out: the dequantizer proper.
struct StoreSink {
  float* dst;
  TM_AVX2 void put(int, int64_t off, __m256 v) { _mm256_storeu_ps(dst + off, v); }
  TM_AVX2 void put1(int64_t off, float w) { dst[off] = w; }
};

// Dot products of the row with T token rows (x + t * x_stride), without storing the row.
// S accumulator sets for T tokens (S * T <= 8) keep enough FMA chains in flight.
template <int T>
struct DotSink {
  static constexpr int S = T == 1 ? 4 : 2;
  const float* x;
  int64_t x_stride;
  __m256 acc[S][T];
  float tail[T];

  TM_AVX2 explicit DotSink(const float* x_, int64_t stride) : x(x_), x_stride(stride) {
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s)
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) acc[s][t] = _mm256_setzero_ps();
    for (int t = 0; t < T; ++t) tail[t] = 0.0f;
  }
  TM_AVX2 void put(int slot, int64_t off, __m256 v) {
    const int s = slot % S;
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t)
      acc[s][t] = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + t * x_stride + off), acc[s][t]);
  }
  TM_AVX2 void put1(int64_t off, float w) {
    for (int t = 0; t < T; ++t) tail[t] += w * x[t * x_stride + off];
  }
};

// Sends 16 weights d * float(int8 q[k]) at off, off + 8 (slots slot, slot + 1).
template <class Sink>
TM_AVX2 inline void emit16_signed(Sink& sink, int slot, int64_t off, __m128i q, __m256 d) {
  sink.put(slot, off, _mm256_mul_ps(d, i8_to_ps(q)));
  sink.put(slot + 1, off + 8, _mm256_mul_ps(d, i8_to_ps(_mm_srli_si128(q, 8))));
}

// d * float(uint8 q[k]) + m.
template <class Sink>
TM_AVX2 inline void emit16_affine(Sink& sink, int slot, int64_t off, __m128i q, __m256 d,
                                  __m256 m) {
  sink.put(slot, off, _mm256_add_ps(_mm256_mul_ps(d, u8_to_ps(q)), m));
  sink.put(slot + 1, off + 8, _mm256_add_ps(_mm256_mul_ps(d, u8_to_ps(_mm_srli_si128(q, 8))), m));
}

// d * float(uint8 q[k]) - m (the K-quants' sign convention).
template <class Sink>
TM_AVX2 inline void emit16_minus(Sink& sink, int slot, int64_t off, __m128i q, __m256 d, __m256 m) {
  sink.put(slot, off, _mm256_sub_ps(_mm256_mul_ps(d, u8_to_ps(q)), m));
  sink.put(slot + 1, off + 8, _mm256_sub_ps(_mm256_mul_ps(d, u8_to_ps(_mm_srli_si128(q, 8))), m));
}

// ---------------------------------------------------------------------------------------------
// Dequantizers, one block (or super-block) per iteration, n elements from src into a sink.

template <class Sink>
TM_AVX2 void dq_q4_0(const uint8_t* src, int64_t n, Sink& sink) {
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint8_t* p = src + i * sizeof(quant::BlockQ4_0);  // d, qs[16]
    const __m256 d = _mm256_set1_ps(load_f16(p));
    const __m256i q = _mm256_sub_epi8(unpack_nibbles16(p + 2), _mm256_set1_epi8(8));
    emit16_signed(sink, 0, i * kQK, lo128(q), d);
    emit16_signed(sink, 2, i * kQK + 16, hi128(q), d);
  }
}

template <class Sink>
TM_AVX2 void dq_q4_1(const uint8_t* src, int64_t n, Sink& sink) {
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint8_t* p = src + i * sizeof(quant::BlockQ4_1);  // d, m, qs[16]
    const __m256 d = _mm256_set1_ps(load_f16(p));
    const __m256 m = _mm256_set1_ps(load_f16(p + 2));
    const __m256i q = unpack_nibbles16(p + 4);
    emit16_affine(sink, 0, i * kQK, lo128(q), d, m);
    emit16_affine(sink, 2, i * kQK + 16, hi128(q), d, m);
  }
}

template <class Sink>
TM_AVX2 void dq_q5_0(const uint8_t* src, int64_t n, Sink& sink) {
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint8_t* p = src + i * sizeof(quant::BlockQ5_0);  // d, qh[4], qs[16]
    const __m256 d = _mm256_set1_ps(load_f16(p));
    uint32_t qh;
    std::memcpy(&qh, p + 2, sizeof qh);
    const __m256i high = _mm256_and_si256(expand_bits32(qh), _mm256_set1_epi8(0x10));
    const __m256i q =
        _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles16(p + 6), high), _mm256_set1_epi8(16));
    emit16_signed(sink, 0, i * kQK, lo128(q), d);
    emit16_signed(sink, 2, i * kQK + 16, hi128(q), d);
  }
}

template <class Sink>
TM_AVX2 void dq_q5_1(const uint8_t* src, int64_t n, Sink& sink) {
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint8_t* p = src + i * sizeof(quant::BlockQ5_1);  // d, m, qh[4], qs[16]
    const __m256 d = _mm256_set1_ps(load_f16(p));
    const __m256 m = _mm256_set1_ps(load_f16(p + 2));
    uint32_t qh;
    std::memcpy(&qh, p + 4, sizeof qh);
    const __m256i high = _mm256_and_si256(expand_bits32(qh), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_or_si256(unpack_nibbles16(p + 8), high);
    emit16_affine(sink, 0, i * kQK, lo128(q), d, m);
    emit16_affine(sink, 2, i * kQK + 16, hi128(q), d, m);
  }
}

template <class Sink>
TM_AVX2 void dq_q8_0(const uint8_t* src, int64_t n, Sink& sink) {
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint8_t* p = src + i * sizeof(quant::BlockQ8_0);  // d, qs[32]
    const __m256 d = _mm256_set1_ps(load_f16(p));
    emit16_signed(sink, 0, i * kQK, load16(p + 2), d);
    emit16_signed(sink, 2, i * kQK + 16, load16(p + 18), d);
  }
}

template <class Sink>
TM_AVX2 void dq_q4_k(const uint8_t* src, int64_t n, Sink& sink) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* p = src + i * sizeof(quant::BlockQ4_K);  // d, dmin, scales[12], qs[128]
    const float d = load_f16(p);
    const float dmin = load_f16(p + 2);
    uint8_t sc[8], m[8];
    quant::unpack_k_scales(p + 4, sc, m);
    const int64_t base = i * kQK_K;
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load32(p + 16 + 32 * c);
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256 d0 = _mm256_set1_ps(d * static_cast<float>(sc[2 * c]));
      const __m256 m0 = _mm256_set1_ps(dmin * static_cast<float>(m[2 * c]));
      const __m256 d1 = _mm256_set1_ps(d * static_cast<float>(sc[2 * c + 1]));
      const __m256 m1 = _mm256_set1_ps(dmin * static_cast<float>(m[2 * c + 1]));
      emit16_minus(sink, 0, base + 64 * c, lo128(lo), d0, m0);
      emit16_minus(sink, 2, base + 64 * c + 16, hi128(lo), d0, m0);
      emit16_minus(sink, 0, base + 64 * c + 32, lo128(hi), d1, m1);
      emit16_minus(sink, 2, base + 64 * c + 48, hi128(hi), d1, m1);
    }
  }
}

template <class Sink>
TM_AVX2 void dq_q5_k(const uint8_t* src, int64_t n, Sink& sink) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    // d, dmin, scales[12], qh[32], qs[128]
    const uint8_t* p = src + i * sizeof(quant::BlockQ5_K);
    const float d = load_f16(p);
    const float dmin = load_f16(p + 2);
    uint8_t sc[8], m[8];
    quant::unpack_k_scales(p + 4, sc, m);
    const __m256i qh = load32(p + 16);
    const int64_t base = i * kQK_K;
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      q5_k_codes(p, c, qh, lo, hi);
      const __m256 d0 = _mm256_set1_ps(d * static_cast<float>(sc[2 * c]));
      const __m256 m0 = _mm256_set1_ps(dmin * static_cast<float>(m[2 * c]));
      const __m256 d1 = _mm256_set1_ps(d * static_cast<float>(sc[2 * c + 1]));
      const __m256 m1 = _mm256_set1_ps(dmin * static_cast<float>(m[2 * c + 1]));
      emit16_minus(sink, 0, base + 64 * c, lo128(lo), d0, m0);
      emit16_minus(sink, 2, base + 64 * c + 16, hi128(lo), d0, m0);
      emit16_minus(sink, 0, base + 64 * c + 32, lo128(hi), d1, m1);
      emit16_minus(sink, 2, base + 64 * c + 48, hi128(hi), d1, m1);
    }
  }
}

template <class Sink>
TM_AVX2 void dq_q6_k(const uint8_t* src, int64_t n, Sink& sink) {
  const __m256i bias = _mm256_set1_epi8(32);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    // ql[128], qh[64], scales[16], d
    const uint8_t* p = src + i * sizeof(quant::BlockQ6_K);
    const float d = load_f16(p + 208);
    int8_t sc[16];
    std::memcpy(sc, p + 192, sizeof sc);
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      q6_k_half_codes(p, h, q);
      const int64_t base = i * kQK_K + 128 * h;
      for (int j = 0; j < 4; ++j) {
        const __m256i v = _mm256_sub_epi8(q[j], bias);
        const __m256 d0 = _mm256_set1_ps(d * static_cast<float>(sc[8 * h + 2 * j]));
        const __m256 d1 = _mm256_set1_ps(d * static_cast<float>(sc[8 * h + 2 * j + 1]));
        emit16_signed(sink, 0, base + 32 * j, lo128(v), d0);
        emit16_signed(sink, 2, base + 32 * j + 16, hi128(v), d1);
      }
    }
  }
}

template <class Sink>
TM_AVX2 void dq_f32(const uint8_t* src, int64_t n, Sink& sink) {
  const float* f = reinterpret_cast<const float*>(src);  // only read by unaligned loads/memcpy
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) sink.put(k, i + 8 * k, _mm256_loadu_ps(f + i + 8 * k));
  }
  for (; i + 8 <= n; i += 8) sink.put(0, i, _mm256_loadu_ps(f + i));
  for (; i < n; ++i) {
    float w;
    std::memcpy(&w, src + 4 * i, sizeof w);
    sink.put1(i, w);
  }
}

template <class Sink>
TM_AVX2 void dq_f16(const uint8_t* src, int64_t n, Sink& sink) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
      sink.put(k, i + 8 * k, _mm256_cvtph_ps(load16(src + 2 * (i + 8 * k))));
  }
  for (; i + 8 <= n; i += 8) sink.put(0, i, _mm256_cvtph_ps(load16(src + 2 * i)));
  for (; i < n; ++i) sink.put1(i, load_f16(src + 2 * i));
}

TM_AVX2 inline __m256 bf16x8_to_ps(const uint8_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load16(p)), 16));
}

template <class Sink>
TM_AVX2 void dq_bf16(const uint8_t* src, int64_t n, Sink& sink) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) sink.put(k, i + 8 * k, bf16x8_to_ps(src + 2 * (i + 8 * k)));
  }
  for (; i + 8 <= n; i += 8) sink.put(0, i, bf16x8_to_ps(src + 2 * i));
  for (; i < n; ++i)
    sink.put1(i, bf16_to_f32(static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8))));
}

// Types with an AVX2 dequantizer: all supported ones but Q2_K and Q3_K (rarely used; the
// scalar reference serves them). Must agree with run_dequantizer.
bool has_dequantizer(DType type) {
  return quant::is_supported(type) && type != DType::Q2_K && type != DType::Q3_K;
}

// Runs the dequantizer for `type` into sink; false (sending nothing) for types without one.
template <class Sink>
TM_AVX2 bool run_dequantizer(DType type, const uint8_t* src, int64_t n, Sink& sink) {
  switch (type) {
    case DType::F32:
      dq_f32(src, n, sink);
      return true;
    case DType::F16:
      dq_f16(src, n, sink);
      return true;
    case DType::BF16:
      dq_bf16(src, n, sink);
      return true;
    case DType::Q4_0:
      dq_q4_0(src, n, sink);
      return true;
    case DType::Q4_1:
      dq_q4_1(src, n, sink);
      return true;
    case DType::Q5_0:
      dq_q5_0(src, n, sink);
      return true;
    case DType::Q5_1:
      dq_q5_1(src, n, sink);
      return true;
    case DType::Q8_0:
      dq_q8_0(src, n, sink);
      return true;
    case DType::Q4_K:
      dq_q4_k(src, n, sink);
      return true;
    case DType::Q5_K:
      dq_q5_k(src, n, sink);
      return true;
    case DType::Q6_K:
      dq_q6_k(src, n, sink);
      return true;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// f32 dot products.

// Decode and small batches (n_tokens <= kFusedMaxTokens): each row is dequantized in registers
// and consumed at once by a DotSink for up to 4 tokens, never stored; for 5..8 tokens the row
// is dequantized twice, which is still cheaper than packing a panel.
constexpr int64_t kFusedMaxTokens = 8;

// y[t * y_stride] = dot(row, x + t * x_stride) for t < T; row is `n` weights of `type`, which
// has an AVX2 dequantizer (run_dequantizer returns true).
template <int T>
TM_AVX2 void fused_row(DType type, const uint8_t* row, int64_t n, const float* x, int64_t x_stride,
                       float* y, int64_t y_stride) {
  DotSink<T> sink(x, x_stride);
  run_dequantizer(type, row, n, sink);
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t) {
    __m256 total = sink.acc[0][t];
#pragma GCC unroll 4
    for (int s = 1; s < DotSink<T>::S; ++s) total = _mm256_add_ps(total, sink.acc[s][t]);
    y[t * y_stride] = hsum(total) + sink.tail[t];
  }
}

TM_AVX2 void fused_rows(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                        const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                        int64_t row_begin, int64_t row_end, float* scratch) {
  const bool fast = has_dequantizer(type);
  for (int64_t o = row_begin; o < row_end; ++o) {
    const uint8_t* row = W + static_cast<size_t>(o) * w_row_bytes;
    DType row_type = type;
    if (!fast) {  // Q2_K, Q3_K: the reference dequantizes, we take it from there as f32
      quant::dequantize_row(type, row, scratch, n_in);
      row = reinterpret_cast<const uint8_t*>(scratch);
      row_type = DType::F32;
    }
    for (int64_t t = 0; t < n_tokens; t += 4) {
      const float* xt = x + t * n_in;
      float* yt = y + t * y_stride + o;
      switch (n_tokens - t) {
        case 1:
          fused_row<1>(row_type, row, n_in, xt, n_in, yt, y_stride);
          break;
        case 2:
          fused_row<2>(row_type, row, n_in, xt, n_in, yt, y_stride);
          break;
        case 3:
          fused_row<3>(row_type, row, n_in, xt, n_in, yt, y_stride);
          break;
        default:
          fused_row<4>(row_type, row, n_in, xt, n_in, yt, y_stride);
          break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Prefill (n_tokens > kFusedMaxTokens): packed panels.
//
// kPanelRows = 16 dequantized weight rows are transposed into a panel laid out [n_in][16]:
// the 16 weights of input column i are panel[16 i .. 16 i + 16), two vectors. The kernel then
// computes a 16-row x T-token block of y as outer products: per column, 2 weight loads, T
// broadcasts of x[t][i], 2T FMAs into 2T accumulators that are y's values themselves (no
// horizontal sums). T = 6 uses 12 accumulators + 3 operands of the 16 ymm registers and is
// FMA-bound.

// dst[c * 16 + r] = rows[r][i0 + c] for r, c < 8 (an 8x8 transpose into the panel).
TM_AVX2 inline void transpose8x8(const float* const* rows, int64_t i0, float* dst) {
  __m256 v[8];
  for (int k = 0; k < 8; ++k) v[k] = _mm256_loadu_ps(rows[k] + i0);
  transpose8(v);
  for (int c = 0; c < 8; ++c) _mm256_storeu_ps(dst + c * 16, v[c]);
}

// Packs n_rows (<= 16) rows of n floats into panel[n][16]; missing rows are zeros.
TM_AVX2 void pack_panel(const float* const* rows, int64_t n_rows, int64_t n, float* panel) {
  for (int64_t half = 0; half < 2; ++half) {
    const int64_t r0 = 8 * half;
    int64_t i = 0;
    if (n_rows >= r0 + 8) {
      for (; i + 8 <= n; i += 8) transpose8x8(rows + r0, i, panel + 16 * i + r0);
    }
    for (; i < n; ++i) {
      for (int64_t r = r0; r < r0 + 8; ++r) panel[16 * i + r] = r < n_rows ? rows[r][i] : 0.0f;
    }
  }
}

// out[16 t + r] = sum_i panel[16 i + r] * x[t * x_stride + i] for t < T, r < 16. With few
// tokens the 2T accumulator chains are too short to hide the FMA latency, so T <= 3 keeps a
// second set of accumulators for odd columns.
template <int T>
TM_AVX2 void panel_kernel(const float* panel, const float* x, int64_t x_stride, int64_t n,
                          float* out) {
  constexpr int U = T <= 3 ? 2 : 1;
  __m256 acc0[U][T], acc1[U][T];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc0[u][t] = acc1[u][t] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + U <= n; i += U) {
#pragma GCC unroll 2
    for (int u = 0; u < U; ++u) {
      const __m256 w0 = _mm256_load_ps(panel + 16 * (i + u));
      const __m256 w1 = _mm256_load_ps(panel + 16 * (i + u) + 8);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m256 xb = _mm256_broadcast_ss(x + t * x_stride + i + u);
        acc0[u][t] = _mm256_fmadd_ps(w0, xb, acc0[u][t]);
        acc1[u][t] = _mm256_fmadd_ps(w1, xb, acc1[u][t]);
      }
    }
  }
  for (; i < n; ++i) {  // only when U = 2 and n is odd
    const __m256 w0 = _mm256_load_ps(panel + 16 * i);
    const __m256 w1 = _mm256_load_ps(panel + 16 * i + 8);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m256 xb = _mm256_broadcast_ss(x + t * x_stride + i);
      acc0[0][t] = _mm256_fmadd_ps(w0, xb, acc0[0][t]);
      acc1[0][t] = _mm256_fmadd_ps(w1, xb, acc1[0][t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    if constexpr (U == 2) {
      acc0[0][t] = _mm256_add_ps(acc0[0][t], acc0[1][t]);
      acc1[0][t] = _mm256_add_ps(acc1[0][t], acc1[1][t]);
    }
    _mm256_storeu_ps(out + 16 * t, acc0[0][t]);
    _mm256_storeu_ps(out + 16 * t + 8, acc1[0][t]);
  }
}

constexpr int kPanelTokens = 6;

TM_AVX2 void panel_tokens(int64_t T, const float* panel, const float* x, int64_t x_stride,
                          int64_t n, float* out) {
  switch (T) {
    case 6:
      panel_kernel<6>(panel, x, x_stride, n, out);
      break;
    case 5:
      panel_kernel<5>(panel, x, x_stride, n, out);
      break;
    case 4:
      panel_kernel<4>(panel, x, x_stride, n, out);
      break;
    case 3:
      panel_kernel<3>(panel, x, x_stride, n, out);
      break;
    case 2:
      panel_kernel<2>(panel, x, x_stride, n, out);
      break;
    default:
      panel_kernel<1>(panel, x, x_stride, n, out);
      break;
  }
}

// Row o as f32: F32 rows are used in place when float-aligned; everything else is
// dequantized into buf.
const float* weight_row(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in, int64_t o,
                        float* buf) {
  const uint8_t* src = W + static_cast<size_t>(o) * w_row_bytes;
  if (type == DType::F32 && reinterpret_cast<uintptr_t>(src) % alignof(float) == 0)
    return reinterpret_cast<const float*>(src);
  if (!dequantize_row_avx2(type, src, buf, n_in)) quant::dequantize_row(type, src, buf, n_in);
  return buf;
}

}  // namespace

namespace {
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}
}  // namespace

bool cpu_has_avx2() {
  // __builtin_cpu_init: we may run from a static initializer, before libgcc's own.
  // F16C through cpuid: clang 14's __builtin_cpu_supports does not know "f16c".
  static const bool has = (__builtin_cpu_init(), true) && __builtin_cpu_supports("avx2") &&
                          __builtin_cpu_supports("fma") && cpu_has_f16c();
  return has;
}

bool cpu_has_avx512_vnni() {
  static const bool has = (__builtin_cpu_init(), true) && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

// The entry points declared in the header carry no target attribute themselves (a declaration
// and definition that disagree on it would be two different functions to GCC); they call the
// TM_AVX2 code.
bool dequantize_row_avx2(DType type, const uint8_t* src, float* dst, int64_t n) {
  StoreSink sink{dst};
  return run_dequantizer(type, src, n, sink);
}

namespace {

TM_AVX2 void matmul_rows_impl(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                              const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                              int64_t row_begin, int64_t row_end, float* scratch, float* buffer) {
  if (n_tokens <= kFusedMaxTokens) {
    fused_rows(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride, row_begin, row_end, scratch);
    return;
  }
  // Prefill: for each panel of 16 rows, dequantize, pack, and run all tokens over it, 6 at a
  // time. The panel (16 * n_in floats) is reused n_tokens / 6 times from L1/L2.
  float* rows_buf = buffer;
  float* panel = buffer + kPanelRows * n_in;
  for (int64_t p0 = row_begin; p0 < row_end; p0 += kPanelRows) {
    const int64_t rows = row_end - p0 < kPanelRows ? row_end - p0 : kPanelRows;
    const float* w[kPanelRows];
    for (int64_t r = 0; r < rows; ++r)
      w[r] = weight_row(type, W, w_row_bytes, n_in, p0 + r, rows_buf + r * n_in);
    pack_panel(w, rows, n_in, panel);
    for (int64_t t = 0; t < n_tokens; t += kPanelTokens) {
      const int64_t T = n_tokens - t < kPanelTokens ? n_tokens - t : kPanelTokens;
      float out[kPanelTokens * kPanelRows];
      panel_tokens(T, panel, x + t * n_in, n_in, n_in, out);
      for (int64_t k = 0; k < T; ++k)
        std::memcpy(y + (t + k) * y_stride + p0, out + kPanelRows * k,
                    static_cast<size_t>(rows) * sizeof(float));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Batch-invariant f32 kernel (formats without int16 kernels, and all formats with
// --kernels f32). One definition per (weight row, token row): 8 lane partial sums, lane l an
// fma chain over k = l, l + 8, ... < n8 = n - n % 8 in order; then hsum (a fixed tree); then
// the last n % 8 products with scalar fmas in order. Tiles of R rows x T tokens only choose
// which chains run side by side (for latency), never a chain's operations, so the result does
// not depend on the batch. Rows are dequantized to f32 first (aligned F32 rows used in place).

TM_AVX2 inline float fma1(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

// out[t * 8 + r] for r < R, t < T.
template <int R, int T>
TM_AVX2 void dot_tile(const float* const* w, const float* x, int64_t n, float* out) {
  const int64_t n8 = n - n % 8;
  __m256 acc[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < n8; k += 8) {
    __m256 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = _mm256_loadu_ps(w[r] + k);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * n + k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float s = hsum(acc[r][t]);
      for (int64_t k = n8; k < n; ++k) s = fma1(w[r][k], x[t * n + k], s);
      out[t * 8 + r] = s;
    }
}

TM_AVX2 void f32_invariant_impl(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                                const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                                int64_t row_begin, int64_t row_end, float* buffer) {
  for (int64_t o0 = row_begin; o0 < row_end; o0 += 8) {
    const int rows = static_cast<int>(std::min<int64_t>(8, row_end - o0));
    const float* w[8];
    for (int r = 0; r < 8; ++r)  // rows past the range repeat the last one (dropped below)
      w[r] = r < rows ? weight_row(type, W, w_row_bytes, n_in, o0 + r, buffer + r * n_in)
                      : w[rows - 1];
    float out[4 * 8];
    if (n_tokens == 1) {
      dot_tile<8, 1>(w, x, n_in, out);
      std::memcpy(y + o0, out, static_cast<size_t>(rows) * sizeof(float));
      continue;
    }
    for (int64_t t = 0; t < n_tokens; t += 2) {
      const int T = static_cast<int>(std::min<int64_t>(2, n_tokens - t));
      for (int half = 0; half < 2 && 4 * half < rows; ++half) {
        if (T == 2)
          dot_tile<4, 2>(w + 4 * half, x + t * n_in, n_in, out + 4 * half);
        else
          dot_tile<4, 1>(w + 4 * half, x + t * n_in, n_in, out + 4 * half);
      }
      for (int k = 0; k < T; ++k)
        std::memcpy(y + (t + k) * y_stride + o0, out + 8 * k,
                    static_cast<size_t>(rows) * sizeof(float));
    }
  }
}

}  // namespace

void matmul_rows_avx2(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                      const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end, float* scratch, float* buffer) {
  matmul_rows_impl(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride, row_begin, row_end,
                   scratch, buffer);
}

}  // namespace tmill::cpu::detail

namespace tmill::cpu::detail {

void matmul_rows_f32_invariant(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                               const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                               int64_t row_begin, int64_t row_end, float* buffer) {
  f32_invariant_impl(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride, row_begin, row_end,
                     buffer);
}

}  // namespace tmill::cpu::detail
