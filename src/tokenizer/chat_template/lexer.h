// Lexer of the Jinja subset: template text -> text runs, tag delimiters and expression tokens.
//
// Configured as Hugging Face transformers renders chat templates: trim_blocks (the first newline
// after a block or comment tag is dropped), lstrip_blocks (spaces and tabs before a block or
// comment tag at the start of a line are dropped), `{%-`/`-%}` (and for `{{ }}`, `{# #}`) strip
// all whitespace on that side, `{%+`/`+%}` disable lstrip/trim for that tag. Newlines are
// normalized to "\n" and one trailing newline of the template is dropped (keep_trailing_newline
// is false), as in Jinja2. `{% raw %}...{% endraw %}` is emitted as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/expected.h"

namespace tmill::tok::jinja {

enum class Tok : uint8_t {
  Text,
  VarBegin,
  VarEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Int,
  Float,
  Op,
  Eof,
};

struct Token {
  Tok kind;
  std::string text;  // Text/Name/String (unescaped)/Op contents
  int64_t int_value = 0;
  double float_value = 0;
  size_t pos = 0;  // byte offset in the normalized source
};

struct LexResult {
  std::string source;  // normalized source: positions refer to it
  std::vector<Token> tokens;
};

Expected<LexResult> lex(std::string_view text);

// "line L, column C" (1-based; columns count bytes) of a byte offset in the normalized source.
std::string describe_position(std::string_view source, size_t pos);

}  // namespace tmill::tok::jinja
