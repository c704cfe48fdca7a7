// An anonymous memory region for large, long-lived, sequentially streamed data (packed
// weights), backed by transparent huge pages where the kernel allows it.
//
// Why: decode streams every weight once per token. With 4 KiB pages that is a TLB miss and a
// page walk every 4 KiB of a multi-hundred-megabyte stream; 2 MiB pages remove nearly all of
// them. Linux's default THP mode is "madvise", so the region asks for them explicitly
// (MADV_HUGEPAGE); where THP is off it is ordinary memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tmill {

class LargePages {
 public:
  LargePages() = default;
  // Maps `bytes` (rounded up to 2 MiB, 2 MiB aligned); data() is null when mapping fails.
  explicit LargePages(size_t bytes);
  ~LargePages();
  LargePages(LargePages&& other) noexcept;
  LargePages& operator=(LargePages&& other) noexcept;
  LargePages(const LargePages&) = delete;
  LargePages& operator=(const LargePages&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  void release();
  uint8_t* data_ = nullptr;
  void* mapping_ = nullptr;  // the whole mapping (data_ rounded up to 2 MiB inside it)
  size_t mapping_bytes_ = 0;
  size_t bytes_ = 0;
};

// Bump allocator over LargePages chunks, for many long-lived pieces freed together (one model's
// packed weights). One region per piece would round each up to a 2 MiB page (a 135M-parameter
// model has ~200 matrices, many under 1 MiB); pieces here share pages, so at most the last
// partly used page of each chunk is resident but unused.
class LargePageArena {
 public:
  explicit LargePageArena(size_t chunk_bytes = size_t{64} << 20) : chunk_bytes_(chunk_bytes) {}
  // `bytes` 64-byte aligned, alive as long as the arena; null when memory runs out.
  uint8_t* allocate(size_t bytes);
  // Bytes handed out so far (each piece rounded up to 64).
  size_t allocated_bytes() const { return allocated_; }

 private:
  size_t chunk_bytes_;
  std::vector<LargePages> chunks_;
  size_t used_ = 0;       // bytes used in chunks_.back()
  size_t allocated_ = 0;  // bytes handed out in all chunks
};

}  // namespace tmill
