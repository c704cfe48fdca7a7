#include "core/large_pages.h"

#include <sys/mman.h>

#include <algorithm>
#include <utility>

namespace tmill {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

LargePages::LargePages(size_t bytes) {
  if (bytes == 0) return;
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  // One extra huge page of slack so the region can start on a 2 MiB boundary (huge pages
  // back only aligned 2 MiB ranges).
  const size_t mapping_bytes = rounded + kHugePage;
  void* mapping =
      mmap(nullptr, mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return;
  const auto base = reinterpret_cast<uintptr_t>(mapping);
  const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
#ifdef MADV_HUGEPAGE
  // Advice only: refused (THP off, old kernel) leaves ordinary pages, which work the same.
  madvise(reinterpret_cast<void*>(aligned), rounded, MADV_HUGEPAGE);
#endif
  mapping_ = mapping;
  mapping_bytes_ = mapping_bytes;
  data_ = reinterpret_cast<uint8_t*>(aligned);
  bytes_ = bytes;
}

LargePages::~LargePages() { release(); }

LargePages::LargePages(LargePages&& other) noexcept { *this = std::move(other); }

LargePages& LargePages::operator=(LargePages&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void LargePages::release() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_bytes_);
  mapping_ = nullptr;
  data_ = nullptr;
  mapping_bytes_ = bytes_ = 0;
}

uint8_t* LargePageArena::allocate(size_t bytes) {
  constexpr size_t kAlign = 64;
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  if (chunks_.empty() || chunks_.back().size() - used_ < bytes) {
    LargePages chunk(std::max(bytes, chunk_bytes_));
    if (chunk.data() == nullptr) return nullptr;
    chunks_.push_back(std::move(chunk));
    used_ = 0;
  }
  uint8_t* out = chunks_.back().data() + used_;
  used_ += bytes;
  allocated_ += bytes;
  return out;
}

}  // namespace tmill
