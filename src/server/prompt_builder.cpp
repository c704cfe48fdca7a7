#include "server/prompt_builder.h"

#include <algorithm>
#include <utility>

namespace tmill::server {

PromptBuilder::PromptBuilder(tok::Tokenizer tokenizer,
                             std::optional<tok::ChatTemplate> chat_template, PromptLimits limits)
    : tokenizer_(std::move(tokenizer)), chat_template_(std::move(chat_template)), limits_(limits) {}

ApiResult<std::string> PromptBuilder::render_chat(const nlohmann::ordered_json& messages) const {
  if (!chat_template_)
    return invalid_request(
        "this model has no chat template; use /v1/completions, or restart the server with "
        "--chat-template FILE",
        "messages");
  tok::ChatRequest chat;
  chat.messages = messages;
  chat.add_generation_prompt = true;
  auto rendered = chat_template_->render(chat);
  // Template errors are mostly the template refusing the conversation (raise_exception, e.g.
  // "roles must alternate"): the client's to fix.
  if (!rendered.ok())
    return invalid_request("the chat template rejected the messages: " + rendered.error().message,
                           "messages");
  std::string prompt = std::move(rendered).value();
  const std::string& bos = chat_template_->bos_token();
  if (tokenizer_.add_bos() && !bos.empty() && prompt.compare(0, bos.size(), bos) == 0)
    prompt.erase(0, bos.size());
  return prompt;
}

ApiResult<int32_t> PromptBuilder::resolve_max_tokens(const OpenAIRequest& request,
                                                     size_t prompt_tokens,
                                                     const char* prompt_param) const {
  const int64_t p = static_cast<int64_t>(prompt_tokens);
  const int64_t ctx = limits_.n_ctx;
  if (request.max_tokens) {
    const int64_t m = *request.max_tokens;
    if (p + m > ctx)
      return invalid_request("This model's maximum context length is " + std::to_string(ctx) +
                                 " tokens. However, you requested " + std::to_string(p + m) +
                                 " tokens (" + std::to_string(p) + " in the prompt, " +
                                 std::to_string(m) +
                                 " for the completion). Please reduce the prompt or max_tokens.",
                             prompt_param, "context_length_exceeded");
    return static_cast<int32_t>(m);
  }
  // No max_tokens: generate up to the end of the context, as llama.cpp's server does (OpenAI's
  // default is model-specific). Capped by the KV pool so a default request never asks for more
  // KV than exists.
  int64_t m = ctx - p;
  if (limits_.kv_pool_tokens > 0)
    m = std::min<int64_t>(m, (limits_.kv_pool_tokens - p) / std::max<int64_t>(1, request.n));
  const int64_t min_tokens = request.endpoint == Endpoint::Chat ? 1 : 0;
  if (m < min_tokens)
    return invalid_request("This model's maximum context length is " + std::to_string(ctx) +
                               " tokens. However, the prompt has " + std::to_string(p) +
                               " tokens, which leaves no room for the completion.",
                           prompt_param, "context_length_exceeded");
  return static_cast<int32_t>(m);
}

ApiResult<PreparedRequest> PromptBuilder::prepare(const OpenAIRequest& request,
                                                  uint64_t random_seed) const {
  PreparedRequest out;
  std::vector<std::vector<int32_t>> prompts;
  if (request.endpoint == Endpoint::Chat) {
    TM_ASSIGN(std::string text, render_chat(request.messages));
    prompts.push_back(tokenizer_.encode(text, /*add_special=*/true, /*parse_special=*/true));
    out.echo_texts.push_back(std::move(text));
  } else {
    for (const PromptInput& p : request.prompts) {
      if (p.is_tokens) {
        // Token ids are the model's input exactly as given (no BOS added), as OpenAI and vLLM
        // treat them; evaluation harnesses rely on that.
        prompts.push_back(p.tokens);
        out.echo_texts.push_back(tokenizer_.decode(p.tokens));
      } else {
        // Special-token text in a prompt becomes the special token, as Hugging Face tokenizers
        // (and so vLLM) and llama.cpp's server do.
        prompts.push_back(tokenizer_.encode(p.text, /*add_special=*/true, /*parse_special=*/true));
        out.echo_texts.push_back(p.text);
      }
    }
  }
  const char* prompt_param = request.endpoint == Endpoint::Chat ? "messages" : "prompt";
  for (std::vector<int32_t>& ids : prompts) {
    if (ids.empty()) return invalid_request("the prompt is empty after tokenization", prompt_param);
    engine::GenerationRequest g;
    TM_ASSIGN(g.max_tokens, resolve_max_tokens(request, ids.size(), prompt_param));
    g.prompt = std::move(ids);
    g.n = request.n;
    g.sampling = request.sampling;
    if (!request.seed_given) g.sampling.seed = random_seed;
    g.stop = request.stop;
    g.ignore_eos = request.ignore_eos;
    g.logprobs = request.logprobs;
    g.prompt_logprobs = request.echo && request.logprobs >= 0;
    out.requests.push_back(std::move(g));
  }
  return out;
}

}  // namespace tmill::server
