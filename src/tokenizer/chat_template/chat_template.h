// Chat templates: a model's tokenizer.chat_template (Jinja) rendered for an OpenAI-style
// conversation, as Hugging Face transformers' apply_chat_template renders it.
//
// Variables given to the template: messages, tools (none when the request has none),
// documents (none), add_generation_prompt, bos_token, eos_token, strftime_now(fmt),
// raise_exception(msg), plus any extra variables of the request (chat_template_kwargs).
// Messages are normalized first, as llama.cpp and vLLM do for text-only models: content given as
// an array of parts becomes one string (text parts joined with "\n"; other part types are an
// error), and tool-call arguments given as a JSON string are parsed into an object.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/expected.h"
#include "tokenizer/chat_template/template.h"

namespace tmill::gguf {
class File;
}

namespace tmill::tok {

class Tokenizer;

struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null or an array of {"type":"function","function":{...}}
  bool add_generation_prompt = true;
  nlohmann::ordered_json extra_vars;  // null or an object of further template variables
};

class ChatTemplate {
 public:
  // Parse errors name the line and column in the template.
  static Expected<ChatTemplate> parse(std::string_view source, std::string bos_token = "",
                                      std::string eos_token = "");
  // The GGUF's tokenizer.chat_template with the tokenizer's BOS/EOS text. A model without a
  // template is an error that says so.
  static Expected<ChatTemplate> from_gguf(const gguf::File& file, const Tokenizer& tokenizer);
  // bos/eos token text of the tokenizer ("" when the model has none).
  static std::string bos_text(const Tokenizer& tokenizer);
  static std::string eos_text(const Tokenizer& tokenizer);

  Expected<std::string> render(const ChatRequest& request) const;

  // strftime_now() reads this clock: a fixed UTC time (tests, fixtures) or, by default, the
  // current local time.
  void set_fixed_time(std::optional<int64_t> unix_seconds) { fixed_time_ = unix_seconds; }
  void set_limits(const jinja::Limits& limits) { limits_ = limits; }
  void set_bos_token(std::string t) { bos_ = std::move(t); }
  void set_eos_token(std::string t) { eos_ = std::move(t); }
  const std::string& bos_token() const { return bos_; }
  const std::string& eos_token() const { return eos_; }

 private:
  explicit ChatTemplate(jinja::Template t) : tmpl_(std::move(t)) {}
  jinja::Template tmpl_;
  std::string bos_, eos_;
  std::optional<int64_t> fixed_time_;
  jinja::Limits limits_;
};

// The message normalization described above, on its own (for tests and tools).
Expected<nlohmann::ordered_json> normalize_chat_messages(const nlohmann::ordered_json& messages);

}  // namespace tmill::tok
