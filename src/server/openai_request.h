// The OpenAI request bodies of /v1/chat/completions and /v1/completions, parsed and validated
// into plain structs. Pure: JSON text in, a request or an ApiError out; no model, no tokenizer,
// so it is unit-tested and fuzzed on its own (tokenization happens later, in prompt_builder).
//
// Unknown top-level fields are ignored, as OpenAI-compatible servers do, because official
// clients and frameworks send extras (e.g. "parallel_tool_calls", "metadata"); known fields of
// the wrong type or out of range are 400s naming the field. A null value means "not given".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampler.h"
#include "server/api_error.h"

namespace tmill::server {

enum class Endpoint { Chat, Completions };

// One completions prompt: text to tokenize, or token ids used as they are.
struct PromptInput {
  bool is_tokens = false;
  std::string text;
  std::vector<int32_t> tokens;
};

struct OpenAIRequest {
  Endpoint endpoint = Endpoint::Chat;
  std::string model;
  // Chat: [{"role", "content": string}] with content parts joined; ready for the template.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  std::vector<PromptInput> prompts;   // Completions: one choice set per prompt
  std::optional<int32_t> max_tokens;  // absent: up to the context
  int32_t n = 1;
  // Temperature 1.0 and top_k/min_p off unless given, as OpenAI samples (the struct's own
  // defaults are the CLI's). The seed is set only when `seed_given`.
  engine::SamplingParams sampling;
  bool seed_given = false;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;
  // -1: none. Chat: top_logprobs when logprobs=true (0..20). Completions: logprobs (0..5).
  int32_t logprobs = -1;
  bool echo = false;  // completions: the prompt is part of each choice's text (and logprobs)
  std::string user;
  bool ignore_eos = false;  // extension (vLLM, llama-server): generate past end-of-generation
};

struct ValidationLimits {
  std::vector<std::string> model_names;  // accepted values of "model"
  int32_t n_vocab = 0;                   // token ids and logit_bias keys must be below it
  int32_t max_n = 128;
  int32_t max_prompts = 128;
  int32_t max_stop = 4;
  size_t max_logit_bias = 1024;
};

ApiResult<OpenAIRequest> parse_openai_request(Endpoint endpoint, std::string_view body,
                                              const ValidationLimits& limits);

// The same, for a body already parsed (the parser above calls it after parse_json_body).
ApiResult<OpenAIRequest> validate_openai_request(Endpoint endpoint, const nlohmann::json& body,
                                                 const ValidationLimits& limits);

}  // namespace tmill::server
