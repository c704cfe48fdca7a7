// The roofline's compute probes (backend/cpu/peaks.h): present exactly where the instruction is.
#include <gtest/gtest.h>

#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/peaks.h"
#include "core/thread_pool.h"

namespace tmill::cpu {
namespace {

TEST(Peaks, IntegerDotProductPeakOnlyWithVnni) {
  ThreadPool pool(1);
  const double int16 = measure_int_dot_peak(pool, IntDot::kInt16Pairs);
  const double int8 = measure_int_dot_peak(pool, IntDot::kInt8Quads);
  if (!detail::cpu_has_avx512_vnni()) {
    EXPECT_EQ(int16, 0.0);
    EXPECT_EQ(int8, 0.0);
    return;
  }
  // Any core that runs these instructions at all does billions of multiply-adds per second.
  EXPECT_GT(int16, 1e9);
  EXPECT_GT(int8, 1e9);
}

TEST(Peaks, FmaPeakIsPositive) {
  ThreadPool pool(1);
  EXPECT_GT(measure_fma_peak(pool), 1e8);
}

}  // namespace
}  // namespace tmill::cpu
