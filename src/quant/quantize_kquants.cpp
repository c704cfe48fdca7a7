// Quantization to the K-quant super-blocks Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (layouts in blocks.h;
// dequantization is in kquants.cpp).
//
// Each format stores a super-block scale d (and dmin) in f16, small integer sub-block scales
// (and mins), and per-element codes. Every element's reconstruction is
//   x' = (d * sc[s]) * q - (dmin * m[s])    (Q2_K, Q4_K, Q5_K: "asymmetric", codes >= 0)
//   x' = (d * sc[s]) * q                    (Q3_K, Q6_K: "symmetric", signed codes)
// and we choose d, dmin, sc, m and q to minimize the weighted squared error
//   E = sum_i w_i (x'_i - x_i)^2,
// with importance weights w_i that favour larger values (see weights_for()), in three stages:
//
//   1. Sub-block fit. For each sub-block, candidate step sizes around range / levels are
//      tried; for each, the elements are rounded to codes and the float scale (and offset) are
//      refitted to those codes by weighted least squares, with the error evaluated in closed
//      form from the accumulated sums (no second pass). The best candidate is then polished by
//      alternating "round codes with the current scale/offset" and "refit scale/offset to the
//      codes" while the error keeps dropping.
//   2. Super-block scales. d (dmin) = largest sub-block scale (min) / the largest integer
//      sub-scale; sub-scales become integers relative to the f16-rounded d (dmin).
//   3. Super-block refinement. With the integer sub-scales fixed, every element is re-rounded
//      against the scales actually stored, then d (and dmin) are refitted by weighted least
//      squares over the whole super-block (a 1- or 2-parameter linear fit) and the elements
//      re-rounded again; the best (d, dmin, codes) seen is kept.
//
// Stage 3 is what the plain round-trip of stage 2 loses most on: the integer sub-scales are
// coarse (4 bits in Q2_K), so the f16 d that best fits them is not max_scale / 15.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/formats_internal.h"

