// UTF-8 helpers shared by the tokenizers and the streaming decoder. Input text is untrusted
// bytes: every function here accepts invalid UTF-8 and says so instead of misreading it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tmill::tok {

enum class Utf8Kind {
  Valid,       // `length` bytes form one well-formed character
  Incomplete,  // the bytes so far are a valid prefix, but the text ends before the character does
  Invalid,     // `length` bytes (the maximal ill-formed subpart, >= 1) can never be a character
};

struct Utf8Scan {
  Utf8Kind kind;
  size_t length;
};

// Classifies the character starting at s[0] (n >= 1) per the Unicode well-formedness table
// (no overlongs, no surrogates, nothing above U+10FFFF).
Utf8Scan scan_utf8(const uint8_t* s, size_t n);

// Length of the character at text[pos] for splitting into symbols: a valid character's
// length, otherwise 1 (an invalid or truncated byte stands alone).
size_t utf8_symbol_length(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of code point cp (cp must be a valid scalar value).
void append_utf8(std::string& out, uint32_t cp);

// Decodes the valid character at s (as reported by scan_utf8).
uint32_t decode_utf8(const uint8_t* s, size_t length);

// Replaces every ill-formed subpart (including a truncated tail) with U+FFFD.
std::string sanitize_utf8(std::string_view text);

// GPT-2's reversible byte <-> printable code point mapping used by byte-level BPE vocabs:
// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 upwards.
uint32_t byte_to_gpt2_codepoint(uint8_t b);
// -1 when cp is not the image of any byte.
int gpt2_codepoint_to_byte(uint32_t cp);

}  // namespace tmill::tok
