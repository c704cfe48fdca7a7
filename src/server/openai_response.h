// Turns the engine's StreamEvents into OpenAI response bodies: the whole response at the end
// (non-streaming), or one chunk object per event (streaming). Choice p * n + i is choice i of
// prompt p. The caller frames chunks as SSE (sse.h) and decides when a request is over.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "tokenizer/tokenizer.h"

namespace tmill::server {

struct ResponseContext {
  Endpoint endpoint = Endpoint::Chat;
  std::string id;  // chatcmpl-... / cmpl-...: the same on every chunk
  int64_t created = 0;
  std::string model;
  int32_t n = 1;
  int32_t logprobs = -1;
  bool echo = false;
  bool include_usage = false;
  std::vector<std::string> echo_texts;              // per prompt
  std::vector<std::vector<int32_t>> prompt_tokens;  // per prompt (echo logprobs)
};

// "stop" / "length"; cancelled and failed choices never reach a client as a finish reason.
const char* finish_reason_text(engine::FinishReason reason);

// Unique enough for a response id: 24 hex digits from a process-wide counter mixed with a
// random start.
std::string make_response_id(Endpoint endpoint);

class ResponseBuilder {
 public:
  ResponseBuilder(ResponseContext context, tok::Tokenizer tokenizer);

  // Streaming: the chunks this event produces (possibly none). Non-streaming callers call it
  // too and ignore the result; the builder accumulates either way.
  std::vector<nlohmann::json> on_event(size_t prompt, const engine::StreamEvent& event);

  bool finished() const;  // every prompt has reached Done or Failed
  // A Failed event, or a choice cancelled by the server (shutdown): the request cannot
  // complete. Set once; the first cause wins.
  const std::optional<ApiError>& failure() const { return failure_; }

  nlohmann::json response() const;  // the non-streaming body
  // Streaming: choices [] and the usage, which then also carries "cost_usd" and "energy_j"
  // (what the response headers x-tokenmill-cost-usd / -energy-j carry for non-streamed ones).
  nlohmann::json usage_chunk() const;
  nlohmann::json usage() const;
  double cost_usd() const;  // summed over prompts, once finished
  double energy_j() const;
  // Metering tickets of the prompts that have ended (0s omitted): the response's final byte
  // waits until the ledger holds them.
  std::vector<uint64_t> usage_tickets() const;

 private:
  struct Choice {
    bool started = false;  // its first chunk went out (role / echo prefix)
    std::string text;
    nlohmann::json logprobs;  // accumulated (chat: {"content": [...]}, completions: 4 arrays)
    engine::FinishReason finish = engine::FinishReason::None;
    int64_t text_offset = 0;  // completions: code points of text before the next token
  };
  struct PromptState {
    bool done = false;
    std::vector<engine::TokenLogprob> prompt_logprobs;
    int64_t prompt_tokens = 0;
    int64_t cached_tokens = 0;
    int64_t completion_tokens = 0;
    double cost_usd = 0;
    double energy_j = 0;
    uint64_t usage_ticket = 0;
  };

  nlohmann::json chunk_base() const;
  nlohmann::json chat_logprob_entries(const std::vector<engine::TokenLogprob>& lps) const;
  // Completions' {"tokens", "token_logprobs", "top_logprobs", "text_offset"} for these
  // tokens; `prompt_start` marks a first prompt token, whose logprob is null.
  nlohmann::json completion_logprobs(const std::vector<int32_t>& tokens,
                                     const std::vector<const engine::TokenLogprob*>& lps,
                                     int64_t* text_offset) const;
  static void append_completion_logprobs(nlohmann::json& into, const nlohmann::json& more);
  // Echo: the prompt's text and logprobs that open each choice's output.
  void start_choice(size_t prompt, Choice& choice, std::string* text, nlohmann::json* logprobs);
  nlohmann::json make_choice_chunk(size_t index, const std::string& text,
                                   const nlohmann::json& logprobs, bool first,
                                   const char* finish_reason) const;

  ResponseContext ctx_;
  tok::Tokenizer tokenizer_;
  std::vector<Choice> choices_;
  std::vector<PromptState> prompts_;
  std::optional<ApiError> failure_;
};

}  // namespace tmill::server