namespace tmill::quant::detail {
namespace {

// Nearest integer in [lo, hi], ties upward; NaN maps to lo (the comparison is false),
// infinities to a bound. After clamping v - lo >= 0, so truncation is floor. Written with
// plain comparisons so it compiles to minss/maxss/cvttss2si: std::fmin, lrintf and roundf
// are library calls at -O3 without -ffast-math.
inline int qround(float v, int lo, int hi) {
  const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
  v = v > flo ? v : flo;
  v = v < fhi ? v : fhi;
  return static_cast<int>(v - flo + 0.5f) + lo;
}

bool all_finite(const float* x, int n) {
  for (int i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

// Importance weights. Plain least squares (w = 1) minimizes the RMSE of the round trip; the
// weights below trade a little of it for smaller error on the large-magnitude elements, which
// carry most of a matrix-vector product's signal:
//   Q4_K/Q5_K: rms(sub-block) + |x|     Q2_K: |x| + rms/4 (a floor, so zeros still count)
//   Q3_K/Q6_K: x^2 + rms^2/2
enum class Weighting { RmsPlusAbs, AbsFloor, SquarePlusFloor };

void weights_for(Weighting kind, const float* x, int n, float* w) {
  float sum_x2 = 0.0f;
  for (int i = 0; i < n; ++i) sum_x2 += x[i] * x[i];
  const float rms = std::sqrt(sum_x2 / static_cast<float>(n));
  for (int i = 0; i < n; ++i) {
    switch (kind) {
      case Weighting::RmsPlusAbs:
        w[i] = rms + std::fabs(x[i]);
        break;
      case Weighting::AbsFloor:
        w[i] = std::fabs(x[i]) + 0.25f * rms;
        break;
      case Weighting::SquarePlusFloor:
        w[i] = x[i] * x[i] + 0.5f * sum_x2 / static_cast<float>(n);
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Asymmetric sub-block: x ~= a * q + b, q in [0, nmax], a >= 0, b <= 0 (stored as min = -b).

struct AsymFit {
  float scale = 0.0f;  // a
  float min = 0.0f;    // -b >= 0
};

// Weighted sums over a sub-block for one set of codes.
struct LinSums {
  float sw = 0, sx = 0, sxx = 0;  // code-independent
  float sl = 0, sll = 0, sxl = 0;
};

// Least-squares (a, b) with b <= 0 for the codes behind `s`, and its weighted error.
// Returns false when the codes cannot determine a positive scale.
bool solve_asym(const LinSums& s, float* a, float* b, float* err) {
  const float det = s.sw * s.sll - s.sl * s.sl;
  float aa = 0.0f, bb = 0.0f;
  if (det > 0.0f) {
    aa = (s.sw * s.sxl - s.sx * s.sl) / det;
    bb = (s.sll * s.sx - s.sl * s.sxl) / det;
  }
  if (!(det > 0.0f) || bb > 0.0f) {
    bb = 0.0f;
    aa = s.sll > 0.0f ? s.sxl / s.sll : 0.0f;
  }
  if (!(aa > 0.0f)) return false;
  // sum w (a l + b - x)^2 expanded.
  *err = s.sxx + aa * aa * s.sll + bb * bb * s.sw - 2.0f * aa * s.sxl - 2.0f * bb * s.sx +
         2.0f * aa * bb * s.sl;
  *a = aa;
  *b = bb;
  return true;
}

// Codes for x ~= a * q + b and their sums.
void round_asym(const float* x, const float* w, int n, int nmax, float inv_a, float b, LinSums* s) {
  s->sl = s->sll = s->sxl = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float l = static_cast<float>(qround((x[i] - b) * inv_a, 0, nmax));
    s->sl += w[i] * l;
    s->sll += w[i] * l * l;
    s->sxl += w[i] * x[i] * l;
  }
}

// Candidate steps (hi - lo) / (nmax + r) for r = rmin, rmin + rstep, ... (n_steps + 1 values).
AsymFit fit_asym(const float* x, const float* w, int n, int nmax, float rmin, float rstep,
                 int n_steps) {
  float lo = 0.0f, hi = x[0];
  LinSums s;
  for (int i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
    s.sw += w[i];
    s.sx += w[i] * x[i];
    s.sxx += w[i] * x[i] * x[i];
  }
  if (!(hi > lo)) return {0.0f, -lo};  // constant sub-block, <= 0
  const float range = hi - lo;
  // Start from the plain min/max mapping.
  float best_a = range / static_cast<float>(nmax), best_b = lo;
  round_asym(x, w, n, nmax, 1.0f / best_a, best_b, &s);
  float best_err = s.sxx + best_a * best_a * s.sll + best_b * best_b * s.sw -
                   2.0f * best_a * s.sxl - 2.0f * best_b * s.sx + 2.0f * best_a * best_b * s.sl;
  for (int k = 0; k <= n_steps; ++k) {
    const float inv = (static_cast<float>(nmax) + rmin + rstep * static_cast<float>(k)) / range;
    if (!(inv > 0.0f)) continue;
    round_asym(x, w, n, nmax, inv, lo, &s);
    float a, b, err;
    if (solve_asym(s, &a, &b, &err) && err < best_err) {
      best_err = err;
      best_a = a;
      best_b = b;
    }
  }
  // Polish: re-round with the fitted (a, b), refit, while it helps.
  for (int it = 0; it < 3; ++it) {
    round_asym(x, w, n, nmax, 1.0f / best_a, best_b, &s);
    float a, b, err;
    if (!solve_asym(s, &a, &b, &err) || !(err < best_err * (1.0f - 1e-6f))) break;
    best_err = err;
    best_a = a;
    best_b = b;
  }
  return {best_a, -best_b};
}

// The Q2/Q4/Q5_K super-block: n_sub sub-blocks of `len`, codes in [0, nmax], integer scales
// and mins in [0, smax].
struct AsymSuper {
  uint16_t d = 0;
  uint16_t dmin = 0;
  uint8_t sc[16] = {};
  uint8_t m[16] = {};
  uint8_t q[kQK_K] = {};
};

// Codes for the stored (f16) d/dmin and integer sub-scales; returns the weighted error.
float round_asym_super(const float* x, const float* w, int n_sub, int len, int nmax, AsymSuper* r) {
  const float d = f16_to_f32(r->d);
  const float dmin = f16_to_f32(r->dmin);
  float err = 0.0f;
  for (int s = 0; s < n_sub; ++s) {
    const float a = d * static_cast<float>(r->sc[s]);
    const float m = dmin * static_cast<float>(r->m[s]);
    const float inv = a > 0.0f ? 1.0f / a : 0.0f;
    for (int i = s * len; i < (s + 1) * len; ++i) {
      const int q = a > 0.0f ? qround((x[i] + m) * inv, 0, nmax) : 0;
      r->q[i] = static_cast<uint8_t>(q);
      const float e = a * static_cast<float>(q) - m - x[i];
      err += w[i] * e * e;
    }
  }
  return err;
}

AsymSuper quantize_asym_super(const float* x, Weighting weighting, int n_sub, int len, int nmax,
                              int smax, float rmin, float rstep, int n_steps) {
  AsymSuper best;
  if (!all_finite(x, n_sub * len)) return best;  // zeros: nothing sensible to fit
  float w[kQK_K];
  AsymFit fit[16];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int s = 0; s < n_sub; ++s) {
    weights_for(weighting, x + s * len, len, w + s * len);
    fit[s] = fit_asym(x + s * len, w + s * len, len, nmax, rmin, rstep, n_steps);
    max_scale = std::fmax(max_scale, fit[s].scale);
    max_min = std::fmax(max_min, fit[s].min);
  }
  AsymSuper cur;
  cur.d = f32_to_f16(max_scale / static_cast<float>(smax));
  cur.dmin = f32_to_f16(max_min / static_cast<float>(smax));
  const float d0 = f16_to_f32(cur.d), dmin0 = f16_to_f32(cur.dmin);
  for (int s = 0; s < n_sub; ++s) {
    cur.sc[s] = static_cast<uint8_t>(d0 > 0.0f ? qround(fit[s].scale / d0, 0, smax) : 0);
    cur.m[s] = static_cast<uint8_t>(dmin0 > 0.0f ? qround(fit[s].min / dmin0, 0, smax) : 0);
  }
  float best_err = round_asym_super(x, w, n_sub, len, nmax, &cur);
  best = cur;
  // Refit d and dmin to the integer sub-scales and codes: x ~= d * u - dmin * v with
  // u = sc * q, v = m, by weighted least squares (both >= 0), then re-round.
  for (int it = 0; it < 2; ++it) {
    float suu = 0, svv = 0, suv = 0, sxu = 0, sxv = 0;
    for (int s = 0; s < n_sub; ++s) {
      const float v = static_cast<float>(cur.m[s]);
      for (int i = s * len; i < (s + 1) * len; ++i) {
        const float u = static_cast<float>(cur.sc[s]) * static_cast<float>(cur.q[i]);
        suu += w[i] * u * u;
        svv += w[i] * v * v;
        suv += w[i] * u * v;
        sxu += w[i] * x[i] * u;
        sxv += w[i] * x[i] * v;
      }
    }
    // minimize sum w (d u - e v - x)^2 over d, e (e = dmin).
    const float det = suu * svv - suv * suv;
    float d = 0.0f, e = 0.0f;
    if (det > 0.0f) {
      d = (sxu * svv - sxv * suv) / det;
      e = (sxu * suv - sxv * suu) / det;
    }
    if (!(det > 0.0f) || e < 0.0f) {
      e = 0.0f;
      d = suu > 0.0f ? sxu / suu : 0.0f;
    }
    if (!(d > 0.0f) || !std::isfinite(d) || !std::isfinite(e)) break;
    cur.d = f32_to_f16(d);
    cur.dmin = f32_to_f16(e);
    const float err = round_asym_super(x, w, n_sub, len, nmax, &cur);
    if (!(err < best_err)) break;
    best_err = err;
    best = cur;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Symmetric sub-block: x ~= a * q, q in [-nneg, npos] (npos = nneg - 1).

// Weighted least-squares scale over many candidate steps; the element of largest magnitude
// maps near the most negative code, which has one more level than the positive side.
float fit_sym(const float* x, const float* w, int n, int nneg, int n_steps, float rstep) {
  const int npos = nneg - 1;
  float amax = 0.0f, vmax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      vmax = x[i];
    }
  }
  if (!(amax > 0.0f)) return 0.0f;
  float best_a = vmax / -static_cast<float>(nneg);
  float best_gain = -1.0f;
  auto try_inverse = [&](float inv) {
    float sxl = 0.0f, sll = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(qround(x[i] * inv, -nneg, npos));
      sxl += w[i] * x[i] * l;
      sll += w[i] * l * l;
    }
    // With the least-squares a = sxl / sll the error is sum w x^2 - sxl^2 / sll.
    if (sll > 0.0f && sxl * sxl > best_gain * sll) {
      best_gain = sxl * sxl / sll;
      best_a = sxl / sll;
    }
  };
  for (int k = -n_steps; k <= n_steps; ++k)
    try_inverse(-(static_cast<float>(nneg) + rstep * static_cast<float>(k)) / vmax);
  for (int it = 0; it < 2 && best_a != 0.0f; ++it) {
    const float before = best_gain;
    try_inverse(1.0f / best_a);
    if (!(best_gain > before)) break;
  }
  return best_a;
}

// The Q3/Q6_K super-block: 16 sub-blocks of 16, codes in [-nneg, nneg - 1], signed integer
// sub-scales in [-sneg, sneg - 1]. q[] holds the codes biased by +nneg (so they are >= 0).
struct SymSuper {
  uint16_t d = 0;
  int8_t sc[16] = {};
  uint8_t q[kQK_K] = {};
};

float round_sym_super(const float* x, const float* w, int nneg, SymSuper* r) {
  const float d = f16_to_f32(r->d);
  float err = 0.0f;
  for (int s = 0; s < 16; ++s) {
    const float a = d * static_cast<float>(r->sc[s]);
    const float inv = a != 0.0f ? 1.0f / a : 0.0f;
    for (int i = 16 * s; i < 16 * s + 16; ++i) {
      const int q = a != 0.0f ? qround(x[i] * inv, -nneg, nneg - 1) : 0;
      r->q[i] = static_cast<uint8_t>(q + nneg);
      const float e = a * static_cast<float>(q) - x[i];
      err += w[i] * e * e;
    }
  }
  return err;
}

SymSuper quantize_sym_super(const float* x, Weighting weighting, int nneg, int sneg, int n_steps,
                            float rstep) {
  SymSuper best;
  for (auto& q : best.q) q = static_cast<uint8_t>(nneg);  // code 0
  if (!all_finite(x, kQK_K)) return best;
  float w[kQK_K];
  float scale[16];
  float amax = 0.0f, vmax = 0.0f;
  for (int s = 0; s < 16; ++s) {
    weights_for(weighting, x + 16 * s, 16, w + 16 * s);
    scale[s] = fit_sym(x + 16 * s, w + 16 * s, 16, nneg, n_steps, rstep);
    if (std::fabs(scale[s]) > amax) {
      amax = std::fabs(scale[s]);
      vmax = scale[s];
    }
  }
  if (!(amax > 0.0f)) return best;
  SymSuper cur;
  // The largest sub-scale maps to the most negative integer, as the codes do.
  cur.d = f32_to_f16(vmax / -static_cast<float>(sneg));
  const float d0 = f16_to_f32(cur.d);
  for (int s = 0; s < 16; ++s)
    cur.sc[s] = static_cast<int8_t>(d0 != 0.0f ? qround(scale[s] / d0, -sneg, sneg - 1) : 0);
  float best_err = round_sym_super(x, w, nneg, &cur);
  best = cur;
  // Refit d to the integer sub-scales and codes (x ~= d * sc * (q - nneg)), re-round.
  for (int it = 0; it < 2; ++it) {
    float suu = 0.0f, sxu = 0.0f;
    for (int s = 0; s < 16; ++s) {
      for (int i = 16 * s; i < 16 * s + 16; ++i) {
        const float u = static_cast<float>(cur.sc[s]) * static_cast<float>(cur.q[i] - nneg);
        suu += w[i] * u * u;
        sxu += w[i] * x[i] * u;
      }
    }
    if (!(suu > 0.0f)) break;
    const float d = sxu / suu;
    if (!std::isfinite(d) || d == 0.0f) break;
    cur.d = f32_to_f16(d);
    const float err = round_sym_super(x, w, nneg, &cur);
    if (!(err < best_err)) break;
    best_err = err;
    best = cur;
  }
  return best;
}

}  // namespace

void quantize_q2_k(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const AsymSuper r =
        quantize_asym_super(src + i * kQK_K, Weighting::AbsFloor, 16, 16, 3, 15, -0.5f, 0.1f, 15);
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
    const SymSuper r =
        quantize_sym_super(src + i * kQK_K, Weighting::SquarePlusFloor, 4, 32, 9, 0.1f);
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
    const AsymSuper r =
        quantize_asym_super(src + i * kQK_K, Weighting::RmsPlusAbs, 8, 32, 15, 63, -1.0f, 0.1f, 20);
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
    const AsymSuper r =
        quantize_asym_super(src + i * kQK_K, Weighting::RmsPlusAbs, 8, 32, 31, 63, -0.5f, 0.1f, 15);
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
    // Codes q in [-32, 31] are stored as q + 32 in [0, 63]; sub-scales are int8 in [-128, 127].
    const SymSuper r =
        quantize_sym_super(src + i * kQK_K, Weighting::SquarePlusFloor, 32, 128, 9, 0.1f);
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
