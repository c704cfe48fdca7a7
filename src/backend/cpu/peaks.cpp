#include "backend/cpu/peaks.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_avx2.h"
#include "core/cache_size.h"
#include "core/clock.h"
#include "core/large_pages.h"

namespace tmill::cpu {
namespace {

using detail::hsum;
using detail::load32;

// The probe's buffer: at least 512 MiB, and 4x the last-level cache, so that a large cache (the
// Xeon here reports 480 MiB of L3) serves few of the reads and the probe measures DRAM.
size_t probe_buffer_bytes() { return std::max(size_t{512} << 20, 4 * last_level_cache_bytes()); }

// Sums 32-byte words with four independent accumulators so the loads, not the adds, limit it.
// Unsigned sums: they wrap (the value only keeps the loads observable).
TM_AVX2 uint64_t read_range_avx2(const uint8_t* p, size_t bytes) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= bytes; i += 128) {
    a0 = _mm256_add_epi64(a0, load32(p + i));
    a1 = _mm256_add_epi64(a1, load32(p + i + 32));
    a2 = _mm256_add_epi64(a2, load32(p + i + 64));
    a3 = _mm256_add_epi64(a3, load32(p + i + 96));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  uint64_t out[4];
  std::memcpy(out, &s, sizeof out);
  return out[0] + out[1] + out[2] + out[3];
}

uint64_t read_range_scalar(const uint8_t* p, size_t bytes) {
  uint64_t s[4] = {0, 0, 0, 0};
  for (size_t i = 0; i + 32 <= bytes; i += 32)
    for (int k = 0; k < 4; ++k) {
      uint64_t v;
      std::memcpy(&v, p + i + 8 * k, sizeof v);
      s[k] += v;
    }
  return s[0] + s[1] + s[2] + s[3];
}

// 12 independent accumulators cover the FMA latency x throughput product of current cores.
TM_AVX2 double fma_loop_avx2(int64_t iterations) {
  __m256 acc[12];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int k = 0; k < 12; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k));
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  __m256 s = acc[0];
  for (int k = 1; k < 12; ++k) s = _mm256_add_ps(s, acc[k]);
  return static_cast<double>(hsum(s));
}

double fma_loop_scalar(int64_t iterations) {
  float acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = static_cast<float>(k);
  for (int64_t i = 0; i < iterations; ++i)
    for (int k = 0; k < 8; ++k) acc[k] = acc[k] * 0.999999f + 1e-7f;
  double s = 0;
  for (float v : acc) s += v;
  return s;
}

// 12 independent 512-bit dot-product chains (latency x throughput of current cores). The
// operands never change, so the int32 lanes wrap harmlessly; only the instruction rate matters.
template <IntDot kKind>
TM_AVX512 int64_t int_dot_loop(int64_t iterations) {
  __m512i acc[12];
  const __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
  for (int k = 0; k < 12; ++k) acc[k] = _mm512_set1_epi32(k);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k)
      acc[k] = kKind == IntDot::kInt16Pairs ? _mm512_dpwssd_epi32(acc[k], a, b)
                                            : _mm512_dpbusd_epi32(acc[k], a, b);
  }
  __m512i s = acc[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_epi32(s, acc[k]);
  int32_t lanes[16];
  std::memcpy(lanes, &s, sizeof lanes);
  int64_t sum = 0;
  for (int32_t v : lanes) sum += v;
  return sum;
}

// Best of three passes of `loop(iterations)` on every thread, as ops/s.
template <class Loop>
double best_rate(ThreadPool& pool, int64_t iterations, double ops_per_iteration, Loop loop) {
  const int n = pool.size();
  std::atomic<int64_t> sink{0};
  double best = 0.0;
  for (int pass = 0; pass < 3; ++pass) {
    const double t0 = now_seconds();
    pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) sink += static_cast<int64_t>(loop(iterations));
    });
    const double dt = now_seconds() - t0;
    best = std::max(best, ops_per_iteration * static_cast<double>(iterations) * n / dt);
  }
  return sink.load() == 42 ? best + 1e-9 : best;  // keeps the results observable
}

}  // namespace

double measure_read_bandwidth(ThreadPool& pool) {
  // The same huge-page-backed memory the packed weights live in (core/large_pages.h): with
  // 4 KiB pages the probe measured page walks as much as DRAM, and read 31-45 GB/s from run to
  // run on the machine where weights stream at a steady rate.
  const size_t buffer_bytes = probe_buffer_bytes();
  LargePages buffer(buffer_bytes);
  if (buffer.data() == nullptr) return 0.0;
  const int n = pool.size();
  const size_t share = buffer_bytes / static_cast<size_t>(n) / 128 * 128;
  // First touch from the threads that will read (pages land near them), with non-zero data.
  pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t)
      std::memset(buffer.data() + static_cast<size_t>(t) * share, static_cast<int>(t + 1), share);
  });
  std::atomic<uint64_t> sink{0};
  double best = 0.0;
  for (int pass = 0; pass < 5; ++pass) {
    const double t0 = now_seconds();
    pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        const uint8_t* p = buffer.data() + static_cast<size_t>(t) * share;
        sink += simd_enabled() ? read_range_avx2(p, share) : read_range_scalar(p, share);
      }
    });
    const double dt = now_seconds() - t0;
    best = std::max(best, static_cast<double>(share) * n / dt);
  }
  return sink.load() == 42 ? best + 1e-9 : best;  // keeps the sums observable
}

double measure_fma_peak(ThreadPool& pool) {
  if (!simd_enabled()) return best_rate(pool, 5'000'000, 8 * 2, fma_loop_scalar);
  return best_rate(pool, 20'000'000, 12 * 8 * 2, fma_loop_avx2);
}

double measure_int_dot_peak(ThreadPool& pool, IntDot kind) {
  if (!detail::cpu_has_avx512_vnni()) return 0.0;
  // Per 512-bit instruction: 16 lanes x 2 int16 pairs, or 16 lanes x 4 int8 quads.
  if (kind == IntDot::kInt16Pairs)
    return best_rate(pool, 10'000'000, 12 * 32 * 2, int_dot_loop<IntDot::kInt16Pairs>);
  return best_rate(pool, 10'000'000, 12 * 64 * 2, int_dot_loop<IntDot::kInt8Quads>);
}

}  // namespace tmill::cpu
