#include "server/openai_request.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "server/json_body.h"

namespace tmill::server {
namespace {

using nlohmann::json;

// The field's value, or nullptr when it is absent or null (both mean "not given").
const json* find_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string type_name(const json& value) {
  if (value.is_number_float()) return "number";
  if (value.is_number()) return "integer";
  return value.type_name();
}

ApiError wrong_type(const std::string& param, const char* expected, const json& got) {
  return invalid_request("'" + param + "' must be " + expected + ", got " + type_name(got), param);
}

ApiError out_of_range(const std::string& param, const std::string& range) {
  return invalid_request("'" + param + "' must be " + range, param);
}

// An integer in [lo, hi]. A float with an integral value (3.0) is accepted, as lenient JSON
// encoders write whole numbers that way; anything else is a type error.
ApiResult<int64_t> to_integer(const json& value, const std::string& param, int64_t lo, int64_t hi) {
  const std::string range =
      "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || (lo > 0 && u < static_cast<uint64_t>(lo)))
      return out_of_range(param, range);
    return static_cast<int64_t>(u);
  }
  int64_t v = 0;
  if (value.is_number_integer()) {
    v = value.get<int64_t>();
  } else if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) return wrong_type(param, "an integer", value);
    // Compare as doubles first: casting an out-of-range double to int64 is undefined.
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
      return out_of_range(param, range);
    v = static_cast<int64_t>(d);
  } else {
    return wrong_type(param, "an integer", value);
  }
  if (v < lo || v > hi) return out_of_range(param, range);
  return v;
}

ApiResult<std::optional<int64_t>> opt_integer(const json& body, const char* name, int64_t lo,
                                              int64_t hi) {
  const json* v = find_field(body, name);
  if (v == nullptr) return std::optional<int64_t>();
  TM_ASSIGN(int64_t i, to_integer(*v, name, lo, hi));
  return std::optional<int64_t>(i);
}

// A finite number in [lo, hi] (JSON cannot spell NaN, but the check costs nothing).
ApiResult<std::optional<double>> opt_number(const json& body, const char* name, double lo,
                                            double hi) {
  const json* v = find_field(body, name);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return wrong_type(name, "a number", *v);
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    char range[96];
    std::snprintf(range, sizeof(range), "a number in [%g, %g]", lo, hi);
    return out_of_range(name, range);
  }
  return std::optional<double>(d);
}

ApiResult<std::optional<bool>> opt_bool(const json& body, const char* name) {
  const json* v = find_field(body, name);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return wrong_type(name, "a boolean", *v);
  return std::optional<bool>(v->get<bool>());
}

ApiResult<std::optional<std::string>> opt_string(const json& body, const char* name) {
  const json* v = find_field(body, name);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return wrong_type(name, "a string", *v);
  return std::optional<std::string>(v->get<std::string>());
}

ApiResult<std::string> parse_model(const json& body, const ValidationLimits& limits) {
  const json* v = find_field(body, "model");
  if (v == nullptr) return invalid_request("'model' is required", "model");
  if (!v->is_string()) return wrong_type("model", "a string", *v);
  const std::string name = v->get<std::string>();
  for (const auto& served : limits.model_names)
    if (served == name) return name;
  std::string known;
  for (const auto& served : limits.model_names)
    known += (known.empty() ? "'" : ", '") + served + "'";
  ApiError e =
      not_found("The model '" + name + "' does not exist (this server serves " + known + ")",
                "model_not_found");
  e.param = "model";
  return e;
}

// Chat content: a string, or an array of {"type": "text", "text": "..."} parts joined with
// "\n" (as the chat-template layer joins them). Other part types (images, audio) are refused:
// the models served are text-only.
ApiResult<std::string> parse_content(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    return wrong_type(param, "a string or an array of content parts", content);
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string part_param = param + "[" + std::to_string(j) + "]";
    const json& part = content[j];
    if (!part.is_object()) return wrong_type(part_param, "an object", part);
    const json* type = find_field(part, "type");
    if (type == nullptr || !type->is_string())
      return invalid_request("'" + part_param + ".type' must be a string", part_param + ".type");
    if (type->get<std::string>() != "text")
      return invalid_request("content part type '" + type->get<std::string>() +
                                 "' is not supported (only 'text': this model reads text)",
                             part_param + ".type");
    const json* t = find_field(part, "text");
    if (t == nullptr || !t->is_string())
      return invalid_request("'" + part_param + ".text' must be a string", part_param + ".text");
    if (j > 0) text += "\n";
    text += t->get<std::string>();
  }
  return text;
}

