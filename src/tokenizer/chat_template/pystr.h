// Python str operations on UTF-8 text, as the templates' string methods and filters need them:
// whitespace per str.isspace(), strip/split, case mapping (ASCII and Latin-1/Greek/Cyrillic
// basics), code-point indexing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tmill::tok::jinja {

// Decodes one code point at s[i] (lenient: an invalid byte is returned as itself, length 1).
uint32_t decode_utf8_at(std::string_view s, size_t i, size_t& len);
void append_utf8(std::string& out, uint32_t cp);

bool py_isspace(uint32_t cp);
// str.strip()/lstrip()/rstrip(): with chars == nullptr strips Unicode whitespace, else any of
// the code points in *chars.
std::string_view py_strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.split(sep, maxsplit) / rsplit; sep == nullptr splits on whitespace runs.
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit,
                                  bool from_right = false);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
// str.capitalize(): first character upper, the rest lower.
std::string py_capitalize(std::string_view s);
// str.title() / Jinja's title filter: words (runs of cased letters) capitalized.
std::string py_title(std::string_view s);
// str.replace(old, new, count); count < 0 replaces all.
std::string py_replace(std::string_view s, std::string_view old_s, std::string_view new_s,
                       int64_t count);

}  // namespace tmill::tok::jinja
