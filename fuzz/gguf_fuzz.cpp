// libFuzzer entry for the GGUF reader. Beyond "no crash, no sanitizer report" it checks:
//  - a rejection is a proper Error ("gguf: ..." naming a byte offset);
//  - an accepted file's tensors are readable end to end and describe() works;
//  - write(parse(x)) is a fixed point: rewriting the parsed file and parsing that back
//    yields the same bytes again, so reader and writer agree on everything they accept.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace {

using tmill::gguf::File;
using tmill::gguf::Writer;

[[noreturn]] void die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_gguf: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Rebuilds `f` with the Writer. Skips (nullopt) files whose rewrite would be huge: a large
// alignment pads every tensor, and overlapping tensors copy the same bytes many times.
std::optional<std::vector<uint8_t>> rewrite(const File& f) {
  if (f.alignment() > 4096) return std::nullopt;
  uint64_t total = 0;
  for (const auto& t : f.tensors()) total += t.size_bytes + f.alignment();
  if (total > (8u << 20)) return std::nullopt;
  Writer w(f.alignment());
  for (const auto& kv : f.metadata()) w.add(kv.key, kv.value);
  for (const auto& t : f.tensors()) {
    // The writer wants 1..4 dims; a 0-dim scalar is written as shape [1].
    std::vector<int64_t> ne(t.ne, t.ne + (t.n_dims == 0 ? 1 : t.n_dims));
    const tmill::Status s = w.add_tensor(t.name, t.type, ne, {t.data, t.size_bytes});
    if (!s.ok()) die("writer rejected a tensor the reader accepted", s.error().message);
  }
  return w.to_bytes();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = File::parse(std::span<const uint8_t>(data, size));
  if (!parsed.ok()) {
    const std::string& msg = parsed.error().message;
    if (msg.rfind("gguf: ", 0) != 0 || msg.find("[at byte ") == std::string::npos)
      die("malformed error message", msg);
    return 0;
  }
  const File& f = *parsed;
  const std::string text = tmill::gguf::describe(f);
  if (text.empty()) die("describe", "empty output");

  volatile uint8_t sink = 0;
  for (const auto& t : f.tensors()) {
    sink = sink ^ t.data[0];
    sink = sink ^ t.data[t.size_bytes - 1];
  }

  const auto first = rewrite(f);
  if (!first) return 0;
  auto reparsed = File::parse(*first);
  if (!reparsed.ok()) die("rewritten file does not parse", reparsed.error().message);
  const auto second = rewrite(*reparsed);
  if (!second || *second != *first) die("rewrite is not a fixed point", "bytes differ");
  return 0;
}
