// Metadata values: type names, checked conversions, and shared text helpers.
#include <cstdio>
#include <limits>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

namespace tmill::gguf {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
      return "uint8";
    case ValueType::INT8:
      return "int8";
    case ValueType::UINT16:
      return "uint16";
    case ValueType::INT16:
      return "int16";
    case ValueType::UINT32:
      return "uint32";
    case ValueType::INT32:
      return "int32";
    case ValueType::FLOAT32:
      return "float32";
    case ValueType::BOOL:
      return "bool";
    case ValueType::STRING:
      return "string";
    case ValueType::ARRAY:
      return "array";
    case ValueType::UINT64:
      return "uint64";
    case ValueType::INT64:
      return "int64";
    case ValueType::FLOAT64:
      return "float64";
  }
  // A ValueType cast from an unchecked integer; callers print it rather than crash.
  return "unknown";
}

std::optional<int64_t> Value::as_int() const {
  if (!detail::is_integer_type(type)) return std::nullopt;
  // Both alternatives are accepted so hand-built Values (e.g. {UINT32, int64_t{5}}) work.
  if (const auto* s = std::get_if<int64_t>(&data)) return *s;
  if (const auto* u = std::get_if<uint64_t>(&data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> Value::as_float() const {
  if (type == ValueType::FLOAT32 || type == ValueType::FLOAT64) {
    if (const auto* d = std::get_if<double>(&data)) return *d;
    return std::nullopt;
  }
  if (!detail::is_integer_type(type)) return std::nullopt;
  if (const auto* s = std::get_if<int64_t>(&data)) return static_cast<double>(*s);
  if (const auto* u = std::get_if<uint64_t>(&data)) return static_cast<double>(*u);
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (type != ValueType::BOOL) return std::nullopt;
  if (const auto* b = std::get_if<bool>(&data)) return *b;
  return std::nullopt;
}

const std::string* Value::as_string() const {
  if (type != ValueType::STRING) return nullptr;
  return std::get_if<std::string>(&data);
}

const Array* Value::as_array() const {
  if (type != ValueType::ARRAY) return nullptr;
  const auto* p = std::get_if<std::shared_ptr<Array>>(&data);
  return p != nullptr ? p->get() : nullptr;
}

size_t Array::size() const {
  return std::visit([](const auto& v) { return v.size(); }, items);
}

namespace detail {

std::optional<uint64_t> fixed_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return 8;
    case ValueType::STRING:
    case ValueType::ARRAY:
      break;
  }
  return std::nullopt;
}

uint64_t min_encoded_size(ValueType t) {
  if (auto n = fixed_size(t)) return *n;
  if (t == ValueType::STRING) return 8;  // u64 length, possibly empty text
  return 4 + 8;                          // ARRAY: element type + count, possibly empty
}

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

bool is_signed_integer_type(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 ||
         t == ValueType::INT64;
}

namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is malformed
// (overlongs, surrogates and code points past U+10FFFF count as malformed).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  size_t n = 0;
  uint32_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

}  // namespace

std::string quote(std::string_view s, size_t max_bytes, char q) {
  std::string out(1, q);
  size_t i = 0;
  while (i < s.size()) {
    if (i >= max_bytes) {
      out += q;
      out += "...";
      return out;
    }
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x80) {
      // Multi-byte characters are copied whole so truncation never splits one.
      if (const size_t n = utf8_sequence_length(s, i); n != 0) {
        out.append(s.substr(i, n));
        i += n;
        continue;
      }
    }
    if (c == static_cast<uint8_t>(q) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02X", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += q;
  return out;
}

}  // namespace detail
}  // namespace tmill::gguf
