// Reader for the fixtures written by tools/gen-quant-fixtures.py (format documented there):
// quantized rows plus float rows, produced by gguf-py as an independent reference.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace tmill::testing {

// Reproducible N(0, sigma²) inputs for the format and matmul tests.
inline std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

struct QuantFixture {
  uint32_t kind = 0;  // 0: dequantize (bytes -> floats), 1: quantize (floats -> bytes)
  DType type = DType::F32;
  int64_t n_rows = 0;
  int64_t n_per_row = 0;
  size_t row_bytes = 0;
  std::vector<uint8_t> bytes;  // n_rows * row_bytes
  std::vector<float> floats;   // n_rows * n_per_row
};

inline std::string quant_fixture_path(const std::string& name) {
  return std::string(TOKENMILL_TEST_FIXTURES) + "/quant/" + name;
}

// nullopt when the file is missing or malformed (the test then fails with the path).
inline std::optional<QuantFixture> load_quant_fixture(const std::string& name) {
  std::ifstream in(quant_fixture_path(name), std::ios::binary);
  if (!in) return std::nullopt;
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  constexpr size_t kHeader = 24;
  if (data.size() < kHeader || std::memcmp(data.data(), "TMQF", 4) != 0) return std::nullopt;
  uint32_t h[5];
  std::memcpy(h, data.data() + 4, sizeof h);
  if (h[0] != 1) return std::nullopt;
  const auto info = dtype_info(h[2]);
  if (!info) return std::nullopt;
  QuantFixture f;
  f.kind = h[1];
  f.type = static_cast<DType>(h[2]);
  f.n_rows = h[3];
  f.n_per_row = h[4];
  const auto rb = tmill::row_bytes(f.type, f.n_per_row);
  if (!rb) return std::nullopt;
  f.row_bytes = *rb;
  const size_t n_bytes = f.row_bytes * static_cast<size_t>(f.n_rows);
  const size_t n_floats = static_cast<size_t>(f.n_rows * f.n_per_row);
  if (data.size() != kHeader + n_bytes + 4 * n_floats) return std::nullopt;
  f.bytes.assign(data.begin() + kHeader,
                 data.begin() + static_cast<std::ptrdiff_t>(kHeader + n_bytes));
  f.floats.resize(n_floats);
  std::memcpy(f.floats.data(), data.data() + kHeader + n_bytes, 4 * n_floats);
  return f;
}

// The formats the fixtures cover (every supported one), by name.
inline const std::vector<std::string>& all_format_names() {
  static const std::vector<std::string> names = {"F32",  "F16",  "BF16", "Q4_0", "Q4_1",
                                                 "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K",
                                                 "Q4_K", "Q5_K", "Q6_K"};
  return names;
}

}  // namespace tmill::testing
