#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "common/test_support.h"
#include "core/large_pages.h"
#include "core/mapped_file.h"

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

// Releasing a file mapping's pages (done for weights once packed) must never change what the
// mapping reads: the next access maps the file's bytes again.
TEST(MappedFile, ReleasedPagesReadTheFileAgain) {
  const std::string path = testing::unique_temp_path("release_pages", ".bin");
  std::vector<uint8_t> content(5 * 4096 + 123);
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<uint8_t>(i * 131 + 7);
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(content.data(), 1, content.size(), f), content.size());
    std::fclose(f);
  }
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.ok());
  const auto bytes = file.value()->bytes();
  ASSERT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), content);
  release_file_pages(bytes.data() + 100, bytes.size() - 200);  // partial pages at both ends
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), content);
  release_file_pages(bytes.data(), bytes.size());
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), content);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tmill
