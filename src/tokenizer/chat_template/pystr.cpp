#include "tokenizer/chat_template/pystr.h"

namespace tmill::tok::jinja {

uint32_t decode_utf8_at(std::string_view s, size_t i, size_t& len) {
  const auto c = static_cast<unsigned char>(s[i]);
  len = 1;
  if (c < 0x80) return c;
  const int n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + static_cast<size_t>(n) > s.size()) return c;
  uint32_t cp = c & (0x7Fu >> n);
  for (int k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
    if ((cc & 0xC0) != 0x80) return c;
    cp = (cp << 6) | (cc & 0x3F);
  }
  len = static_cast<size_t>(n);
  return cp;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    cp = cp > 0x10FFFF ? 0xFFFD : cp;
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool py_isspace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

bool in_chars(uint32_t cp, const std::string& chars) {
  for (size_t i = 0; i < chars.size();) {
    size_t len;
    if (decode_utf8_at(chars, i, len) == cp) return true;
    i += len;
  }
  return false;
}

bool strippable(uint32_t cp, const std::string* chars) {
  return chars == nullptr ? py_isspace(cp) : in_chars(cp, *chars);
}

// Start offset of the code point that ends at byte `end` (exclusive).
size_t prev_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  for (int k = 0; k < 3 && i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; ++k) --i;
  size_t len;
  decode_utf8_at(s, i, len);
  return i + len == end ? i : end - 1;
}

// Simple case mappings: ASCII, Latin-1 Supplement, Latin Extended-A pairs, Greek, Cyrillic.
uint32_t to_upper_cp(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 &&
      c != 0x17F) {
    const bool odd_pairs = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_pairs ? (c % 2 == 0) : (c % 2 == 1)) return c - 1;
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

uint32_t to_lower_cp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 &&
      c != 0x17F) {
    const bool odd_pairs = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_pairs ? (c % 2 == 1) : (c % 2 == 0)) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

bool is_cased(uint32_t c) { return to_upper_cp(c) != c || to_lower_cp(c) != c; }

template <class F>
std::string map_cps(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const uint32_t cp = decode_utf8_at(s, i, len);
    if (len == 1 && cp >= 0x80)
      out += s[i];  // invalid byte: kept as is
    else
      append_utf8(out, f(cp, i));
    i += len;
  }
  return out;
}

}  // namespace

std::string_view py_strip(std::string_view s, const std::string* chars, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      size_t len;
      const uint32_t cp = decode_utf8_at(s, b, len);
      if (!strippable(cp, chars)) break;
      b += len;
    }
  }
  if (right) {
    while (e > b) {
      const size_t start = prev_start(s, e);
      size_t len;
      const uint32_t cp = decode_utf8_at(s, start, len);
      if (!strippable(cp, chars)) break;
      e = start;
    }
  }
  return s.substr(b, e - b);
}

std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit,
                                  bool from_right) {
  std::vector<std::string> out;
  if (sep != nullptr) {
    if (!from_right) {
      size_t start = 0;
      while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
        const size_t p = s.find(*sep, start);
        if (p == std::string_view::npos) break;
        out.emplace_back(s.substr(start, p - start));
        start = p + sep->size();
      }
      out.emplace_back(s.substr(start));
      return out;
    }
    size_t end = s.size();
    std::vector<std::string> rev;
    while (maxsplit < 0 || static_cast<int64_t>(rev.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t p = s.rfind(*sep, end - sep->size());
      if (p == std::string_view::npos) break;
      rev.emplace_back(s.substr(p + sep->size(), end - p - sep->size()));
      end = p;
    }
    rev.emplace_back(s.substr(0, end));
    return std::vector<std::string>(rev.rbegin(), rev.rend());
  }
  // Whitespace split: runs of whitespace separate, no empty strings.
  std::vector<std::pair<size_t, size_t>> words;
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    uint32_t cp = decode_utf8_at(s, i, len);
    if (py_isspace(cp)) {
      i += len;
      continue;
    }
    const size_t start = i;
    while (i < s.size()) {
      cp = decode_utf8_at(s, i, len);
      if (py_isspace(cp)) break;
      i += len;
    }
    words.emplace_back(start, i);
  }
  if (maxsplit < 0 || static_cast<int64_t>(words.size()) <= maxsplit + 0) {
    for (auto [b, e] : words) out.emplace_back(s.substr(b, e - b));
    return out;
  }
  if (!from_right) {
    for (int64_t k = 0; k < maxsplit; ++k)
      out.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
    out.emplace_back(
        py_strip(s.substr(words[static_cast<size_t>(maxsplit)].first), nullptr, false, true));
    return out;
  }
  const size_t keep = words.size() - static_cast<size_t>(maxsplit);
  out.emplace_back(py_strip(s.substr(0, words[keep - 1].second), nullptr, true, false));
  for (size_t k = keep; k < words.size(); ++k)
    out.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
  return out;
}

std::string py_upper(std::string_view s) {
  std::string out = map_cps(s, [](uint32_t c, size_t) { return to_upper_cp(c); });
  if (out.find("\xC3\x9F") != std::string::npos) out = py_replace(out, "\xC3\x9F", "SS", -1);
  return out;
}

std::string py_lower(std::string_view s) {
  return map_cps(s, [](uint32_t c, size_t) { return to_lower_cp(c); });
}

std::string py_capitalize(std::string_view s) {
  return map_cps(s, [](uint32_t c, size_t i) { return i == 0 ? to_upper_cp(c) : to_lower_cp(c); });
}

std::string py_title(std::string_view s) {
  bool prev_cased = false;
  return map_cps(s, [&prev_cased](uint32_t c, size_t) {
    const uint32_t r = prev_cased ? to_lower_cp(c) : to_upper_cp(c);
    prev_cased = is_cased(c);
    return r;
  });
}

std::string py_replace(std::string_view s, std::string_view old_s, std::string_view new_s,
                       int64_t count) {
  std::string out;
  if (old_s.empty()) {
    // Python inserts `new` before every code point and at the end.
    int64_t n = 0;
    size_t i = 0;
    for (; i < s.size() && (count < 0 || n < count); ++n) {
      out.append(new_s);
      size_t len;
      decode_utf8_at(s, i, len);
      out.append(s.substr(i, len));
      i += len;
    }
    if (i == s.size() && (count < 0 || n < count)) out.append(new_s);
    out.append(s.substr(i));
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t p = s.find(old_s, start);
    if (p == std::string_view::npos) break;
    out.append(s.substr(start, p - start));
    out.append(new_s);
    start = p + old_s.size();
    ++n;
  }
  out.append(s.substr(start));
  return out;
}

}  // namespace tmill::tok::jinja