ApiResult<nlohmann::ordered_json> parse_messages(const json& body) {
  const json* v = find_field(body, "messages");
  if (v == nullptr) return invalid_request("'messages' is required", "messages");
  if (!v->is_array()) return wrong_type("messages", "an array", *v);
  if (v->empty()) return invalid_request("'messages' must not be empty", "messages");
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string param = "messages[" + std::to_string(i) + "]";
    const json& m = (*v)[i];
    if (!m.is_object()) return wrong_type(param, "an object", m);
    const json* role = find_field(m, "role");
    if (role == nullptr)
      return invalid_request("'" + param + ".role' is required", param + ".role");
    if (!role->is_string()) return wrong_type(param + ".role", "a string", *role);
    std::string r = role->get<std::string>();
    // "developer" is OpenAI's newer name for the system role; templates only know "system".
    if (r == "developer") r = "system";
    if (r != "system" && r != "user" && r != "assistant" && r != "tool")
      return invalid_request("'" + param +
                                 ".role' must be one of system, developer, user, "
                                 "assistant, tool; got '" +
                                 r + "'",
                             param + ".role");
    nlohmann::ordered_json msg = {{"role", r}};
    const json* content = find_field(m, "content");
    if (content == nullptr) {
      // Only an assistant turn that called tools may lack content.
      if (r != "assistant" || find_field(m, "tool_calls") == nullptr)
        return invalid_request("'" + param + ".content' is required", param + ".content");
      msg["content"] = nullptr;
    } else {
      TM_ASSIGN(std::string text, parse_content(*content, param + ".content"));
      msg["content"] = std::move(text);
    }
    if (const json* name = find_field(m, "name")) {
      if (!name->is_string()) return wrong_type(param + ".name", "a string", *name);
      msg["name"] = name->get<std::string>();
    }
    if (const json* calls = find_field(m, "tool_calls")) {
      if (!calls->is_array()) return wrong_type(param + ".tool_calls", "an array", *calls);
      msg["tool_calls"] = nlohmann::ordered_json::parse(calls->dump());
    }
    if (const json* id = find_field(m, "tool_call_id")) {
      if (!id->is_string()) return wrong_type(param + ".tool_call_id", "a string", *id);
      msg["tool_call_id"] = id->get<std::string>();
    }
    out.push_back(std::move(msg));
  }
  return out;
}

ApiResult<std::vector<int32_t>> parse_token_array(const json& array, const std::string& param,
                                                  const ValidationLimits& limits) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  const int64_t hi = limits.n_vocab > 0 ? limits.n_vocab - 1 : std::numeric_limits<int32_t>::max();
  for (size_t i = 0; i < array.size(); ++i) {
    TM_ASSIGN(int64_t id, to_integer(array[i], param + "[" + std::to_string(i) + "]", 0, hi));
    ids.push_back(static_cast<int32_t>(id));
  }
  if (ids.empty()) return invalid_request("'" + param + "' must not be empty", param);
  return ids;
}

// "prompt": a string, an array of strings, an array of token ids, or an array of such arrays.
ApiResult<std::vector<PromptInput>> parse_prompts(const json& body,
                                                  const ValidationLimits& limits) {
  const json* v = find_field(body, "prompt");
  if (v == nullptr) return invalid_request("'prompt' is required", "prompt");
  std::vector<PromptInput> prompts;
  if (v->is_string()) {
    prompts.push_back(PromptInput{false, v->get<std::string>(), {}});
    return prompts;
  }
  if (!v->is_array())
    return wrong_type("prompt", "a string, an array of strings or an array of token ids", *v);
  if (v->empty()) return invalid_request("'prompt' must not be empty", "prompt");
  if ((*v)[0].is_number()) {
    TM_ASSIGN(std::vector<int32_t> ids, parse_token_array(*v, "prompt", limits));
    prompts.push_back(PromptInput{true, "", std::move(ids)});
    return prompts;
  }
  if (v->size() > static_cast<size_t>(limits.max_prompts))
    return invalid_request("'prompt' has " + std::to_string(v->size()) + " prompts; at most " +
                               std::to_string(limits.max_prompts) + " are allowed",
                           "prompt");
  const bool strings = (*v)[0].is_string();
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string param = "prompt[" + std::to_string(i) + "]";
    const json& p = (*v)[i];
    if (strings) {
      if (!p.is_string()) return wrong_type(param, "a string (like prompt[0])", p);
      prompts.push_back(PromptInput{false, p.get<std::string>(), {}});
    } else {
      if (!p.is_array()) return wrong_type(param, "an array of token ids (like prompt[0])", p);
      TM_ASSIGN(std::vector<int32_t> ids, parse_token_array(p, param, limits));
      prompts.push_back(PromptInput{true, "", std::move(ids)});
    }
  }
  return prompts;
}

