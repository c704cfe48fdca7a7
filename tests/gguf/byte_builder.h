// Test-local GGUF byte builder: writes raw fields with no validation, so tests can produce
// files the Writer never would (v2 headers, bad counts, odd types).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace tmill::gguf::testing {

class Bytes {
 public:
  Bytes& raw(std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& u8(uint8_t v) { return le(v, 1); }
  Bytes& u16(uint16_t v) { return le(v, 2); }
  Bytes& u32(uint32_t v) { return le(v, 4); }
  Bytes& u64(uint64_t v) { return le(v, 8); }
  Bytes& f32(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return u32(b);
  }
  Bytes& f64(double d) {
    uint64_t b;
    std::memcpy(&b, &d, 8);
    return u64(b);
  }
  Bytes& str(std::string_view s) { return u64(s.size()).raw(s); }
  Bytes& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  }
  // key + type id; the caller appends the value.
  Bytes& key(std::string_view k, uint32_t type) { return str(k).u32(type); }
  Bytes& tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad_to(size_t alignment) {
    while (out.size() % alignment != 0) out.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    out.insert(out.end(), n, 0);
    return *this;
  }

  std::vector<uint8_t> out;
};

}  // namespace tmill::gguf::testing
