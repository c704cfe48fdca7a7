#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "core/dtype.h"
#include "core/expected.h"
#include "core/half.h"
#include "core/mapped_file.h"
#include "core/thread_pool.h"

namespace tmill {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int rep = 0; rep < 50; ++rep)
        pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
          EXPECT_LT(t, threads);
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
      for (auto& h : hits) EXPECT_EQ(h.load(), 50);
    }
  }
}

// Dynamic and guided splits: every index once, chunks within their bounds (guided: at least
// the least grain except the last).
TEST(ThreadPool, DynamicAndGuidedSplitsCoverEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 1000, 100003}) {
      for (int64_t grain : {1, 4, 64}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> short_chunks{0};
        const bool inline_run = threads == 1 || n <= grain;  // one call with everything
        pool.parallel_for_dynamic(n, grain, [&](int64_t b, int64_t e, int) {
          if (!inline_run) {
            EXPECT_LE(e - b, grain);
          }
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
        pool.parallel_for_guided(n, grain, [&](int64_t b, int64_t e, int t) {
          EXPECT_LT(t, threads);
          EXPECT_LT(b, e);
          if (e - b < grain) short_chunks++;
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
        for (auto& h : hits) ASSERT_EQ(h.load(), 2) << n << " " << grain;
        EXPECT_LE(short_chunks.load(), 1);  // only the tail can fall short of the grain
      }
    }
  }
}

// Thread 0 is "slow": its first chunk does not return until every item is done, whenever the
// scheduler lets thread 1 run (so the test holds on a loaded machine; a 2 ms sleep per chunk
// did not). A static split would leave thread 1 its 2000 items; guided, thread 0 keeps one
// chunk (at most a quarter) and thread 1 takes the rest.
TEST(ThreadPool, GuidedSplitMovesWorkAwayFromASlowThread) {
  ThreadPool pool(2);
  std::atomic<int64_t> items_by[2] = {0, 0};
  pool.parallel_for_guided(4000, 1, [&](int64_t b, int64_t e, int t) {
    items_by[t] += e - b;
    if (t != 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (items_by[0] + items_by[1] < 4000 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
  });
  EXPECT_EQ(items_by[0] + items_by[1], 4000);
  EXPECT_GE(items_by[1].load(), 3000);
}

TEST(Half, F16RoundTripsEveryFiniteValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    if ((bits & 0x7c00u) == 0x7c00u) continue;  // inf/nan
    EXPECT_EQ(f32_to_f16(f16_to_f32(bits)), bits) << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
}

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  uint32_t bits = 0x3f808000u;  // exactly halfway between two bf16 values, even below
  float f;
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f80);
  bits = 0x3f818000u;  // halfway, odd below -> rounds up
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f82);
}

TEST(DType, TableMatchesGgufLayouts) {
  EXPECT_EQ(row_bytes(DType::Q4_0, 64).value(), 36u);
  EXPECT_EQ(row_bytes(DType::Q4_K, 512).value(), 288u);
  EXPECT_EQ(row_bytes(DType::Q6_K, 256).value(), 210u);
  EXPECT_EQ(row_bytes(DType::BF16, 3).value(), 6u);
  EXPECT_FALSE(row_bytes(DType::Q8_0, 33).has_value());
  EXPECT_FALSE(dtype_info(4).has_value());  // removed Q4_2
  EXPECT_EQ(dtype_from_name("Q5_K"), DType::Q5_K);
}

Expected<int> parse_positive(int v) {
  if (v <= 0) return fail("value ", v, " is not positive");
  return v;
}

Status chain(int v) {
  TM_ASSIGN(int x, parse_positive(v));
  TM_TRY(parse_positive(x - 1));
  return Status::success();
}

TEST(Expected, CarriesValuesAndErrors) {
  EXPECT_TRUE(chain(5).ok());
  Status s = chain(1);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "value 0 is not positive");
  EXPECT_EQ(chain(-2).error().message, "value -2 is not positive");
}

TEST(MappedFile, MissingFileIsAnError) {
  auto f = MappedFile::open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("cannot open"), std::string::npos);
  auto d = MappedFile::open("/tmp");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace tmill