ApiResult<std::vector<std::string>> parse_stop(const json& body, const ValidationLimits& limits) {
  std::vector<std::string> stop;
  const json* v = find_field(body, "stop");
  if (v == nullptr) return stop;
  if (v->is_string()) {
    if (!v->get<std::string>().empty()) stop.push_back(v->get<std::string>());
    return stop;
  }
  if (!v->is_array()) return wrong_type("stop", "a string or an array of strings", *v);
  if (v->size() > static_cast<size_t>(limits.max_stop))
    return invalid_request(
        "'stop' may hold at most " + std::to_string(limits.max_stop) + " sequences", "stop");
  for (size_t i = 0; i < v->size(); ++i) {
    const json& s = (*v)[i];
    if (!s.is_string()) return wrong_type("stop[" + std::to_string(i) + "]", "a string", s);
    // An empty stop string would end every generation at once; it is dropped instead.
    if (!s.get<std::string>().empty()) stop.push_back(s.get<std::string>());
  }
  return stop;
}

ApiResult<std::vector<std::pair<int32_t, float>>> parse_logit_bias(const json& body,
                                                                   const ValidationLimits& limits) {
  std::vector<std::pair<int32_t, float>> bias;
  const json* v = find_field(body, "logit_bias");
  if (v == nullptr) return bias;
  if (!v->is_object()) return wrong_type("logit_bias", "an object", *v);
  if (v->size() > limits.max_logit_bias)
    return invalid_request(
        "'logit_bias' may hold at most " + std::to_string(limits.max_logit_bias) + " entries",
        "logit_bias");
  for (auto it = v->begin(); it != v->end(); ++it) {
    const std::string& key = it.key();
    const std::string param = "logit_bias." + key;
    // Keys are decimal token ids: digits only, no sign or spaces, at most 10 of them.
    bool digits = !key.empty() && key.size() <= 10;
    for (const char c : key) digits = digits && c >= '0' && c <= '9';
    const int64_t id = digits ? std::stoll(key) : -1;
    const int64_t n_vocab =
        limits.n_vocab > 0 ? limits.n_vocab : std::numeric_limits<int32_t>::max();
    if (id < 0 || id >= n_vocab)
      return invalid_request("'logit_bias' keys must be token ids in [0, " +
                                 std::to_string(n_vocab - 1) + "]; got '" + key + "'",
                             "logit_bias");
    if (!it.value().is_number()) return wrong_type(param, "a number", it.value());
    const double b = it.value().get<double>();
    if (!std::isfinite(b) || b < -100 || b > 100)
      return out_of_range(param, "a number in [-100, 100]");
    bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(b));
  }
  return bias;
}

}  // namespace

