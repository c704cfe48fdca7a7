// The 256-element K-quant super-blocks Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (layouts in blocks.h):
// dequantization. Quantization is in quantize_kquants.cpp.
//
// Dequantization uses the same float operations in the same order as ggml / gguf-py
// (sub-block factor first, e.g. (d * sc) * q - dmin * m), so results are bit-identical.
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/formats_internal.h"

namespace tmill::quant::detail {

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ2_K>(src, i);
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    float* y = dst + i * kQK_K;
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {
        for (int half16 = 0; half16 < 2; ++half16) {
          const uint8_t sc = b.scales[8 * h + 2 * k + half16];
          const float dl = d * static_cast<float>(sc & 15);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 16 * half16; l < 16 * half16 + 16; ++l) {
            const int q = (b.qs[32 * h + l] >> (2 * k)) & 3;
            y[128 * h + 32 * k + l] = dl * static_cast<float>(q) - ml;
          }
        }
      }
    }
  }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ3_K>(src, i);
    const float d = f16_to_f32(b.d);
    int8_t scale[16];
    unpack_q3_k_scales(b.scales, scale);
    float* y = dst + i * kQK_K;
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {
        const int hbit = 4 * h + k;
        for (int half16 = 0; half16 < 2; ++half16) {
          const float dl = d * static_cast<float>(scale[8 * h + 2 * k + half16]);
          for (int l = 16 * half16; l < 16 * half16 + 16; ++l) {
            const int low = (b.qs[32 * h + l] >> (2 * k)) & 3;
            const int high = (b.hmask[l] >> hbit) & 1;  // set: q = low, clear: q = low - 4
            y[128 * h + 32 * k + l] = dl * static_cast<float>(low - 4 + 4 * high);
          }
        }
      }
    }
  }
}

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ4_K>(src, i);
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    uint8_t sc[8], m[8];
    unpack_k_scales(b.scales, sc, m);
    float* y = dst + i * kQK_K;
    for (int c = 0; c < 4; ++c) {
      const float d0 = d * static_cast<float>(sc[2 * c]);
      const float m0 = dmin * static_cast<float>(m[2 * c]);
      const float d1 = d * static_cast<float>(sc[2 * c + 1]);
      const float m1 = dmin * static_cast<float>(m[2 * c + 1]);
      for (int l = 0; l < 32; ++l) {
        const uint8_t q = b.qs[32 * c + l];
        y[64 * c + l] = d0 * static_cast<float>(q & 15) - m0;
        y[64 * c + 32 + l] = d1 * static_cast<float>(q >> 4) - m1;
      }
    }
  }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ5_K>(src, i);
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    uint8_t sc[8], m[8];
    unpack_k_scales(b.scales, sc, m);
    float* y = dst + i * kQK_K;
    for (int c = 0; c < 4; ++c) {
      const float d0 = d * static_cast<float>(sc[2 * c]);
      const float m0 = dmin * static_cast<float>(m[2 * c]);
      const float d1 = d * static_cast<float>(sc[2 * c + 1]);
      const float m1 = dmin * static_cast<float>(m[2 * c + 1]);
      for (int l = 0; l < 32; ++l) {
        const uint8_t q = b.qs[32 * c + l];
        const int q0 = (q & 15) | (((b.qh[l] >> (2 * c)) & 1) << 4);
        const int q1 = (q >> 4) | (((b.qh[l] >> (2 * c + 1)) & 1) << 4);
        y[64 * c + l] = d0 * static_cast<float>(q0) - m0;
        y[64 * c + 32 + l] = d1 * static_cast<float>(q1) - m1;
      }
    }
  }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ6_K>(src, i);
    const float d = f16_to_f32(b.d);
    int8_t q[kQK_K];
    q6_k_codes(b, q);
    float* y = dst + i * kQK_K;
    for (int e = 0; e < kQK_K; ++e)
      y[e] = (d * static_cast<float>(b.scales[e / 16])) * static_cast<float>(q[e]);
  }
}

}  // namespace tmill::quant::detail
