#include "tokenizer/chat_template/chat_template.h"

#include <ctime>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace tmill::tok {

using nlohmann::ordered_json;

Expected<ordered_json> normalize_chat_messages(const ordered_json& messages) {
  if (!messages.is_array()) return fail("'messages' must be an array");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const ordered_json& m = messages[i];
    if (!m.is_object()) return fail("messages[", i, "] must be an object");
    ordered_json msg = m;
    if (auto it = msg.find("content"); it != msg.end() && it->is_array()) {
      std::string text;
      bool first = true;
      for (const ordered_json& part : *it) {
        if (!part.is_object() || !part.contains("type") || part["type"] != "text" ||
            !part.contains("text") || !part["text"].is_string())
          return fail("messages[", i,
                      "].content: only parts of type \"text\" with a string \"text\" are "
                      "supported");
        if (!first) text += "\n";
        first = false;
        text += part["text"].get<std::string>();
      }
      *it = text;
    }
    if (auto it = msg.find("tool_calls"); it != msg.end() && it->is_array()) {
      for (ordered_json& call : *it) {
        if (!call.is_object()) continue;
        auto fn = call.find("function");
        if (fn == call.end() || !fn->is_object()) continue;
        auto args = fn->find("arguments");
        if (args == fn->end() || !args->is_string()) continue;
        ordered_json parsed = ordered_json::parse(args->get<std::string>(), nullptr, false);
        if (!parsed.is_discarded() && parsed.is_object()) *args = std::move(parsed);
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

Expected<ChatTemplate> ChatTemplate::parse(std::string_view source, std::string bos_token,
                                           std::string eos_token) {
  TM_ASSIGN(jinja::Template t, jinja::Template::parse(source));
  ChatTemplate ct(std::move(t));
  ct.bos_ = std::move(bos_token);
  ct.eos_ = std::move(eos_token);
  return ct;
}

std::string ChatTemplate::bos_text(const Tokenizer& tokenizer) {
  return tokenizer.bos() >= 0 ? tokenizer.token_piece(tokenizer.bos()) : std::string();
}

std::string ChatTemplate::eos_text(const Tokenizer& tokenizer) {
  return tokenizer.eos() >= 0 ? tokenizer.token_piece(tokenizer.eos()) : std::string();
}

Expected<ChatTemplate> ChatTemplate::from_gguf(const gguf::File& file, const Tokenizer& tokenizer) {
  const std::string* source = file.get_string("tokenizer.chat_template");
  if (source == nullptr || source->empty())
    return fail(
        "this model has no chat template (GGUF key tokenizer.chat_template is missing); it is "
        "probably a base model: pass a Jinja template file (tokenmill chat-template "
        "--template FILE, tokenmill run --chat-template FILE)");
  auto parsed = parse(*source, bos_text(tokenizer), eos_text(tokenizer));
  if (!parsed.ok()) return fail("the model's chat template: ", parsed.error().message);
  return parsed;
}

namespace {

jinja::Value strftime_function(std::optional<int64_t> fixed) {
  return jinja::Value::function(
      "strftime_now", [fixed](jinja::Interpreter&, jinja::CallArgs& a) -> Expected<jinja::Value> {
        if (a.args.empty() || !a.args[0].is_string())
          return fail("strftime_now expects a format string");
        const std::string& fmt = a.args[0].str();
        if (fmt.size() > 256) return fail("strftime_now: format is too long");
        std::tm tm{};
        if (fixed) {
          const std::time_t t = static_cast<std::time_t>(*fixed);
          gmtime_r(&t, &tm);
        } else {
          const std::time_t t = std::time(nullptr);
          localtime_r(&t, &tm);
        }
        char buf[2048];
        const size_t n = fmt.empty() ? 0 : std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
        return jinja::Value::string(std::string(buf, n));
      });
}

}  // namespace

Expected<std::string> ChatTemplate::render(const ChatRequest& request) const {
  TM_ASSIGN(ordered_json messages, normalize_chat_messages(request.messages));
  jinja::Variables vars;
  TM_ASSIGN(jinja::Value msgs, jinja::from_json(messages));
  vars.emplace_back("messages", std::move(msgs));
  if (request.tools.is_null()) {
    vars.emplace_back("tools", jinja::Value::none());
  } else {
    if (!request.tools.is_array()) return fail("'tools' must be an array");
    TM_ASSIGN(jinja::Value tools, jinja::from_json(request.tools));
    vars.emplace_back("tools", std::move(tools));
  }
  vars.emplace_back("documents", jinja::Value::none());
  vars.emplace_back("add_generation_prompt", jinja::Value::boolean(request.add_generation_prompt));
  vars.emplace_back("bos_token", jinja::Value::string(bos_));
  vars.emplace_back("eos_token", jinja::Value::string(eos_));
  vars.emplace_back("strftime_now", strftime_function(fixed_time_));
  if (request.extra_vars.is_object()) {
    for (const auto& [k, v] : request.extra_vars.items()) {
      TM_ASSIGN(jinja::Value value, jinja::from_json(v));
      vars.emplace_back(k, std::move(value));
    }
  } else if (!request.extra_vars.is_null()) {
    return fail("chat template variables must be an object");
  }
  return tmpl_.render(vars, limits_);
}

}  // namespace tmill::tok
