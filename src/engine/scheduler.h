// The scheduling state of the serving engine and its three step phases. Owned and used by the
// engine thread only (no locks inside): requests come in through admit_new(), and results go
// out through each request's RequestStream.
//
// A step:
//   schedule()  picks work under the token budget: first one token for every decoding sequence,
//               then prefill chunks in arrival order; allocates the KV blocks that work needs,
//               preempting (by recompute) the most recently admitted sequences when the pool
//               runs dry. Returns a StepPlan (plain data).
//   the engine runs the plan's batch through the model (Model::forward).
//   commit()    advances each sequence, samples, streams text out, finishes sequences and frees
//               their blocks, and publishes full blocks to the prefix cache.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/block_pool.h"
#include "engine/engine.h"
#include "engine/metrics.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "model/batch.h"
#include "model/kv_cache.h"
#include "tokenizer/tokenizer.h"

namespace tmill::engine {

using Clock = std::chrono::steady_clock;

struct ActiveRequest;

struct Sequence {
  ActiveRequest* request = nullptr;
  int32_t index = 0;  // choice index
  int32_t kv_id = 0;  // id of this sequence's block table in the KvCache
  int64_t order = 0;  // admission order of its request; lower runs first, higher is preempted first
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int32_t n_computed = 0;       // leading tokens whose K/V are in the cache
  std::vector<int32_t> blocks;  // block table
  int32_t n_published = 0;      // leading blocks published to the prefix cache
  uint64_t last_hash = 0;       // chain hash of block n_published - 1
  int32_t generated = 0;
  bool waiting_fork = false;  // choice > 0 waiting for choice 0 to finish the shared prompt
  bool preempted = false;
  bool finished = false;
  Sampler sampler;
  tok::StreamDecoder decoder;
  StopMatcher stop;
  // Tokens (and their logprobs) whose text is held back by the stop matcher.
  std::vector<int32_t> held_tokens;
  std::vector<TokenLogprob> held_logprobs;

  Sequence(SamplingParams params, int32_t n_vocab, const tok::Tokenizer& tokenizer,
           std::vector<std::string> stops)
      : sampler(std::move(params), n_vocab), decoder(tokenizer), stop(std::move(stops)) {}
  int32_t pending() const { return static_cast<int32_t>(tokens.size()) - n_computed; }
};

struct ActiveRequest {
  uint64_t id = 0;
  GenerationRequest request;
  std::shared_ptr<RequestStream> stream;
  Clock::time_point arrival;
  Clock::time_point first_token;
  Clock::time_point admitted_at;
  bool has_first_token = false;
  int64_t order = 0;
  uint64_t salt = 0;  // prefix-cache salt of the tenant
  bool admitted = false;
  int32_t n_prompt = 0;
  int32_t prompt_done = 0;  // prompt positions computed or taken from the cache (choice 0)
  int64_t cached_prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double cost_usd = 0;  // shares of the steps it took part in
  double energy_j = 0;
  bool cancelled = false;  // a choice ended by cancellation
  int32_t finished_choices = 0;
  bool prompt_logprobs_sent = false;
  std::vector<TokenLogprob> prompt_logprobs;  // for prompt tokens 1..n_prompt-1, in order
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<StreamEvent> outbox;  // events of this step, pushed together at its end
};

struct PlannedSeq {
  Sequence* seq;
  int32_t n_tokens;     // tokens of this sequence in the batch, from seq->n_computed
  int32_t first_logit;  // index of its first logits row in the step's output
  int32_t n_logits;     // rows it asked for (its last n_logits tokens)
};

struct StepPlan {
  model::Batch batch;
  std::vector<PlannedSeq> seqs;
  int32_t n_logits = 0;
};

class Scheduler {
 public:
  Scheduler(const EngineOptions& options, const tok::Tokenizer& tokenizer, int32_t n_vocab,
            model::KvCache& kv);

  void admit_new(std::unique_ptr<ActiveRequest> request);
  bool idle() const { return requests_.empty(); }
  size_t waiting() const { return waiting_.size(); }

  // Cancels requests whose client asked; with `all`, every request (shutdown).
  void process_cancellations(bool all);
  StepPlan schedule();
  // `logits`: plan.n_logits rows of n_vocab floats (used as scratch). `shares`: what each of
  // the step's decode and prefill tokens cost.
  void commit(const StepPlan& plan, std::span<float> logits, const StepShares& shares);
  // Tokens of the plan that are decode tokens (one new token of a generating sequence); the
  // rest are prefill (prompt chunks and recompute after preemption).
  static int64_t decode_tokens(const StepPlan& plan);
  // The step failed: every request in the plan fails with `message`.
  void fail_plan(const StepPlan& plan, const std::string& message);
  // Pushes each request's outbox to its stream and forgets finished requests; returns how many
  // requests finished.
  size_t flush_events();

  // Gauges for /metrics (running sequences, KV blocks), written into `m`. The queue length is
  // the engine's: it also counts requests not yet handed to the scheduler.
  void fill_gauges(MetricsSnapshot& m) const;
  MetricsSnapshot& counters() { return counters_; }
  std::string check_invariants() const { return pool_.check_invariants(); }

 private:
  void admit();
  bool try_admit(ActiveRequest& r);
  bool start_sequence(Sequence& s, bool allow_cache_lookup);
  StepPlan plan_step();
  bool grow_blocks(Sequence& s, int32_t n_positions);
  bool preempt_one(const Sequence* requester);
  void release_blocks(Sequence& s);
  void publish_full_blocks(Sequence& s);
  void fork_siblings(ActiveRequest& r);
  void sample_next(Sequence& s, std::span<float> row);
  void emit_text(Sequence& s, int32_t token, const TokenLogprob* lp);
  void finish(Sequence& s, FinishReason reason);
  void observe_finished(ActiveRequest& r, FinishReason reason);
  uint64_t report_usage(const ActiveRequest& r, FinishReason reason, Clock::time_point now);
  static int64_t billed_prompt_tokens(const ActiveRequest& r, FinishReason reason);
  // Weighted fair share: a tenant's virtual time is the tokens processed for it divided by its
  // weight; admission and prefill go to the tenant furthest behind, FIFO within a tenant.
  double& virtual_time(const std::string& tenant) { return tenants_[tenant].virtual_time; }
  void tenant_arrives(const ActiveRequest& r);
  void tenant_leaves(const ActiveRequest& r);
  ActiveRequest* next_waiting();

  EngineOptions options_;
  tok::Tokenizer tokenizer_;
  int32_t n_vocab_;
  model::KvCache& kv_;
  BlockPool pool_;
  uint64_t salt_default_ = 0;
  int32_t next_kv_id_ = 0;
  int64_t next_order_ = 0;

  std::vector<std::unique_ptr<ActiveRequest>> requests_;  // every live request
  std::deque<ActiveRequest*> waiting_;                    // not yet admitted, FIFO
  std::vector<Sequence*> running_;    // admitted, holding or wanting blocks, by order
  std::vector<Sequence*> preempted_;  // lost their blocks; re-admitted before new requests
  std::vector<float> row_copy_;       // raw logits row kept for logprobs
  MetricsSnapshot counters_;
  struct TenantShare {
    double virtual_time = 0;
    int64_t live_requests = 0;
  };
  std::map<std::string, TenantShare> tenants_;
};

}  // namespace tmill::engine