ApiResult<OpenAIRequest> validate_openai_request(Endpoint endpoint, const json& body,
                                                 const ValidationLimits& limits) {
  if (!body.is_object()) return invalid_request("the request body must be a JSON object");
  OpenAIRequest r;
  r.endpoint = endpoint;
  const bool chat = endpoint == Endpoint::Chat;
  TM_ASSIGN(r.model, parse_model(body, limits));
  if (chat) {
    TM_ASSIGN(r.messages, parse_messages(body));
  } else {
    TM_ASSIGN(r.prompts, parse_prompts(body, limits));
  }

  constexpr int64_t kMaxTokens = std::numeric_limits<int32_t>::max();
  // Chat asks for at least one token, as OpenAI does; completions allow 0 (echo + logprobs
  // scoring of the prompt alone, as evaluation harnesses do).
  const int64_t min_tokens = chat ? 1 : 0;
  TM_ASSIGN(auto max_tokens, opt_integer(body, "max_tokens", min_tokens, kMaxTokens));
  if (chat) {
    TM_ASSIGN(auto max_completion, opt_integer(body, "max_completion_tokens", 1, kMaxTokens));
    if (max_completion) max_tokens = max_completion;  // the newer name wins, as in OpenAI
  }
  if (max_tokens) r.max_tokens = static_cast<int32_t>(*max_tokens);

  TM_ASSIGN(auto n, opt_integer(body, "n", 1, limits.max_n));
  r.n = n ? static_cast<int32_t>(*n) : 1;
  if (!chat && static_cast<int64_t>(r.prompts.size()) * r.n > limits.max_n * 8)
    return invalid_request("'n' times the number of prompts is too large", "n");

  engine::SamplingParams& s = r.sampling;
  s.temperature = 1.0f;
  s.top_k = 0;
  s.top_p = 1.0f;
  s.min_p = 0.0f;
  s.repetition_penalty = 1.0f;
  TM_ASSIGN(auto temperature, opt_number(body, "temperature", 0.0, 2.0));
  if (temperature) s.temperature = static_cast<float>(*temperature);
  TM_ASSIGN(auto top_p, opt_number(body, "top_p", 0.0, 1.0));
  if (top_p) {
    if (*top_p <= 0.0) return out_of_range("top_p", "a number in (0, 1]");
    s.top_p = static_cast<float>(*top_p);
  }
  // -1 and 0 both disable top_k (vLLM spells "off" as -1, llama.cpp as 0).
  TM_ASSIGN(auto top_k, opt_integer(body, "top_k", -1, std::numeric_limits<int32_t>::max()));
  if (top_k) s.top_k = *top_k < 0 ? 0 : static_cast<int32_t>(*top_k);
  TM_ASSIGN(auto min_p, opt_number(body, "min_p", 0.0, 1.0));
  if (min_p) s.min_p = static_cast<float>(*min_p);
  TM_ASSIGN(auto presence, opt_number(body, "presence_penalty", -2.0, 2.0));
  if (presence) s.presence_penalty = static_cast<float>(*presence);
  TM_ASSIGN(auto frequency, opt_number(body, "frequency_penalty", -2.0, 2.0));
  if (frequency) s.frequency_penalty = static_cast<float>(*frequency);
  TM_ASSIGN(auto repetition, opt_number(body, "repetition_penalty", 0.01, 10.0));
  if (repetition) s.repetition_penalty = static_cast<float>(*repetition);
  TM_ASSIGN(s.logit_bias, parse_logit_bias(body, limits));
  TM_ASSIGN(auto seed, opt_integer(body, "seed", std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max()));
  if (seed) {
    r.seed_given = true;
    s.seed = static_cast<uint64_t>(*seed);
  }

  TM_ASSIGN(r.stop, parse_stop(body, limits));

  TM_ASSIGN(auto stream, opt_bool(body, "stream"));
  r.stream = stream.value_or(false);
  if (const json* so = find_field(body, "stream_options")) {
    if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
    if (!r.stream)
      return invalid_request("'stream_options' is only allowed when 'stream' is true",
                             "stream_options");
    TM_ASSIGN(auto include_usage, opt_bool(*so, "include_usage"));
    r.include_usage = include_usage.value_or(false);
  }

  if (chat) {
    TM_ASSIGN(auto logprobs, opt_bool(body, "logprobs"));
    TM_ASSIGN(auto top_logprobs, opt_integer(body, "top_logprobs", 0, 20));
    if (top_logprobs && !logprobs.value_or(false))
      return invalid_request("'top_logprobs' requires 'logprobs' to be true", "top_logprobs");
    if (logprobs.value_or(false)) r.logprobs = static_cast<int32_t>(top_logprobs.value_or(0));
  } else {
    TM_ASSIGN(auto logprobs, opt_integer(body, "logprobs", 0, 5));
    if (logprobs) r.logprobs = static_cast<int32_t>(*logprobs);
    TM_ASSIGN(auto echo, opt_bool(body, "echo"));
    r.echo = echo.value_or(false);
  }

  TM_ASSIGN(auto user, opt_string(body, "user"));
  r.user = user.value_or("");
  // Not OpenAI, but vLLM and llama-server accept it and load generators rely on it.
  TM_ASSIGN(auto ignore_eos, opt_bool(body, "ignore_eos"));
  r.ignore_eos = ignore_eos.value_or(false);
  return r;
}

ApiResult<OpenAIRequest> parse_openai_request(Endpoint endpoint, std::string_view body,
                                              const ValidationLimits& limits) {
  TM_ASSIGN(nlohmann::json parsed, parse_json_body(body));
  return validate_openai_request(endpoint, parsed, limits);
}

}  // namespace tmill::server
