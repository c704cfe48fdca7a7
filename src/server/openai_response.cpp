#include "server/openai_response.h"

#include <atomic>
#include <cstdio>
#include <random>
#include <utility>

namespace tmill::server {
namespace {

using nlohmann::json;

int64_t count_code_points(const std::string& s) {
  int64_t n = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

json byte_list(const std::string& s) {
  json bytes = json::array();
  for (const char c : s) bytes.push_back(static_cast<int>(static_cast<unsigned char>(c)));
  return bytes;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

const char* finish_reason_text(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::Stop:
      return "stop";
    case engine::FinishReason::Length:
      return "length";
    default:
      return nullptr;
  }
}

std::string make_response_id(Endpoint endpoint) {
  static const uint64_t start = (static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                static_cast<uint64_t>(std::random_device{}());
  static std::atomic<uint64_t> counter{0};
  const uint64_t a = splitmix64(start + counter.fetch_add(1));
  const uint64_t b = splitmix64(a);
  char hex[32];
  std::snprintf(hex, sizeof(hex), "%016llx%08llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b >> 32));
  return std::string(endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-") + hex;
}

ResponseBuilder::ResponseBuilder(ResponseContext context, tok::Tokenizer tokenizer)
    : ctx_(std::move(context)), tokenizer_(std::move(tokenizer)) {
  const size_t n_prompts = std::max<size_t>(1, ctx_.echo_texts.size());
  choices_.resize(n_prompts * static_cast<size_t>(ctx_.n));
  prompts_.resize(n_prompts);
}

bool ResponseBuilder::finished() const {
  for (const PromptState& p : prompts_)
    if (!p.done) return false;
  return true;
}

json ResponseBuilder::chunk_base() const {
  json chunk;
  chunk["id"] = ctx_.id;
  chunk["object"] = ctx_.endpoint == Endpoint::Chat ? "chat.completion.chunk" : "text_completion";
  chunk["created"] = ctx_.created;
  chunk["model"] = ctx_.model;
  return chunk;
}

json ResponseBuilder::chat_logprob_entries(const std::vector<engine::TokenLogprob>& lps) const {
  json entries = json::array();
  for (const engine::TokenLogprob& lp : lps) {
    const std::string text = tokenizer_.token_text(lp.token);
    json top = json::array();
    for (const engine::TopLogprob& t : lp.top) {
      const std::string alt = tokenizer_.token_text(t.token);
      top.push_back({{"token", alt}, {"logprob", t.logprob}, {"bytes", byte_list(alt)}});
    }
    entries.push_back({{"token", text},
                       {"logprob", lp.logprob},
                       {"bytes", byte_list(text)},
                       {"top_logprobs", std::move(top)}});
  }
  return entries;
}

json ResponseBuilder::completion_logprobs(const std::vector<int32_t>& tokens,
                                          const std::vector<const engine::TokenLogprob*>& lps,
                                          int64_t* text_offset) const {
  json out = {{"tokens", json::array()},
              {"token_logprobs", json::array()},
              {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string text = tokenizer_.token_text(tokens[i]);
    out["tokens"].push_back(text);
    out["text_offset"].push_back(*text_offset);
    *text_offset += count_code_points(text);
    const engine::TokenLogprob* lp = i < lps.size() ? lps[i] : nullptr;
    if (lp == nullptr) {  // the first prompt token has nothing before it to be predicted from
      out["token_logprobs"].push_back(nullptr);
      out["top_logprobs"].push_back(nullptr);
      continue;
    }
    out["token_logprobs"].push_back(lp->logprob);
    json top = json::object();
    for (const engine::TopLogprob& t : lp->top) {
      const std::string alt = tokenizer_.token_text(t.token);
      if (!top.contains(alt)) top[alt] = t.logprob;  // tokens with the same text: keep the best
    }
    out["top_logprobs"].push_back(std::move(top));
  }
  return out;
}

void ResponseBuilder::append_completion_logprobs(json& into, const json& more) {
  if (into.is_null()) {
    into = more;
    return;
  }
  for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
    for (const json& v : more[key]) into[key].push_back(v);
}

void ResponseBuilder::start_choice(size_t prompt, Choice& choice, std::string* text,
                                   json* logprobs) {
  choice.started = true;
  if (ctx_.endpoint != Endpoint::Completions || !ctx_.echo) return;
  *text = prompt < ctx_.echo_texts.size() ? ctx_.echo_texts[prompt] : "";
  if (ctx_.logprobs < 0 || prompt >= ctx_.prompt_tokens.size()) return;
  const std::vector<int32_t>& ids = ctx_.prompt_tokens[prompt];
  const std::vector<engine::TokenLogprob>& plp = prompts_[prompt].prompt_logprobs;
  std::vector<const engine::TokenLogprob*> lps(ids.size(), nullptr);
  for (size_t i = 1; i < ids.size() && i - 1 < plp.size(); ++i) lps[i] = &plp[i - 1];
  *logprobs = completion_logprobs(ids, lps, &choice.text_offset);
}

json ResponseBuilder::make_choice_chunk(size_t index, const std::string& text, const json& logprobs,
                                        bool first, const char* finish_reason) const {
  json choice;
  choice["index"] = index;
  if (ctx_.endpoint == Endpoint::Chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (first || !text.empty() || finish_reason == nullptr) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_reason == nullptr ? json(nullptr) : json(finish_reason);
  json chunk = chunk_base();
  chunk["choices"] = json::array({std::move(choice)});
  if (ctx_.include_usage) chunk["usage"] = nullptr;  // as OpenAI: null on all but the last
  return chunk;
}

std::vector<json> ResponseBuilder::on_event(size_t prompt, const engine::StreamEvent& event) {
  using Kind = engine::StreamEvent::Kind;
  std::vector<json> chunks;
  if (prompt >= prompts_.size()) return chunks;
  PromptState& ps = prompts_[prompt];
  switch (event.kind) {
    case Kind::PromptLogprobs:
      ps.prompt_logprobs = event.logprobs;
      return chunks;
    case Kind::Done:
      ps.done = true;
      ps.prompt_tokens = event.prompt_tokens;
      ps.cached_tokens = event.cached_prompt_tokens;
      ps.completion_tokens = event.completion_tokens;
      ps.cost_usd = event.cost_usd;
      ps.energy_j = event.energy_j;
      ps.usage_ticket = event.usage_ticket;
      return chunks;
    case Kind::Failed:
      ps.done = true;
      ps.usage_ticket = event.usage_ticket;
      if (!failure_) failure_ = server_error(500, "generation failed: " + event.message);
      return chunks;
    case Kind::Delta:
    case Kind::Finished:
      break;
  }
  if (event.index < 0 || event.index >= ctx_.n) return chunks;
  const size_t index = prompt * static_cast<size_t>(ctx_.n) + static_cast<size_t>(event.index);
  Choice& c = choices_[index];
  const char* finish = nullptr;
  if (event.kind == Kind::Finished) {
    c.finish = event.finish_reason;
    finish = finish_reason_text(event.finish_reason);
    if (finish == nullptr) {
      // Only the server cancels a request whose client is still there: it is shutting down.
      if (!failure_)
        failure_ = event.finish_reason == engine::FinishReason::Cancelled
                       ? server_error(503, "the server is shutting down; the request was cancelled",
                                      "shutting_down")
                       : server_error(500, "generation failed");
      return chunks;
    }
  }
  const bool first = !c.started;
  std::string text;
  json logprobs;
  if (first) start_choice(prompt, c, &text, &logprobs);
  if (event.kind == Kind::Delta) {
    text += event.text;
    if (ctx_.logprobs >= 0 && !event.logprobs.empty()) {
      if (ctx_.endpoint == Endpoint::Chat) {
        logprobs = {{"content", chat_logprob_entries(event.logprobs)}};
      } else {
        std::vector<const engine::TokenLogprob*> lps;
        std::vector<int32_t> tokens;
        for (const engine::TokenLogprob& lp : event.logprobs) {
          lps.push_back(&lp);
          tokens.push_back(lp.token);
        }
        append_completion_logprobs(logprobs, completion_logprobs(tokens, lps, &c.text_offset));
      }
    }
  }
  c.text += text;
  if (!logprobs.is_null()) {
    if (ctx_.endpoint == Endpoint::Chat) {
      if (c.logprobs.is_null()) c.logprobs = {{"content", json::array()}};
      for (const json& e : logprobs["content"]) c.logprobs["content"].push_back(e);
    } else {
      append_completion_logprobs(c.logprobs, logprobs);
    }
  }
  // A delta that carries nothing (text held back for a possible stop string) is not sent.
  if (event.kind == Kind::Delta && !first && text.empty() && logprobs.is_null()) return chunks;
  chunks.push_back(make_choice_chunk(index, text, logprobs, first, finish));
  return chunks;
}

json ResponseBuilder::usage() const {
  int64_t prompt = 0, cached = 0, completion = 0;
  for (const PromptState& p : prompts_) {
    prompt += p.prompt_tokens;
    cached += p.cached_tokens;
    completion += p.completion_tokens;
  }
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

double ResponseBuilder::cost_usd() const {
  double sum = 0;
  for (const PromptState& p : prompts_) sum += p.cost_usd;
  return sum;
}

double ResponseBuilder::energy_j() const {
  double sum = 0;
  for (const PromptState& p : prompts_) sum += p.energy_j;
  return sum;
}

std::vector<uint64_t> ResponseBuilder::usage_tickets() const {
  std::vector<uint64_t> tickets;
  for (const PromptState& p : prompts_)
    if (p.usage_ticket != 0) tickets.push_back(p.usage_ticket);
  return tickets;
}

json ResponseBuilder::usage_chunk() const {
  json chunk = chunk_base();
  chunk["choices"] = json::array();
  chunk["usage"] = usage();
  chunk["usage"]["cost_usd"] = cost_usd();
  chunk["usage"]["energy_j"] = energy_j();
  return chunk;
}

json ResponseBuilder::response() const {
  json body;
  body["id"] = ctx_.id;
  body["object"] = ctx_.endpoint == Endpoint::Chat ? "chat.completion" : "text_completion";
  body["created"] = ctx_.created;
  body["model"] = ctx_.model;
  json choices = json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    json choice;
    choice["index"] = i;
    if (ctx_.endpoint == Endpoint::Chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = c.logprobs;
    if (ctx_.endpoint == Endpoint::Chat && ctx_.logprobs >= 0 && c.logprobs.is_null())
      choice["logprobs"] = {{"content", json::array()}};
    const char* finish = finish_reason_text(c.finish);
    choice["finish_reason"] = finish == nullptr ? json(nullptr) : json(finish);
    choices.push_back(std::move(choice));
  }
  body["choices"] = std::move(choices);
  body["usage"] = usage();
  return body;
}

}  // namespace tmill::server
