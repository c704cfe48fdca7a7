// The 256-element K-quant super-blocks Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (layouts in blocks.h).
//
// Dequantization uses the same float operations in the same order as ggml / gguf-py
// (sub-block factor first, e.g. (d * sc) * q - dmin * m), so results are bit-identical.
//
// Quantization is our own simple (not importance-weighted) search, good enough for tests and
// a first quantizer, not tuned to match llama.cpp's output:
//   1. Per sub-block, fit the codes' float scale (and min, for the formats with one) by trying
//      a dozen candidate scales around "range / number of levels", rounding the sub-block to
//      codes with each, refitting scale (and min) to those codes by least squares, and keeping
//      the candidate with the smallest squared error.
//   2. The super-block's f16 d (and dmin) = the largest sub-block scale (min) / the largest
//      integer sub-scale; the sub-block scales become integers relative to the f16-rounded d.
//   3. Every element is re-rounded against the final integer sub-scales, so the codes are
//      the nearest ones for the scales actually stored.
// Formats with a min store it as a non-negative m, x = a * q - m, so a sub-block's fitted
// offset is limited to <= 0 (its range is widened to include 0), as in ggml.
#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/formats_internal.h"

namespace tmill::quant::detail {
namespace {

// Candidate scales are (range / levels) / f for f in [0.7, 1.3] in 13 steps: f > 1 clips the
// extreme values for a finer step, f < 1 is coarser.
constexpr int kSearchSteps = 13;
float search_factor(int k) { return 0.7f + 0.05f * static_cast<float>(k); }

// x ~= s * q, q in [qmin, qmax] (qmin < 0 < qmax). Returns s (0 for an all-zero or
// non-finite sub-block, which then stores zeros).
float fit_symmetric(const float* x, int n, int qmin, int qmax) {
  float amax = 0.0f;
  float vmax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      vmax = x[i];
    }
  }
  if (!(amax > 0.0f) || !std::isfinite(amax)) return 0.0f;
  float best_scale = vmax / static_cast<float>(qmin);
  double best_gain = -1.0;
  for (int k = 0; k < kSearchSteps; ++k) {
    // The value of largest magnitude maps near the most negative code, as in Q4_0.
    const float s = vmax / (static_cast<float>(qmin) * search_factor(k));
    double sxl = 0.0;
    double sll = 0.0;
    for (int i = 0; i < n; ++i) {
      const int q = round_clamp(x[i] / s, qmin, qmax);
      sxl += static_cast<double>(x[i]) * q;
      sll += static_cast<double>(q) * q;
    }
    if (sll <= 0.0) continue;
    // With the least-squares scale sxl/sll the error is sum(x^2) - sxl^2/sll: maximize the
    // second term.
    const double gain = sxl * sxl / sll;
    if (gain > best_gain) {
      best_gain = gain;
      best_scale = static_cast<float>(sxl / sll);
    }
  }
  return best_scale;
}

struct AsymFit {
  float scale;  // >= 0
  float min;    // >= 0; x ~= scale * q - min
};

// x ~= a * q - m, q in [0, qmax], a >= 0, m >= 0.
AsymFit fit_asymmetric(const float* x, int n, int qmax) {
  float lo = 0.0f;
  float hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::fmin(lo, x[i]);
    hi = std::fmax(hi, x[i]);
  }
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0.0f, 0.0f};
  if (!(hi > lo)) return {0.0f, -lo};  // constant (<= 0) sub-block
  AsymFit best{(hi - lo) / static_cast<float>(qmax), -lo};
  double best_err = std::numeric_limits<double>::infinity();
  int q[kQK_K];
  for (int k = 0; k < kSearchSteps; ++k) {
    const float a0 = (hi - lo) / (static_cast<float>(qmax) * search_factor(k));
    double sl = 0, sll = 0, sx = 0, sxl = 0;
    for (int i = 0; i < n; ++i) {
      q[i] = round_clamp((x[i] - lo) / a0, 0, qmax);
      sl += q[i];
      sll += static_cast<double>(q[i]) * q[i];
      sx += x[i];
      sxl += static_cast<double>(x[i]) * q[i];
    }
    // Least squares for x ~= a * q + b, then enforce b <= 0.
    const double det = n * sll - sl * sl;
    double a = 0.0;
    double b = 0.0;
    if (det > 0.0) {
      a = (n * sxl - sl * sx) / det;
      b = (sll * sx - sl * sxl) / det;
    }
    if (b > 0.0 || det <= 0.0) {
      b = 0.0;
      a = sll > 0.0 ? sxl / sll : 0.0;
    }
    if (a < 0.0) continue;
    double err = 0.0;
    for (int i = 0; i < n; ++i) {
      const double e = x[i] - (a * q[i] + b);
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best = {static_cast<float>(a), static_cast<float>(-b)};
    }
  }
  return best;
}

