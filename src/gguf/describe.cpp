// describe(): the text `tokenmill inspect` prints. Everything printed comes from a file
// that may be hostile, so names and strings are escaped and every value's rendering is
// bounded (long strings cut, arrays show a few items, nested arrays share one budget).
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <type_traits>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

namespace tmill::gguf {
namespace {

constexpr size_t kStringPreview = 80;  // bytes of a string value shown
constexpr size_t kArrayItems = 6;      // items shown per array
constexpr size_t kValueBudget = 200;   // characters one metadata value may take
constexpr size_t kMaxNameColumn = 48;  // wider names overflow their column

// Keys and tensor names are printed bare when they are plain printable ASCII (the normal
// case) and quoted/escaped otherwise, so odd bytes cannot garble the terminal.
std::string display_name(std::string_view s) {
  const bool plain = !s.empty() && s.size() <= 96 && std::all_of(s.begin(), s.end(), [](char c) {
    return c > 0x20 && c < 0x7F && c != '"' && c != '\\';
  });
  return plain ? std::string(s) : detail::quote(s, 96);
}

std::string format_float(double d, ValueType t) {
  char buf[64];
  // Shortest text that reads back to the same float32/float64.
  const auto r = t == ValueType::FLOAT32
                     ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(d))
                     : std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

void append_array(const Array& a, std::string& out);

template <class T>
void append_item(const T& x, ValueType t, std::string& out) {
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>) {
    out += std::to_string(x);
  } else if constexpr (std::is_same_v<T, double>) {
    out += format_float(x, t);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += x ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    out += detail::quote(x, kStringPreview);
  } else {
    out += '{';
    append_array(x, out);
    out += '}';
  }
}

// "[type; N] a, b, c, ..." — stops early once the shared budget is spent, which also
// bounds the work on deeply nested arrays to a few hundred characters.
void append_array(const Array& a, std::string& out) {
  out += "[";
  out += value_type_name(a.element_type);
  out += "; " + std::to_string(a.size()) + "]";
  std::visit(
      [&](const auto& items) {
        for (size_t i = 0; i < items.size(); ++i) {
          if (i == kArrayItems || out.size() >= kValueBudget) {
            out += i == 0 ? " ..." : ", ...";
            return;
          }
          out += i == 0 ? " " : ", ";
          // vector<bool> yields proxies; copy to the element type first.
          const typename std::decay_t<decltype(items)>::value_type& x = items[i];
          append_item(x, a.element_type, out);
        }
      },
      a.items);
}

std::string format_value(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v.data)) return detail::quote(*s, kStringPreview);
  if (const Array* a = v.as_array()) {
    std::string out;
    append_array(*a, out);
    return out;
  }
  if (const auto* b = std::get_if<bool>(&v.data)) return *b ? "true" : "false";
  if (const auto* d = std::get_if<double>(&v.data)) return format_float(*d, v.type);
  if (const auto* i = std::get_if<int64_t>(&v.data)) return std::to_string(*i);
  if (const auto* u = std::get_if<uint64_t>(&v.data)) return std::to_string(*u);
  return "?";
}

std::string shape(const TensorInfo& t) {
  std::string s = "[";
  for (int d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "]";
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}
std::string pad_left(const std::string& s, size_t width) {
  return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

}  // namespace

std::string describe(const File& file) {
  std::string out;
  out += "GGUF v" + std::to_string(file.version()) + ", alignment " +
         std::to_string(file.alignment()) + ", " + std::to_string(file.metadata().size()) +
         " metadata keys, " + std::to_string(file.tensors().size()) + " tensors, file size " +
         std::to_string(file.file_size()) + " bytes\n";

  out += "\nmetadata:\n";
  size_t key_width = 0;
  for (const auto& kv : file.metadata())
    key_width = std::max(key_width, std::min(display_name(kv.key).size(), kMaxNameColumn));
  for (const auto& kv : file.metadata()) {
    out += "  " + pad(display_name(kv.key), key_width) + "  " +
           pad(std::string(value_type_name(kv.value.type)), 7) + "  " + format_value(kv.value) +
           "\n";
  }

  if (file.tensors().empty()) {
    out += "\ntensors: none\n";
    return out;
  }
  out += "\ntensors (data section at byte " + std::to_string(file.data_offset()) + "):\n";
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"name", "type", "shape", "offset", "bytes"});
  uint64_t total_bytes = 0, total_elements = 0;
  for (const auto& t : file.tensors()) {
    rows.push_back({display_name(t.name), std::string(dtype_name(t.type)), shape(t),
                    std::to_string(saturating_add(file.data_offset(), t.offset)),
                    std::to_string(t.size_bytes)});
    total_bytes = saturating_add(total_bytes, t.size_bytes);
    total_elements = saturating_add(total_elements, static_cast<uint64_t>(t.n_elements()));
  }
  std::array<size_t, 5> width{};
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c)
      width[c] = std::max(width[c], std::min(r[c].size(), kMaxNameColumn));
  for (const auto& r : rows) {
    // Text columns left-aligned, numbers right-aligned.
    out += "  " + pad(r[0], width[0]) + "  " + pad(r[1], width[1]) + "  " + pad(r[2], width[2]) +
           "  " + pad_left(r[3], width[3]) + "  " + pad_left(r[4], width[4]) + "\n";
  }
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.2f", static_cast<double>(total_bytes) / (1024.0 * 1024.0));
  out += "total: " + std::to_string(file.tensors().size()) + " tensors, " +
         std::to_string(total_elements) + " elements, " + std::to_string(total_bytes) + " bytes (" +
         mib + " MiB)\n";
  return out;
}

}  // namespace tmill::gguf
