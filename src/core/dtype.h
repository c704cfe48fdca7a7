// Tensor element types with the numeric ids GGUF uses (ggml's type table).
// Quantized types store blocks of `block_size` elements in `block_bytes` bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tmill {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct DTypeInfo {
  std::string_view name;
  int64_t block_size;   // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
  bool quantized;
};

// Known GGUF type id -> info; nullopt for ids we do not know (a file using one is rejected).
std::optional<DTypeInfo> dtype_info(uint32_t id);
const DTypeInfo& info(DType type);  // `type` must be known
std::string_view dtype_name(DType type);
std::optional<DType> dtype_from_name(std::string_view name);  // "Q4_K" -> DType::Q4_K

// Bytes of one row of `n` elements; nullopt when n is not a multiple of the block size.
std::optional<size_t> row_bytes(DType type, int64_t n);

}  // namespace tmill
