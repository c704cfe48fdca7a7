#include "core/dtype.h"

#include <array>

#include "core/check.h"

namespace tmill {
namespace {

struct Entry {
  uint32_t id;
  DTypeInfo info;
};

// Block layouts as stored in GGUF files (see src/quant/blocks.h for the structs).
constexpr std::array<Entry, 20> kTable = {{
    {0, {"F32", 1, 4, false}},      {1, {"F16", 1, 2, false}},      {2, {"Q4_0", 32, 18, true}},
    {3, {"Q4_1", 32, 20, true}},    {6, {"Q5_0", 32, 22, true}},    {7, {"Q5_1", 32, 24, true}},
    {8, {"Q8_0", 32, 34, true}},    {9, {"Q8_1", 32, 36, true}},    {10, {"Q2_K", 256, 84, true}},
    {11, {"Q3_K", 256, 110, true}}, {12, {"Q4_K", 256, 144, true}}, {13, {"Q5_K", 256, 176, true}},
    {14, {"Q6_K", 256, 210, true}}, {15, {"Q8_K", 256, 292, true}}, {24, {"I8", 1, 1, false}},
    {25, {"I16", 1, 2, false}},     {26, {"I32", 1, 4, false}},     {27, {"I64", 1, 8, false}},
    {28, {"F64", 1, 8, false}},     {30, {"BF16", 1, 2, false}},
}};

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t id) {
  for (const auto& e : kTable)
    if (e.id == id) return e.info;
  return std::nullopt;
}

const DTypeInfo& info(DType type) {
  for (const auto& e : kTable)
    if (e.id == static_cast<uint32_t>(type)) return e.info;
  TM_CHECK(false, "unknown dtype");
  std::abort();
}

std::string_view dtype_name(DType type) { return info(type).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kTable)
    if (e.info.name == name) return static_cast<DType>(e.id);
  return std::nullopt;
}

std::optional<size_t> row_bytes(DType type, int64_t n) {
  const DTypeInfo& i = info(type);
  if (n < 0 || n % i.block_size != 0) return std::nullopt;
  return static_cast<size_t>(n / i.block_size) * static_cast<size_t>(i.block_bytes);
}

}  // namespace tmill
