// The serving engine: continuous batching over a paged KV cache with prefix caching.
//
// One engine thread owns every piece of scheduling state (queue, sequences, block pool, prefix
// cache). Other threads only call submit() (which validates and enqueues under a mutex) and talk
// to their RequestStream. Each step of the engine thread:
//   schedule()  -> StepPlan  (which sequences run, how many tokens each, which blocks)
//   execute()   -> logits    (one Model::forward over the whole step's batch)
//   commit()                 (sample, detokenize, stop strings, stream out, finish, free)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/expected.h"
#include "engine/metrics.h"
#include "engine/request.h"
#include "engine/step_cost.h"
#include "engine/usage_observer.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tmill::engine {

struct EngineOptions {
  int32_t n_ctx = 4096;       // max prompt + generated tokens of one sequence
  int32_t max_running = 64;   // sequences decoding at once (--parallel)
  int32_t step_tokens = 256;  // per-step token budget (decode tokens + prefill chunks)
  int32_t kv_blocks = 0;      // KV pool size in blocks; 0: derive from kv_bytes
  int64_t kv_bytes =
      0;  // KV pool size in bytes when kv_blocks is 0; 0: n_ctx * max_running worth, capped
  int32_t block_size = model::kDefaultKvBlockSize;  // tokens per KV block
  int32_t max_queue = 256;   // waiting requests beyond this are rejected (QueueFull)
  bool prefix_cache = true;  // reuse KV blocks of identical prompt prefixes
  HardwareRates hardware;    // prices each step's cost and energy (zeros: costs are 0)
  // Told about every finished request (metering); must outlive the engine. May be null.
  UsageObserver* usage_observer = nullptr;
};

enum class SubmitError {
  Invalid,       // bad parameters (message names the field)
  TooLong,       // prompt + max_tokens exceeds n_ctx, or can never fit the KV pool
  QueueFull,     // admission queue full: retry later
  ShuttingDown,  // the engine is stopping
};

struct SubmitFailure {
  SubmitError error;
  std::string message;
};

class Engine {
 public:
  // Takes the model and its tokenizer; allocates the KV pool; does not start the thread.
  static Expected<std::unique_ptr<Engine>> create(model::Model& model, tok::Tokenizer tokenizer,
                                                  const EngineOptions& options);
  ~Engine();  // stops the thread (cancelling what is in flight)

  void start();
  // Stops admitting (new submits fail with ShuttingDown); waits up to `deadline_ms` for
  // in-flight requests to finish, then cancels the rest and joins the thread.
  void shutdown(int64_t deadline_ms);

  // Validates, then enqueues. On success the stream receives events as the request runs.
  // Thread-safe. Never blocks on the engine's work.
  std::shared_ptr<RequestStream> submit(GenerationRequest request, SubmitFailure* failure);

  MetricsSnapshot metrics() const;
  const EngineOptions& options() const;  // with kv_blocks resolved
  const tok::Tokenizer& tokenizer() const;
  model::Model& model();

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tmill::engine
