// Parser: tokens -> syntax tree. Operator precedence and statement syntax follow Jinja2's
// parser; unsupported statements (extends, include, import, block, ...) are errors with a
// position. Nesting (blocks and expressions) is capped so that no input can exhaust the stack.
#pragma once

#include <string>
#include <string_view>

#include "core/expected.h"
#include "tokenizer/chat_template/ast.h"

namespace tmill::tok::jinja {

struct ParsedTemplate {
  std::string source;  // normalized source, for error positions
  Body body;
};

Expected<ParsedTemplate> parse_template(std::string_view text, int max_nesting = 256);

}  // namespace tmill::tok::jinja
