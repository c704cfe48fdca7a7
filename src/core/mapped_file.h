// A read-only memory-mapped file. Model weights are used in place from the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/expected.h"

namespace tmill {

class MappedFile {
 public:
  static Expected<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

// Unmaps this process's pages lying wholly inside [data, data + bytes) of a read-only file
// mapping (MADV_DONTNEED): they leave the process's resident memory, the page cache keeps them
// as long as the kernel likes, and the next access maps them again from the file (a minor
// fault, or a read if evicted). Only for MappedFile bytes: on anonymous memory it would zero
// them. Used for a weight's file pages once a packed copy serves its matmuls
// (model/weights.cpp), which halves the resident weights.
void release_file_pages(const void* data, size_t bytes);

}  // namespace tmill
