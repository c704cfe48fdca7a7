// From a validated OpenAIRequest to the engine's GenerationRequests: renders chat messages with
// the model's chat template, tokenizes, resolves max_tokens against the context, and fills the
// sampling parameters. The one place where the protocol meets the tokenizer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "tokenizer/chat_template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace tmill::server {

struct PreparedRequest {
  // One per prompt (chat: exactly one). Choice i of prompt p is index p * n + i.
  std::vector<engine::GenerationRequest> requests;
  std::vector<std::string> echo_texts;  // per prompt: its text as the client sees it (echo)
};

struct PromptLimits {
  int32_t n_ctx = 4096;        // prompt + max_tokens must fit
  int64_t kv_pool_tokens = 0;  // KV pool capacity in tokens; 0: unknown (no cap)
};

class PromptBuilder {
 public:
  // `chat_template` empty: the model has none, and chat requests are refused with a 400.
  PromptBuilder(tok::Tokenizer tokenizer, std::optional<tok::ChatTemplate> chat_template,
                PromptLimits limits);

  // `random_seed` is used when the request gave no seed.
  ApiResult<PreparedRequest> prepare(const OpenAIRequest& request, uint64_t random_seed) const;

  // The chat prompt text (after the template, leading BOS text removed when the tokenizer adds
  // BOS itself, as llama.cpp does, so the prompt never starts with two BOS tokens).
  ApiResult<std::string> render_chat(const nlohmann::ordered_json& messages) const;

  const tok::Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  ApiResult<int32_t> resolve_max_tokens(const OpenAIRequest& request, size_t prompt_tokens,
                                        const char* prompt_param) const;

  tok::Tokenizer tokenizer_;
  std::optional<tok::ChatTemplate> chat_template_;
  PromptLimits limits_;
};

}  // namespace tmill::server
