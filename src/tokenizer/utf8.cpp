#include "tokenizer/utf8.h"

#include <array>

namespace tmill::tok {

Utf8Scan scan_utf8(const uint8_t* s, size_t n) {
  const uint8_t b0 = s[0];
  if (b0 < 0x80) return {Utf8Kind::Valid, 1};
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Utf8Kind::Invalid, 1};  // continuation byte, C0/C1 or F5..FF as a lead
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= n) return {Utf8Kind::Incomplete, i};
    const uint8_t b = s[i];
    const uint8_t l = i == 1 ? lo : 0x80;
    const uint8_t h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) return {Utf8Kind::Invalid, i};
  }
  return {Utf8Kind::Valid, need};
}

size_t utf8_symbol_length(std::string_view text, size_t pos) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data()) + pos;
  const Utf8Scan scan = scan_utf8(p, text.size() - pos);
  return scan.kind == Utf8Kind::Valid ? scan.length : 1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t decode_utf8(const uint8_t* s, size_t length) {
  switch (length) {
    case 1:
      return s[0];
    case 2:
      return (uint32_t(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3:
      return (uint32_t(s[0] & 0x0F) << 12) | (uint32_t(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
      return (uint32_t(s[0] & 0x07) << 18) | (uint32_t(s[1] & 0x3F) << 12) |
             (uint32_t(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
  }
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Scan scan = scan_utf8(p + i, text.size() - i);
    if (scan.kind == Utf8Kind::Valid) {
      out.append(text.data() + i, scan.length);
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD, one per maximal ill-formed subpart
    }
    i += scan.length;
  }
  return out;
}

namespace {

struct Gpt2ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> to_byte{};  // every image is below U+0200

  Gpt2ByteMap() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
      to_byte[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const Gpt2ByteMap& gpt2_map() {
  static const Gpt2ByteMap map;
  return map;
}

}  // namespace

uint32_t byte_to_gpt2_codepoint(uint8_t b) { return gpt2_map().to_cp[b]; }

int gpt2_codepoint_to_byte(uint32_t cp) { return cp < 512 ? gpt2_map().to_byte[cp] : -1; }

}  // namespace tmill::tok
