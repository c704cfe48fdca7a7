// Shared by the tokenizer fuzz targets: loading a vocab-only GGUF named by an environment
// variable (or the compiled-in default under ../shared/fixtures/tokenizer), and the checks
// every encode/decode must pass whatever the input bytes are.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace tmill::fuzz {

[[noreturn]] inline void die(const char* target, const char* what, std::string_view input,
                             const std::string& detail) {
  std::fprintf(stderr, "%s: %s\n  input (%zu bytes): ", target, what, input.size());
  for (unsigned char c : input.substr(0, 256)) std::fprintf(stderr, "%02x", c);
  std::fprintf(stderr, "\n  %s\n", detail.c_str());
  std::abort();
}

// The vocab at $env_var, else `fallback`. A missing or unreadable vocab stops the fuzzer:
// fuzzing without one would test nothing.
inline tok::Vocab load_vocab_or_die(const char* target, const char* env_var, const char* fallback) {
  const char* env = std::getenv(env_var);
  const std::string path = env != nullptr && *env != '\0' ? env : fallback;
  auto file = gguf::File::open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "%s: cannot open vocab %s (set %s): %s\n", target, path.c_str(), env_var,
                 file.error().message.c_str());
    std::exit(2);
  }
  auto vocab = tok::load_vocab(*file);
  if (!vocab.ok()) {
    std::fprintf(stderr, "%s: %s: %s\n", target, path.c_str(), vocab.error().message.c_str());
    std::exit(2);
  }
  return std::move(vocab.value());
}

inline std::string show_ids(std::span<const int32_t> ids) {
  std::string s;
  for (size_t i = 0; i < ids.size() && i < 64; ++i) s += std::to_string(ids[i]) + " ";
  return s;
}

// Checks that hold for any ids a tokenizer produced:
//  - every id is inside the vocab;
//  - streaming the ids one by one yields valid UTF-8 in every chunk, and in total exactly
//    sanitize_utf8(decode(ids)) (what a client sees equals the whole decode, made valid).
inline void check_ids_and_stream(const char* target, const tok::Tokenizer& tok,
                                 std::string_view input, std::span<const int32_t> ids) {
  for (int32_t id : ids) {
    if (id < 0 || id >= tok.n_vocab()) die(target, "id outside the vocab", input, show_ids(ids));
  }
  tok::StreamDecoder stream(tok, /*strip_leading_space=*/true);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string part = stream.push(id);
    if (tok::sanitize_utf8(part) != part) die(target, "stream chunk is not UTF-8", input, part);
    streamed += part;
  }
  streamed += stream.flush();
  if (streamed != tok::sanitize_utf8(tok.decode(ids))) {
    die(target, "streamed text differs from sanitize_utf8(decode)", input, show_ids(ids));
  }
}

// encode(text, add_special) is exactly `ids` (the plain encoding) with BOS/EOS added as the
// vocab's add_bos/add_eos say.
inline void check_add_special(const char* target, const tok::Tokenizer& tok, std::string_view text,
                              const std::vector<int32_t>& ids) {
  std::vector<int32_t> want;
  if (tok.add_bos() && tok.bos() >= 0) want.push_back(tok.bos());
  want.insert(want.end(), ids.begin(), ids.end());
  if (tok.add_eos() && tok.eos() >= 0) want.push_back(tok.eos());
  if (tok.encode(text, true, false) != want) die(target, "add_special changed the ids", text, "");
}

}  // namespace tmill::fuzz
