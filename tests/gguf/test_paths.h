// Where the GGUF tests find their inputs.
#pragma once

#include <filesystem>

namespace tmill::gguf::testing {

// The committed crafted corpus. TOKENMILL_TEST_FIXTURES is <repo>/tests/fixtures; the path
// is normalized lexically so it works even when tests/fixtures itself does not exist.
inline std::filesystem::path corpus_dir() {
  return (std::filesystem::path(TOKENMILL_TEST_FIXTURES) / ".." / ".." / "fuzz" / "corpus" / "gguf")
      .lexically_normal();
}

}  // namespace tmill::gguf::testing
