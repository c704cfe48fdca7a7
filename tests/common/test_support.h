// Helpers shared by the test binaries: where the shipped models live, and reading and comparing
// logits fixtures (float32 row-major files, comma-separated token lists).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace tmill::testing {

// $TOKENMILL_MODELS, else ~/.cache/tokenmill/models (as the tokenmill binary resolves them).
inline std::string models_dir() {
  if (const char* env = std::getenv("TOKENMILL_MODELS"); env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.cache/tokenmill/models";
}

// scripts/test sets TOKENMILL_REQUIRE_MODELS=1: a missing shipped model then fails a test
// instead of skipping it.
inline bool models_required() {
  const char* env = std::getenv("TOKENMILL_REQUIRE_MODELS");
  return env != nullptr && std::string(env) == "1";
}

inline std::vector<int32_t> read_token_csv(const std::string& path) {
  std::ifstream in(path);
  std::vector<int32_t> ids;
  std::string item;
  while (std::getline(in, item, ',')) ids.push_back(std::stoi(item));
  return ids;
}

inline std::vector<float> read_f32_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

inline double cosine(const float* a, const float* b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// Index of the largest value; the lowest index on ties.
inline size_t argmax(const float* a, size_t n) {
  return static_cast<size_t>(std::max_element(a, a + n) - a);
}

}  // namespace tmill::testing