// Integer sub-scale for value v given the stored super-scale d.
int sub_scale(float v, float d, int lo, int hi) {
  return d != 0.0f ? round_clamp(v / d, lo, hi) : 0;
}

// The Q2/Q4/Q5_K pattern: n_sub sub-blocks of `len` elements, codes in [0, qmax], integer
// scales and mins in [0, smax]. Writes d, dmin, the integer scales/mins and the codes.
struct AsymSuper {
  uint16_t d;
  uint16_t dmin;
  uint8_t sc[16];
  uint8_t m[16];
  uint8_t q[kQK_K];
};

AsymSuper quantize_asym_super(const float* x, int n_sub, int len, int qmax, int smax) {
  AsymFit fit[16];
  float max_scale = 0.0f;
  float max_min = 0.0f;
  for (int s = 0; s < n_sub; ++s) {
    fit[s] = fit_asymmetric(x + s * len, len, qmax);
    max_scale = std::fmax(max_scale, fit[s].scale);
    max_min = std::fmax(max_min, fit[s].min);
  }
  AsymSuper r;
  r.d = f32_to_f16(max_scale / static_cast<float>(smax));
  r.dmin = f32_to_f16(max_min / static_cast<float>(smax));
  const float d = f16_to_f32(r.d);
  const float dmin = f16_to_f32(r.dmin);
  for (int s = 0; s < n_sub; ++s) {
    r.sc[s] = static_cast<uint8_t>(sub_scale(fit[s].scale, d, 0, smax));
    r.m[s] = static_cast<uint8_t>(sub_scale(fit[s].min, dmin, 0, smax));
    const float a = d * r.sc[s];
    const float m = dmin * r.m[s];
    for (int i = 0; i < len; ++i) {
      const int e = s * len + i;
      r.q[e] = static_cast<uint8_t>(a > 0.0f ? round_clamp((x[e] + m) / a, 0, qmax) : 0);
    }
  }
  return r;
}

// The Q3/Q6_K pattern: 16 sub-blocks of 16, codes in [qmin, qmax], signed integer scales in
// [-smax, smax]. q[] holds the codes biased by -qmin (so they are >= 0).
struct SymSuper {
  uint16_t d;
  int8_t sc[16];
  uint8_t q[kQK_K];
};

SymSuper quantize_sym_super(const float* x, int qmin, int qmax, int smax) {
  float scale[16];
  float max_abs = 0.0f;
  for (int s = 0; s < 16; ++s) {
    scale[s] = fit_symmetric(x + 16 * s, 16, qmin, qmax);
    max_abs = std::fmax(max_abs, std::fabs(scale[s]));
  }
  SymSuper r;
  r.d = f32_to_f16(max_abs / static_cast<float>(smax));
  const float d = f16_to_f32(r.d);
  for (int s = 0; s < 16; ++s) {
    r.sc[s] = static_cast<int8_t>(sub_scale(scale[s], d, -smax, smax));
    const float a = d * r.sc[s];
    for (int i = 0; i < 16; ++i) {
      const int e = 16 * s + i;
      const int q = a != 0.0f ? round_clamp(x[e] / a, qmin, qmax) : 0;
      r.q[e] = static_cast<uint8_t>(q - qmin);
    }
  }
  return r;
}

}  // namespace

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
    float* y = dst + i * kQK_K;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t* qh = b.qh + 32 * h;
      const int8_t* sc = b.scales + 8 * h;
      float* yh = y + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q0 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q1 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        yh[l] = (d * static_cast<float>(sc[s])) * static_cast<float>(q0);
        yh[l + 32] = (d * static_cast<float>(sc[s + 2])) * static_cast<float>(q1);
        yh[l + 64] = (d * static_cast<float>(sc[s + 4])) * static_cast<float>(q2);
        yh[l + 96] = (d * static_cast<float>(sc[s + 6])) * static_cast<float>(q3);
      }
    }
  }
}

