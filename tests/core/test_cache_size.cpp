#include "core/cache_size.h"

#include <gtest/gtest.h>

namespace tmill {
namespace {

TEST(CacheSize, ParsesSysfsSizes) {
  EXPECT_EQ(parse_cache_size("32768K"), size_t{32} << 20);
  EXPECT_EQ(parse_cache_size("1024K\n"), size_t{1} << 20);
  EXPECT_EQ(parse_cache_size("2M"), size_t{2} << 20);
  EXPECT_EQ(parse_cache_size("1G"), size_t{1} << 30);
  EXPECT_EQ(parse_cache_size("512"), size_t{512});
}

TEST(CacheSize, RejectsWhatIsNotASize) {
  EXPECT_FALSE(parse_cache_size(""));
  EXPECT_FALSE(parse_cache_size("K"));
  EXPECT_FALSE(parse_cache_size("12X"));
  EXPECT_FALSE(parse_cache_size("-4K"));
  EXPECT_FALSE(parse_cache_size("99999999999999999999999K"));
}

// Every Linux machine we run on describes its caches in sysfs or through glibc, and a
// last-level cache is at least as large as the smallest L2 in use (256 KiB).
TEST(CacheSize, LastLevelCacheIsFound) { EXPECT_GE(last_level_cache_bytes(), size_t{256} << 10); }

}  // namespace
}  // namespace tmill
