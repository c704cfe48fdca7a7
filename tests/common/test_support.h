// Helpers shared by the test binaries: where the shipped models live, reading and comparing
// logits fixtures (float32 row-major files, comma-separated token lists), and running a command.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tmill::testing {

// A file path under the test temp dir that no other test process or call uses: ctest runs the
// tests of one binary as parallel processes, so a fixed name is a race between them.
inline std::string unique_temp_path(const std::string& stem, const std::string& suffix = "") {
  static std::atomic<int> counter{0};
  return ::testing::TempDir() + "/" + stem + "_" + std::to_string(::getpid()) + "_" +
         std::to_string(counter.fetch_add(1)) + suffix;
}

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

// The first `max_ids` ids of a comma-separated token file, comma-separated (as `--tokens` takes
// them).
inline std::string token_list(const std::string& path, size_t max_ids = SIZE_MAX) {
  std::string out;
  size_t taken = 0;
  for (int32_t id : read_token_csv(path)) {
    if (taken++ == max_ids) break;
    out += (out.empty() ? "" : ",") + std::to_string(id);
  }
  return out;
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

// Runs `command` in a shell: its exit code (-1 when it did not exit normally) and everything it
// wrote to stdout (the command redirects stderr as the caller wants).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};

inline CommandResult run_shell(const std::string& command) {
  CommandResult r;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace tmill::testing
