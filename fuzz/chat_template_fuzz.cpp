// libFuzzer target for the chat-template renderer: the input is a template (bytes before the
// first NUL) and, optionally, a messages JSON (bytes after it). Parsing and rendering must never
// crash, hang or trip a sanitizer; errors are fine. Caps are small so every input finishes fast.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tokenizer/chat_template/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view tmpl_text = input.substr(0, nul);
  auto tmpl = tmill::tok::ChatTemplate::parse(tmpl_text, "<s>", "</s>");
  if (!tmpl.ok()) return 0;

  tmill::tok::jinja::Limits limits;
  limits.max_loop_iterations = 20'000;
  limits.max_call_depth = 16;
  limits.max_eval_depth = 128;
  limits.max_output_bytes = 1 << 16;
  limits.max_work = 400'000;
  tmpl->set_limits(limits);
  tmpl->set_fixed_time(1741964966);

  static const auto kMessages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": [{"type": "text", "text": "Hi {{ x }}"}]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "a1b2c3d4e", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "a1b2c3d4e", "name": "get_weather", "content": "22 C"},
    {"role": "user", "content": "Thanks ✓"}])");
  static const auto kTools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {
    "name": "get_weather", "description": "Weather", "parameters": {"type": "object",
    "properties": {"location": {"type": "string"}}, "required": ["location"]}}}])");
  tmill::tok::ChatRequest req;
  req.messages = kMessages;
  req.tools = kTools;
  if (nul != std::string_view::npos) {
    auto custom = nlohmann::ordered_json::parse(input.substr(nul + 1), nullptr, false);
    if (!custom.is_discarded()) req.messages = std::move(custom);
  }
  for (bool gen : {true, false}) {
    req.add_generation_prompt = gen;
    auto out = tmpl->render(req);
    (void)out;
  }
  return 0;
}
