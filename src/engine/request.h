// A generation request as the engine sees it (already tokenized), and the channel its results
// come back on. HTTP threads build a GenerationRequest, submit it, and read StreamEvents from the
// returned RequestStream; the engine thread is the only writer of events.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/sampler.h"

namespace tmill::engine {

// Who a request is for. The engine shares its steps fairly across tenants by weight, salts the
// prefix cache per tenant (tenants never share cached blocks), and hands the owner back with the
// request's measured usage when it finishes (UsageObserver); the other fields pass through.
struct RequestOwner {
  std::string tenant;           // "": the default tenant (server without API keys)
  double weight = 1.0;          // fair-share weight, > 0
  std::string key_id;           // API key id; "" without keys
  std::string model;            // the model id the client asked for
  std::string request_id;       // the response id the client sees
  int32_t part = 0;             // prompt index within that HTTP request
  uint64_t reservation_id = 0;  // budget reservation to settle; 0: none
};

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids, non-empty, every id < n_vocab
  int32_t max_tokens = 16;  // tokens to generate per choice; 0 is allowed (echo/prompt logprobs)
  int32_t n = 1;            // choices; they share the prompt's KV blocks
  // Choice i samples with seed sampling.seed + i, so n > 1 with a seed is reproducible too.
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings: generation ends before them; never in the text
  bool ignore_eos = false;        // keep generating past end-of-generation tokens
  // -1: no logprobs. k >= 0: each generated token's logprob and the k most likely alternatives
  // (from the model's distribution before sampling adjustments, as OpenAI reports them).
  int32_t logprobs = -1;
  // Logprobs for prompt tokens 1..n-1 as well (completions' echo + logprobs). Such a request
  // computes its whole prompt (no prefix-cache reuse), since cached positions have no logits.
  bool prompt_logprobs = false;
  RequestOwner owner;
};

enum class FinishReason { None, Stop, Length, Cancelled, Error };
const char* to_string(FinishReason reason);  // "stop", "length", "cancelled", "error", ""

struct TopLogprob {
  int32_t token;
  float logprob;
};

struct TokenLogprob {
  int32_t token;
  float logprob;
  std::vector<TopLogprob> top;  // most likely first; size = requested k (or fewer if vocab is)
};

// Everything that happened to one request since the last take(), in order.
struct StreamEvent {
  enum class Kind {
    PromptLogprobs,  // once, before any token, when prompt_logprobs was asked
    Delta,           // new text/tokens for choice `index`
    Finished,        // choice `index` is done: finish_reason is set
    Done,            // every choice finished; usage is final. Always the last event.
    Failed,          // the request failed (message); always followed by nothing
  };
  Kind kind = Kind::Delta;
  int32_t index = 0;
  std::string text;                    // Delta: text to append (stop strings already removed)
  std::vector<int32_t> tokens;         // Delta: the tokens this text came from
  std::vector<TokenLogprob> logprobs;  // Delta: one per token when logprobs >= 0;
                                       // PromptLogprobs: one per prompt token from index 1
  FinishReason finish_reason = FinishReason::None;
  // Done: exact usage. prompt_tokens counts the prompt once even when n > 1.
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens whose KV came from the prefix cache
  int64_t completion_tokens = 0;     // over all choices
  double cost_usd = 0;               // Done: hardware cost of the engine steps spent on it
  double energy_j = 0;               // Done: energy of those steps
  uint64_t usage_ticket = 0;         // Done/Failed: UsageObserver's ticket (0: none)
  std::string message;               // Failed: why
};

// Shared by the HTTP side (reader) and the engine (writer). Thread-safe.
class RequestStream {
 public:
  explicit RequestStream(uint64_t id) : id_(id) {}

  uint64_t id() const { return id_; }

  // Reader side -----------------------------------------------------------------------------
  // Moves out every pending event (possibly none). Never blocks.
  std::vector<StreamEvent> take();
  // Blocks until an event is pending or the timeout passes; then take().
  std::vector<StreamEvent> wait_take(std::chrono::milliseconds timeout);
  // Called by the engine thread after it appends events; must be cheap and must not block
  // (e.g. post a wake-up to an io_context). Set it before submitting, or under the race-free
  // rule that set_notify() itself fires once if events are already pending.
  void set_notify(std::function<void()> notify);
  // Asks the engine to stop this request (client gone). Idempotent; the engine frees the
  // sequences and blocks at its next step and emits Finished(Cancelled) + Done.
  void cancel();
  bool cancel_requested() const;
  bool done() const;  // Done or Failed has been pushed

  // Writer side (engine thread) --------------------------------------------------------------
  void push(StreamEvent event);
  void push_all(std::vector<StreamEvent> events);
  // Set by the engine at submission: wakes the engine thread so a cancel is seen promptly.
  void set_on_cancel(std::function<void()> on_cancel);

 private:
  const uint64_t id_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  std::function<void()> notify_;
  std::function<void()> on_cancel_;
  bool cancel_ = false;
  bool done_ = false;
};

}  // namespace tmill::engine
