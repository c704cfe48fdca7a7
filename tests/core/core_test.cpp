#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
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
