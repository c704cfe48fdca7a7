#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "core/large_pages.h"

namespace tmill {
namespace {

constexpr uintptr_t kTwoMiB = uintptr_t{2} << 20;

TEST(LargePages, MapsAlignedWritableMemory) {
  LargePages pages(3 * 1000 * 1000);
  ASSERT_NE(pages.data(), nullptr);
  EXPECT_EQ(pages.size(), 3u * 1000 * 1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pages.data()) % kTwoMiB, 0u);
  std::memset(pages.data(), 0x5a, pages.size());
  EXPECT_EQ(pages.data()[pages.size() - 1], 0x5a);
}

TEST(LargePages, EmptyAndMovedFromHoldNothing) {
  LargePages none(0);
  EXPECT_EQ(none.data(), nullptr);
  LargePages a(4096);
  uint8_t* p = a.data();
  LargePages b = std::move(a);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state
  LargePages c(4096);
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
}

TEST(LargePageArena, PiecesAreAlignedDisjointAndShareChunks) {
  LargePageArena arena(1 << 20);
  uint8_t* a = arena.allocate(100);
  uint8_t* b = arena.allocate(1000);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 64, 0u);
  EXPECT_EQ(b, a + 128);  // same chunk, 100 rounded up to 64-byte alignment
  std::memset(a, 1, 100);
  std::memset(b, 2, 1000);
  EXPECT_EQ(a[99], 1);
  // Larger than a chunk: its own chunk, whole and writable; later pieces still work.
  uint8_t* big = arena.allocate(3 << 20);
  ASSERT_NE(big, nullptr);
  std::memset(big, 3, 3 << 20);
  uint8_t* c = arena.allocate(64);
  ASSERT_NE(c, nullptr);
  c[0] = 4;
  EXPECT_EQ(a[0], 1);
  EXPECT_EQ(b[999], 2);
  EXPECT_EQ(big[(3 << 20) - 1], 3);
}

}  // namespace
}  // namespace tmill
