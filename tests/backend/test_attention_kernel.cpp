// The SIMD attention kernel against the scalar reference, over group sizes, head sizes, tile
// boundaries, sliding windows and scattered cache blocks; and that naming the next job (whose
// first tile the SIMD kernel prefetches) changes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/matmul.h"
#include "core/half.h"

namespace tmill::cpu {
namespace {

struct Case {
  int32_t group, head_dim, n_kv_head, first, last;
};

TEST(AttentionKernel, SimdMatchesScalar) {
  if (!simd_enabled()) GTEST_SKIP() << "no AVX2 on this CPU: only the scalar kernel runs";
  const int32_t block = 16, n_blocks = 12;
  std::vector<int32_t> table(n_blocks);
  for (int32_t b = 0; b < n_blocks; ++b) table[static_cast<size_t>(b)] = (b * 5 + 3) % n_blocks;
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (const Case c : {Case{1, 8, 1, 0, 0}, Case{3, 64, 3, 0, 100}, Case{4, 256, 1, 0, 191},
                       Case{8, 64, 2, 10, 75}, Case{5, 128, 1, 31, 32}, Case{2, 16, 2, 0, 31},
                       Case{6, 32, 1, 64, 64}}) {
    const int32_t row = c.n_kv_head * c.head_dim;
    const int32_t slots = block * n_blocks;
    std::vector<uint16_t> k(static_cast<size_t>(slots * row)), v(k.size());
    // Large score range so that the running max changes between tiles.
    for (auto& x : k) x = f32_to_f16(3.0f * dist(rng));
    for (auto& x : v) x = f32_to_f16(dist(rng));
    for (int32_t kv_h = 0; kv_h < c.n_kv_head; ++kv_h) {
      std::vector<float> q(static_cast<size_t>(c.group * c.head_dim));
      for (auto& x : q) x = dist(rng);
      std::vector<float> out_simd(q.size()), out_ref(q.size());
      std::vector<float> scratch(attention_scratch_floats(c.group, c.head_dim));
      AttentionJob job;
      job.q = q.data();
      job.k_cache = reinterpret_cast<const uint8_t*>(k.data());
      job.v_cache = reinterpret_cast<const uint8_t*>(v.data());
      // Head-major blocks (backend::kv_cache_view): rows of head_dim values.
      job.k_row_bytes = job.v_row_bytes = static_cast<size_t>(c.head_dim) * 2;
      job.n_kv_head = c.n_kv_head;
      job.kv_head = kv_h;
      job.block_table = table.data();
      job.block_size = block;
      job.first = c.first;
      job.last = c.last;
      job.group = c.group;
      job.head_dim = c.head_dim;
      job.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
      job.out = out_simd.data();
      attention(job, scratch.data());
      job.out = out_ref.data();
      attention_scalar(job, scratch.data());
      for (size_t i = 0; i < q.size(); ++i)
        ASSERT_NEAR(out_simd[i], out_ref[i], 2e-5f * (1.0f + std::fabs(out_ref[i])))
            << "group " << c.group << " head_dim " << c.head_dim << " range [" << c.first << ", "
            << c.last << "] element " << i;
    }
  }
}

// AttentionJob::next only prefetches: the result is bit-identical with or without it, whether the
// next job's first tile is longer or shorter than this job's last one, or reads other caches.
TEST(AttentionKernel, NamingTheNextJobChangesNothing) {
  const int32_t block = 16, n_blocks = 8, group = 3, hd = 64, n_kv_head = 3;
  const int32_t row = n_kv_head * hd, slots = block * n_blocks;
  std::vector<int32_t> table(n_blocks);
  for (int32_t b = 0; b < n_blocks; ++b) table[static_cast<size_t>(b)] = (b * 3 + 1) % n_blocks;
  std::mt19937 rng(12);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> k(static_cast<size_t>(slots * row)), v(k.size()), k2(k.size());
  for (auto& x : k) x = f32_to_f16(3.0f * dist(rng));
  for (auto& x : v) x = f32_to_f16(dist(rng));
  for (auto& x : k2) x = f32_to_f16(dist(rng));
  std::vector<float> q(static_cast<size_t>(group * hd));
  for (auto& x : q) x = dist(rng);
  std::vector<float> scratch(attention_scratch_floats(group, hd));
  auto make = [&](const std::vector<uint16_t>& kc, int32_t first, int32_t last, int32_t kv_h) {
    AttentionJob job;
    job.q = q.data();
    job.k_cache = reinterpret_cast<const uint8_t*>(kc.data());
    job.v_cache = reinterpret_cast<const uint8_t*>(v.data());
    job.k_row_bytes = job.v_row_bytes = static_cast<size_t>(hd) * 2;
    job.n_kv_head = n_kv_head;
    job.kv_head = kv_h;
    job.block_table = table.data();
    job.block_size = block;
    job.first = first;
    job.last = last;
    job.group = group;
    job.head_dim = hd;
    job.scale = 0.125f;
    return job;
  };
  for (const int32_t last : {0, 5, 31, 32, 70, 127}) {
    AttentionJob job = make(k, 0, last, 1);
    std::vector<float> alone(q.size()), chained(q.size());
    job.out = alone.data();
    attention(job, scratch.data());
    for (const AttentionJob& after : {make(k2, 0, 127, 0), make(k, 40, 41, 2), make(k, 0, 0, 1)}) {
      job.next = &after;
      job.out = chained.data();
      attention(job, scratch.data());
      ASSERT_EQ(0, std::memcmp(alone.data(), chained.data(), alone.size() * sizeof(float)))
          << "last " << last << ", next job's range [" << after.first << ", " << after.last << "]";
    }
  }
}

}  // namespace
}  // namespace tmill::cpu
