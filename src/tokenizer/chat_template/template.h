// A parsed Jinja-subset template and its sandboxed renderer.
//
// Semantics follow Jinja2 as Hugging Face transformers configures it for chat templates
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loop controls, the default
// Undefined): printing an undefined value prints nothing, using one (attribute, arithmetic,
// call) is an error; lists and dicts cannot be mutated; range() is capped at 100,000 items.
// The sandbox has no file, environment or clock access of its own (the chat facade supplies
// strftime_now), and caps total loop iterations, nested macro calls, nesting of evaluation,
// output size and total work. Breaking a cap, a template error or raise_exception() makes
// render() return an Error; nothing aborts or hangs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/expected.h"
#include "tokenizer/chat_template/value.h"

namespace tmill::tok::jinja {

struct ParsedTemplate;

struct Limits {
  uint64_t max_loop_iterations = 1'000'000;  // total over one render (for-loop items, filters)
  int max_call_depth = 64;                   // nested macro calls
  int max_eval_depth = 512;                  // nested statement/expression evaluation
  size_t max_output_bytes = 16u << 20;       // the rendered text, and any single string or list
  uint64_t max_work = 200'000'000;           // abstract steps (nodes evaluated, bytes built / 64)
};

using Variables = std::vector<std::pair<std::string, Value>>;

class Template {
 public:
  // Parse errors name the line and column.
  static Expected<Template> parse(std::string_view text);
  // Renders with `vars` as global variables, next to the built-ins (range, namespace, dict,
  // raise_exception). Thread-safe: a Template may render concurrently.
  Expected<std::string> render(const Variables& vars, const Limits& limits = {}) const;

 private:
  explicit Template(std::shared_ptr<const ParsedTemplate> p) : parsed_(std::move(p)) {}
  std::shared_ptr<const ParsedTemplate> parsed_;
};

}  // namespace tmill::tok::jinja
