// The scalar attention kernel and the dispatch between it and the AVX2 one.
#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/matmul.h"
#include "core/half.h"

namespace tmill::cpu {
namespace {

// f16 -> f32 for every bit pattern (256 KiB), so the scalar loops avoid a bit-twiddling
// conversion per element.
const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) t[i] = f16_to_f32(static_cast<uint16_t>(i));
    return t;
  }();
  return table.data();
}

}  // namespace

size_t attention_scratch_floats(int32_t group, int32_t head_dim) {
  // AVX2: scaled queries and accumulators [group][head_dim] each, a score tile [group][32],
  // running max and sum [group] each. The scalar kernel needs less.
  return static_cast<size_t>(group) * (2 * static_cast<size_t>(head_dim) + 32 + 2) + 16;
}

void attention_scalar(const AttentionJob& job, float* scratch) {
  const int32_t hd = job.head_dim;
  const float* f16 = f16_table();
  float* q_scaled = scratch;
  float* acc = scratch + hd;
  for (int32_t h = 0; h < job.group; ++h) {
    const float* qh = job.q + static_cast<int64_t>(h) * hd;
    for (int32_t i = 0; i < hd; ++i) {
      q_scaled[i] = qh[i] * job.scale;
      acc[i] = 0.0f;
    }
    // Online softmax over the visible positions: running max m and normalizer l.
    float m = -INFINITY;
    float l = 0.0f;
    for (int32_t p = job.first; p <= job.last; ++p) {
      const uint16_t* kr = cache_row(job.k_cache, job.k_row_bytes, job, p);
      float s = 0.0f;
      for (int32_t i = 0; i < hd; ++i) s += q_scaled[i] * f16[kr[i]];
      if (s > m) {
        const float correction = std::exp(m - s);
        l *= correction;
        for (int32_t i = 0; i < hd; ++i) acc[i] *= correction;
        m = s;
      }
      const float w = std::exp(s - m);
      l += w;
      const uint16_t* vr = cache_row(job.v_cache, job.v_row_bytes, job, p);
      for (int32_t i = 0; i < hd; ++i) acc[i] += w * f16[vr[i]];
    }
    float* o = job.out + static_cast<int64_t>(h) * hd;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int32_t i = 0; i < hd; ++i) o[i] = acc[i] * inv;
  }
}

void attention(const AttentionJob& job, float* scratch) {
  if (simd_enabled() && job.head_dim % 8 == 0) {
    detail::attention_avx2(job, scratch);
    return;
  }
  attention_scalar(job, scratch);
}

}  // namespace tmill::cpu
