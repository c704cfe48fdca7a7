// A tensor placed on a device: element type, shape (ne[0] is the contiguous row length, as in
// GGUF), row stride in bytes and a pointer into a device buffer. Views never own memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tmill::backend {

class Device;

struct Tensor {
  DType type = DType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  size_t row_stride = 0;  // bytes from one row (ne[0] elements) to the next
  void* data = nullptr;
  Device* device = nullptr;
  // A weight's second copy in a layout of the device's choosing (CPU: 16-row panels for the
  // AVX-512 VNNI kernels, matmul_packed.h), owned by the device; null when there is none.
  // `data` stays valid either way (row lookups, kernels without a packed variant).
  const void* packed = nullptr;

  int64_t cols() const { return ne[0]; }
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
  template <class T>
  T* row(int64_t r) const {
    return reinterpret_cast<T*>(static_cast<uint8_t*>(data) + static_cast<size_t>(r) * row_stride);
  }
  // An f32 matrix view [rows][cols] over contiguous memory.
  static Tensor f32_matrix(float* data, int64_t rows, int64_t cols, Device* device) {
    Tensor t;
    t.type = DType::F32;
    t.ne[0] = cols;
    t.ne[1] = rows;
    t.row_stride = static_cast<size_t>(cols) * sizeof(float);
    t.data = data;
    t.device = device;
    return t;
  }
  // The first `n` rows of this tensor.
  Tensor first_rows(int64_t n) const {
    Tensor t = *this;
    t.ne[1] = n;
    t.ne[2] = t.ne[3] = 1;
    return t;
  }
};

}  // namespace tmill::backend