void quantize_q2_k(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const AsymSuper r = quantize_asym_super(src + i * kQK_K, 16, 16, 3, 15);
    BlockQ2_K b;
    std::memset(&b, 0, sizeof b);
    b.d = r.d;
    b.dmin = r.dmin;
    for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<uint8_t>(r.sc[s] | (r.m[s] << 4));
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, k = (e % 128) / 32, l = e % 32;
      b.qs[32 * h + l] = static_cast<uint8_t>(b.qs[32 * h + l] | (r.q[e] << (2 * k)));
    }
    store_block(dst, i, b);
  }
}

void quantize_q3_k(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    // Codes q in [-4, 3] are stored as q + 4 in [0, 7]: 2 low bits in qs, bit 2 in hmask.
    const SymSuper r = quantize_sym_super(src + i * kQK_K, -4, 3, 31);
    BlockQ3_K b;
    std::memset(&b, 0, sizeof b);
    b.d = r.d;
    pack_q3_k_scales(r.sc, b.scales);
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, k = (e % 128) / 32, l = e % 32;
      b.qs[32 * h + l] = static_cast<uint8_t>(b.qs[32 * h + l] | ((r.q[e] & 3) << (2 * k)));
      b.hmask[l] = static_cast<uint8_t>(b.hmask[l] | ((r.q[e] >> 2) << (4 * h + k)));
    }
    store_block(dst, i, b);
  }
}

void quantize_q4_k(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const AsymSuper r = quantize_asym_super(src + i * kQK_K, 8, 32, 15, 63);
    BlockQ4_K b;
    b.d = r.d;
    b.dmin = r.dmin;
    pack_k_scales(r.sc, r.m, b.scales);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l)
        b.qs[32 * c + l] = static_cast<uint8_t>(r.q[64 * c + l] | (r.q[64 * c + 32 + l] << 4));
    }
    store_block(dst, i, b);
  }
}

void quantize_q5_k(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const AsymSuper r = quantize_asym_super(src + i * kQK_K, 8, 32, 31, 63);
    BlockQ5_K b;
    std::memset(&b, 0, sizeof b);
    b.d = r.d;
    b.dmin = r.dmin;
    pack_k_scales(r.sc, r.m, b.scales);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int q0 = r.q[64 * c + l];
        const int q1 = r.q[64 * c + 32 + l];
        b.qs[32 * c + l] = static_cast<uint8_t>((q0 & 15) | ((q1 & 15) << 4));
        b.qh[l] =
            static_cast<uint8_t>(b.qh[l] | ((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1)));
      }
    }
    store_block(dst, i, b);
  }
}

void quantize_q6_k(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    // Codes q in [-32, 31] are stored as q + 32 in [0, 63]; sub-scales are int8 in [-127, 127].
    const SymSuper r = quantize_sym_super(src + i * kQK_K, -32, 31, 127);
    BlockQ6_K b;
    std::memset(&b, 0, sizeof b);
    b.d = r.d;
    std::memcpy(b.scales, r.sc, sizeof b.scales);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = r.q + 128 * h;
      uint8_t* ql = b.ql + 64 * h;
      uint8_t* qh = b.qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((q[l] & 15) | ((q[l + 64] & 15) << 4));
        ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 15) | ((q[l + 96] & 15) << 4));
        qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) |
                                     ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
      }
    }
    store_block(dst, i, b);
  }
}

}  // namespace tmill::quant::detail
