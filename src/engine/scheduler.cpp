#include "engine/scheduler.h"

#include <algorithm>

#include "core/check.h"
#include "engine/logprobs.h"
#include "engine/prefix_hash.h"

namespace tmill::engine {
namespace {

int32_t blocks_for(int64_t positions, int32_t block_size) {
  return static_cast<int32_t>((positions + block_size - 1) / block_size);
}

bool before(const Sequence* a, const Sequence* b) {
  return a->order != b->order ? a->order < b->order : a->index < b->index;
}

template <class T>
void erase_value(std::vector<T>& v, const T& value) {
  auto it = std::find(v.begin(), v.end(), value);
  if (it != v.end()) v.erase(it);
}

}  // namespace

Scheduler::Scheduler(const EngineOptions& options, const tok::Tokenizer& tokenizer, int32_t n_vocab,
                     model::KvCache& kv)
    : options_(options),
      tokenizer_(tokenizer),
      n_vocab_(n_vocab),
      kv_(kv),
      pool_(options.kv_blocks) {
  counters_.ttft_seconds = Histogram({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  counters_.tpot_seconds =
      Histogram({0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5});
  counters_.e2e_seconds = Histogram({0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300});
  counters_.batch_tokens = Histogram({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  counters_.batch_sequences = Histogram({1, 2, 4, 8, 16, 32, 64, 128, 256});
}

void Scheduler::admit_new(std::unique_ptr<ActiveRequest> request) {
  ActiveRequest& r = *request;
  r.order = next_order_++;
  r.n_prompt = static_cast<int32_t>(r.request.prompt.size());
  r.salt = prefix_salt(r.request.owner.tenant);
  for (int32_t i = 0; i < r.request.n; ++i) {
    SamplingParams params = r.request.sampling;
    params.seed += static_cast<uint64_t>(i);
    auto s = std::make_unique<Sequence>(std::move(params), n_vocab_, tokenizer_, r.request.stop);
    s->request = &r;
    s->index = i;
    s->kv_id = next_kv_id_;
    next_kv_id_ = next_kv_id_ == INT32_MAX ? 0 : next_kv_id_ + 1;
    s->order = r.order;
    s->tokens = r.request.prompt;
    s->waiting_fork = i > 0;
    r.seqs.push_back(std::move(s));
  }
  tenant_arrives(r);
  waiting_.push_back(&r);
  requests_.push_back(std::move(request));
}

// --- fair share --------------------------------------------------------------------------

// A tenant that was idle starts at the least virtual time of the busy ones, so it cannot bank
// credit while away (and cannot be starved for having been busy long ago). When nothing at all
// is live the slate is wiped, which also bounds the map to the tenants of one busy period.
void Scheduler::tenant_arrives(const ActiveRequest& r) {
  bool any_live = false;
  double floor = 0;
  for (const auto& [name, share] : tenants_) {
    if (share.live_requests == 0) continue;
    floor = any_live ? std::min(floor, share.virtual_time) : share.virtual_time;
    any_live = true;
  }
  if (!any_live) tenants_.clear();
  TenantShare& t = tenants_[r.request.owner.tenant];
  if (t.live_requests == 0) t.virtual_time = std::max(t.virtual_time, floor);
  ++t.live_requests;
}

void Scheduler::tenant_leaves(const ActiveRequest& r) {
  auto it = tenants_.find(r.request.owner.tenant);
  if (it != tenants_.end() && it->second.live_requests > 0) --it->second.live_requests;
}

// The waiting request of the tenant with the least virtual time; the oldest among equals.
ActiveRequest* Scheduler::next_waiting() {
  ActiveRequest* best = nullptr;
  double best_time = 0;
  for (ActiveRequest* r : waiting_) {
    const double t = virtual_time(r->request.owner.tenant);
    if (!best || t < best_time || (t == best_time && r->order < best->order)) {
      best = r;
      best_time = t;
    }
  }
  return best;
}

// --- admission ---------------------------------------------------------------------------

// Looks up the longest cached prefix (never the last token: its logits are needed), then
// checks that the rest of the sequence's blocks are available. Changes nothing on failure.
bool Scheduler::start_sequence(Sequence& s, bool allow_cache_lookup) {
  ActiveRequest& r = *s.request;
  const int32_t bs = options_.block_size;
  std::vector<int32_t> hits;
  std::vector<BlockKey> keys;
  int32_t n_lookup = 0;
  if (allow_cache_lookup && options_.prefix_cache) {
    n_lookup = (static_cast<int32_t>(s.tokens.size()) - 1) / bs;
    keys = block_keys(s.tokens, n_lookup, bs, r.salt);
    for (const BlockKey& key : keys) {
      const int32_t block = pool_.lookup(key);
      if (block < 0) break;
      pool_.retain(block);
      hits.push_back(block);
    }
  }
  const int32_t needed =
      blocks_for(static_cast<int64_t>(s.tokens.size()), bs) - static_cast<int32_t>(hits.size());
  if (pool_.available() < needed) {
    for (int32_t block : hits) pool_.release(block);
    return false;
  }
  const int32_t n_hits = static_cast<int32_t>(hits.size());
  s.blocks = std::move(hits);
  s.n_computed = n_hits * bs;
  s.n_published = n_hits;
  s.last_hash = n_hits > 0 ? keys[static_cast<size_t>(n_hits - 1)].hash : 0;
  s.preempted = false;
  counters_.prefix_cache_hits += static_cast<uint64_t>(n_hits);
  counters_.prefix_cache_misses += static_cast<uint64_t>(n_lookup - n_hits);
  if (s.index == 0 && r.seqs[0]->generated == 0 && !r.admitted)
    r.cached_prompt_tokens = static_cast<int64_t>(n_hits) * bs;
  if (s.index == 0) r.prompt_done = std::max(r.prompt_done, std::min(s.n_computed, r.n_prompt));
  kv_.assign(s.kv_id, s.blocks);
  return true;
}

bool Scheduler::try_admit(ActiveRequest& r) {
  // Prompt logprobs need logits at every prompt position, so such a prompt is computed whole.
  const bool lookup = !r.request.prompt_logprobs;
  if (!start_sequence(*r.seqs[0], lookup)) return false;
  r.admitted = true;
  r.admitted_at = Clock::now();
  for (auto& s : r.seqs) running_.push_back(s.get());
  return true;
}

void Scheduler::admit() {
  std::sort(preempted_.begin(), preempted_.end(), before);
  while (!preempted_.empty() && running_.size() < static_cast<size_t>(options_.max_running)) {
    Sequence& s = *preempted_.front();
    const ActiveRequest& r = *s.request;
    const bool lookup = !r.request.prompt_logprobs || r.prompt_logprobs_sent || s.index > 0;
    if (!start_sequence(s, lookup)) break;  // keep arrival order: nothing newer jumps ahead
    preempted_.erase(preempted_.begin());
    running_.push_back(&s);
  }
  if (!preempted_.empty()) {
    std::sort(running_.begin(), running_.end(), before);
    return;
  }
  // The next request by fair share; if it does not fit, nothing else jumps ahead of it (a
  // large request must not starve behind a stream of small ones).
  while (!waiting_.empty()) {
    ActiveRequest& r = *next_waiting();
    const size_t n = r.seqs.size();
    if (!running_.empty() && running_.size() + n > static_cast<size_t>(options_.max_running)) break;
    if (!try_admit(r)) break;
    std::erase(waiting_, &r);
  }
  // preempt_one() takes the newest from the back.
  std::sort(running_.begin(), running_.end(), before);
}

// --- blocks ------------------------------------------------------------------------------

bool Scheduler::grow_blocks(Sequence& s, int32_t n_positions) {
  const int32_t needed = blocks_for(n_positions, options_.block_size);
  const int32_t missing = needed - static_cast<int32_t>(s.blocks.size());
  if (missing <= 0) return true;
  if (pool_.available() < missing) return false;
  for (int32_t i = 0; i < missing; ++i) {
    const int32_t block = pool_.allocate();
    TM_CHECK(block >= 0, "block pool: available() promised a block");
    s.blocks.push_back(block);
  }
  kv_.assign(s.kv_id, s.blocks);
  return true;
}

void Scheduler::release_blocks(Sequence& s) {
  for (int32_t block : s.blocks) pool_.release(block);
  s.blocks.clear();
  s.n_computed = 0;
  s.n_published = 0;
  s.last_hash = 0;
  kv_.forget(s.kv_id);
}

void Scheduler::publish_full_blocks(Sequence& s) {
  if (!options_.prefix_cache) return;
  const int32_t bs = options_.block_size;
  while ((s.n_published + 1) * bs <= s.n_computed &&
         s.n_published < static_cast<int32_t>(s.blocks.size())) {
    BlockKey key = block_key(s.tokens, s.n_published, bs, s.last_hash, s.request->salt);
    s.last_hash = key.hash;
    pool_.publish(s.blocks[static_cast<size_t>(s.n_published)], std::move(key));
    ++s.n_published;
  }
}

// Recompute preemption: the victim (the most recently admitted sequence holding blocks) gives
// all its blocks back and later recomputes its tokens; its full blocks stay in the prefix
// cache, so the recompute is often a cache hit. Returns false when the victim is `requester`.
bool Scheduler::preempt_one(const Sequence* requester) {
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    Sequence* victim = *it;
    if (victim->blocks.empty()) continue;
    release_blocks(*victim);
    victim->preempted = true;
    running_.erase(std::next(it).base());
    preempted_.push_back(victim);
    ++counters_.preemptions;
    return victim != requester;
  }
  return false;
}

// --- schedule ----------------------------------------------------------------------------

StepPlan Scheduler::schedule() {
  admit();
  for (;;) {
    StepPlan plan = plan_step();
    if (!plan.seqs.empty() || running_.empty()) return plan;
    // Every running sequence is stuck on blocks: free the newest one's so the older progress.
    // (No admission in between, so this ends: running_ shrinks each time.)
    preempt_one(nullptr);
  }
}

StepPlan Scheduler::plan_step() {
  StepPlan plan;
  int32_t budget = options_.step_tokens;
  auto add = [&](Sequence& s, int32_t n) {
    ActiveRequest& r = *s.request;
    const bool reaches_end = s.n_computed + n == static_cast<int32_t>(s.tokens.size());
    const bool prompt_rows = r.request.prompt_logprobs && !r.prompt_logprobs_sent && s.index == 0;
    const int32_t n_logits = prompt_rows ? n : (reaches_end ? 1 : 0);
    for (int32_t i = 0; i < n; ++i) {
      const int32_t pos = s.n_computed + i;
      plan.batch.add(s.tokens[static_cast<size_t>(pos)], pos, s.kv_id, i >= n - n_logits);
    }
    plan.seqs.push_back({&s, n, plan.n_logits, n_logits});
    plan.n_logits += n_logits;
    budget -= n;
  };

  // Decoding sequences first: one token each, so streams keep flowing while prompts prefill.
  std::vector<Sequence*> order = running_;
  for (Sequence* s : order) {
    if (budget <= 0) break;
    if (s->preempted || s->waiting_fork || s->pending() != 1) continue;
    bool runnable = true;
    while (!grow_blocks(*s, s->n_computed + 1)) {
      if (!preempt_one(s)) {
        runnable = false;
        break;
      }
    }
    if (runnable) add(*s, 1);
  }
  // Then prefill chunks by fair share (the tenant furthest behind first, oldest first within a
  // tenant), as far as budget and free blocks allow (no preemption for prefill: a prompt waits
  // rather than evicting a decoding stream).
  std::vector<Sequence*> prefills;
  for (Sequence* s : running_)
    if (!s->waiting_fork && s->pending() > 1) prefills.push_back(s);
  std::stable_sort(prefills.begin(), prefills.end(), [&](const Sequence* a, const Sequence* b) {
    return virtual_time(a->request->request.owner.tenant) <
           virtual_time(b->request->request.owner.tenant);
  });
  for (Sequence* s : prefills) {
    if (budget <= 0) break;
    if (s->waiting_fork || s->pending() <= 1) continue;
    int32_t n = std::min(s->pending(), budget);
    const int32_t owned = static_cast<int32_t>(s->blocks.size()) * options_.block_size;
    const int32_t fit = owned + pool_.available() * options_.block_size - s->n_computed;
    n = std::min(n, fit);
    if (n <= 0) continue;
    const bool grown = grow_blocks(*s, s->n_computed + n);
    TM_CHECK(grown, "prefill: blocks counted as available could not be allocated");
    add(*s, n);
  }
  return plan;
}

// --- commit ------------------------------------------------------------------------------

namespace {

// A decode token: the one new token of a sequence that is generating.
bool is_decode(const PlannedSeq& ps) {
  const Sequence& s = *ps.seq;
  return ps.n_tokens == 1 && s.generated > 0 &&
         s.n_computed + 1 == static_cast<int32_t>(s.tokens.size());
}

}  // namespace

int64_t Scheduler::decode_tokens(const StepPlan& plan) {
  int64_t n = 0;
  for (const PlannedSeq& ps : plan.seqs) n += is_decode(ps) ? 1 : 0;
  return n;
}

void Scheduler::commit(const StepPlan& plan, std::span<float> logits, const StepShares& shares) {
  ++counters_.steps;
  counters_.cost_usd += shares.step_usd;
  counters_.energy_j += shares.step_joules;
  // Cost and fair-share time are charged before anything finishes, so a request's last step
  // counts too.
  for (const PlannedSeq& ps : plan.seqs) {
    ActiveRequest& r = *ps.seq->request;
    const double n = static_cast<double>(ps.n_tokens);
    if (is_decode(ps)) {
      r.cost_usd += shares.usd_per_decode_token;
      r.energy_j += shares.joules_per_decode_token;
    } else {
      r.cost_usd += shares.usd_per_prefill_token * n;
      r.energy_j += shares.joules_per_prefill_token * n;
    }
    virtual_time(r.request.owner.tenant) += n / r.request.owner.weight;
  }
  counters_.batch_tokens.observe(static_cast<double>(plan.batch.size()));
  counters_.batch_sequences.observe(static_cast<double>(plan.seqs.size()));
  const size_t V = static_cast<size_t>(n_vocab_);
  for (const PlannedSeq& ps : plan.seqs) {
    Sequence& s = *ps.seq;
    ActiveRequest& r = *s.request;
    if (s.finished) continue;
    std::span<float> rows = logits.subspan(static_cast<size_t>(ps.first_logit) * V,
                                           static_cast<size_t>(ps.n_logits) * V);
    // Prompt logprobs: row j (position pos) predicts the token at pos + 1.
    if (r.request.prompt_logprobs && !r.prompt_logprobs_sent && s.index == 0) {
      const int32_t first_pos = s.n_computed + ps.n_tokens - ps.n_logits;
      for (int32_t j = 0; j < ps.n_logits; ++j) {
        const int32_t pos = first_pos + j;
        if (pos >= r.n_prompt - 1) break;
        r.prompt_logprobs.push_back(token_logprob(rows.subspan(static_cast<size_t>(j) * V, V),
                                                  s.tokens[static_cast<size_t>(pos + 1)],
                                                  std::max(0, r.request.logprobs)));
      }
    }
    s.n_computed += ps.n_tokens;
    if (s.index == 0) r.prompt_done = std::max(r.prompt_done, std::min(s.n_computed, r.n_prompt));
    publish_full_blocks(s);
    if (s.n_computed != static_cast<int32_t>(s.tokens.size())) continue;

    if (s.index == 0 && !r.prompt_logprobs_sent && r.request.prompt_logprobs) {
      StreamEvent e;
      e.kind = StreamEvent::Kind::PromptLogprobs;
      e.logprobs = std::move(r.prompt_logprobs);
      r.outbox.push_back(std::move(e));
      r.prompt_logprobs_sent = true;
    }
    if (s.index == 0 && s.generated == 0) fork_siblings(r);
    if (s.generated >= r.request.max_tokens) {
      finish(s, FinishReason::Length);
      continue;
    }
    sample_next(s, rows.subspan(static_cast<size_t>(ps.n_logits - 1) * V, V));
  }
}

// n > 1: the other choices take choice 0's full prompt blocks (shared, reference counted) and
// compute only the partial last block themselves.
void Scheduler::fork_siblings(ActiveRequest& r) {
  Sequence& first = *r.seqs[0];
  const int32_t bs = options_.block_size;
  const size_t shared = std::min(first.blocks.size(), static_cast<size_t>((r.n_prompt - 1) / bs));
  for (size_t i = 1; i < r.seqs.size(); ++i) {
    Sequence& s = *r.seqs[i];
    if (!s.waiting_fork || s.finished) continue;
    s.waiting_fork = false;
    if (r.request.max_tokens == 0) {
      finish(s, FinishReason::Length);
      continue;
    }
    s.blocks.assign(first.blocks.begin(), first.blocks.begin() + static_cast<ptrdiff_t>(shared));
    for (int32_t block : s.blocks) pool_.retain(block);
    s.n_computed = static_cast<int32_t>(shared) * bs;
    s.n_published = 0;
    s.last_hash = 0;
    kv_.assign(s.kv_id, s.blocks);
  }
}

void Scheduler::sample_next(Sequence& s, std::span<float> row) {
  ActiveRequest& r = *s.request;
  const bool want_logprobs = r.request.logprobs >= 0;
  if (want_logprobs) row_copy_.assign(row.begin(), row.end());
  // Penalties look at generated tokens only, as OpenAI's presence/frequency penalties do.
  std::span<const int32_t> history(s.tokens.data() + r.n_prompt,
                                   s.tokens.size() - static_cast<size_t>(r.n_prompt));
  const int32_t token = s.sampler.sample(row, history);
  s.tokens.push_back(token);
  ++s.generated;
  ++r.completion_tokens;
  if (!r.has_first_token) {
    r.has_first_token = true;
    r.first_token = Clock::now();
  }
  if (tokenizer_.is_eog(token) && !r.request.ignore_eos) {
    finish(s, FinishReason::Stop);
    return;
  }
  TokenLogprob lp;
  if (want_logprobs) lp = token_logprob(row_copy_, token, r.request.logprobs);
  emit_text(s, token, want_logprobs ? &lp : nullptr);
  if (s.stop.matched())
    finish(s, FinishReason::Stop);
  else if (s.generated >= r.request.max_tokens)
    finish(s, FinishReason::Length);
}

void Scheduler::emit_text(Sequence& s, int32_t token, const TokenLogprob* lp) {
  s.held_tokens.push_back(token);
  if (lp) s.held_logprobs.push_back(*lp);
  std::string text = s.stop.push(s.decoder.push(token));
  StreamEvent e;
  e.kind = StreamEvent::Kind::Delta;
  e.index = s.index;
  e.text = std::move(text);
  // Tokens go out with the text that completes them; while part of their text is held back
  // (it may start a stop string) they wait.
  if (!s.stop.holding() || s.stop.matched()) {
    e.tokens = std::move(s.held_tokens);
    e.logprobs = std::move(s.held_logprobs);
    s.held_tokens.clear();
    s.held_logprobs.clear();
  }
  if (!e.text.empty() || !e.tokens.empty()) s.request->outbox.push_back(std::move(e));
}

void Scheduler::finish(Sequence& s, FinishReason reason) {
  ActiveRequest& r = *s.request;
  if (reason != FinishReason::Cancelled && !s.stop.matched()) {
    // Bytes of an unfinished character and text held for a possible stop string come out now.
    std::string text = s.stop.push(s.decoder.flush());
    if (s.stop.matched())
      reason = FinishReason::Stop;
    else
      text += s.stop.flush();
    if (!text.empty() || !s.held_tokens.empty()) {
      StreamEvent e;
      e.kind = StreamEvent::Kind::Delta;
      e.index = s.index;
      e.text = std::move(text);
      e.tokens = std::move(s.held_tokens);
      e.logprobs = std::move(s.held_logprobs);
      r.outbox.push_back(std::move(e));
    }
  }
  s.held_tokens.clear();
  s.held_logprobs.clear();
  StreamEvent e;
  e.kind = StreamEvent::Kind::Finished;
  e.index = s.index;
  e.finish_reason = reason;
  r.outbox.push_back(std::move(e));
  s.finished = true;
  release_blocks(s);
  erase_value(running_, &s);
  erase_value(preempted_, &s);
  ++r.finished_choices;
  if (reason == FinishReason::Cancelled) r.cancelled = true;
  if (r.finished_choices == static_cast<int32_t>(r.seqs.size()))
    observe_finished(r, r.cancelled ? FinishReason::Cancelled : reason);
}

// A request that ran to the end used its whole prompt; one cancelled or failed early used only
// the prompt positions the engine computed (or took from the cache) before that: none at all
// if it was never admitted. Its client never sees this usage (it went away, or gets an error).
int64_t Scheduler::billed_prompt_tokens(const ActiveRequest& r, FinishReason reason) {
  if (reason != FinishReason::Cancelled && reason != FinishReason::Error) return r.n_prompt;
  return r.prompt_done;
}

// Metering: the observer records the request before its Done event can reach the client.
uint64_t Scheduler::report_usage(const ActiveRequest& r, FinishReason reason,
                                 Clock::time_point now) {
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  TenantUsage& t = counters_.tenants[r.request.owner.tenant];
  ++t.requests;
  t.prompt_tokens += static_cast<uint64_t>(billed_prompt_tokens(r, reason));
  t.completion_tokens += static_cast<uint64_t>(r.completion_tokens);
  t.cost_usd += r.cost_usd;
  t.energy_j += r.energy_j;
  if (!options_.usage_observer) return 0;
  FinishedRequest f{r.request.owner};
  f.prompt_tokens = billed_prompt_tokens(r, reason);
  f.cached_prompt_tokens = r.cached_prompt_tokens;
  f.completion_tokens = r.completion_tokens;
  f.cost_usd = r.cost_usd;
  f.energy_j = r.energy_j;
  f.queue_ms = r.admitted ? ms(r.admitted_at - r.arrival) : 0;
  f.ttft_ms = r.has_first_token ? ms(r.first_token - r.arrival) : 0;
  f.e2e_ms = ms(now - r.arrival);
  f.finish_reason = reason;
  return options_.usage_observer->on_request_finished(f);
}

void Scheduler::observe_finished(ActiveRequest& r, FinishReason reason) {
  const auto now = Clock::now();
  StreamEvent done;
  done.kind = StreamEvent::Kind::Done;
  done.prompt_tokens = billed_prompt_tokens(r, reason);
  done.cached_prompt_tokens = r.cached_prompt_tokens;
  done.completion_tokens = r.completion_tokens;
  done.cost_usd = r.cost_usd;
  done.energy_j = r.energy_j;
  done.usage_ticket = report_usage(r, reason, now);
  r.outbox.push_back(std::move(done));
  auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  ++counters_.requests[reason == FinishReason::Cancelled ? "cancelled"
                       : reason == FinishReason::Error   ? "error"
                                                         : "ok"];
  counters_.prompt_tokens += static_cast<uint64_t>(r.n_prompt);
  counters_.prompt_tokens_cached += static_cast<uint64_t>(r.cached_prompt_tokens);
  counters_.generation_tokens += static_cast<uint64_t>(r.completion_tokens);
  counters_.e2e_seconds.observe(seconds(now - r.arrival));
  if (r.has_first_token) {
    counters_.ttft_seconds.observe(seconds(r.first_token - r.arrival));
    int32_t longest = 0;
    for (const auto& s : r.seqs) longest = std::max(longest, s->generated);
    if (longest > 1) counters_.tpot_seconds.observe(seconds(now - r.first_token) / (longest - 1));
  }
}

// --- cancellation, failure, events --------------------------------------------------------

void Scheduler::process_cancellations(bool all) {
  for (auto& request : requests_) {
    ActiveRequest& r = *request;
    if (r.finished_choices == static_cast<int32_t>(r.seqs.size())) continue;
    if (!all && !r.stream->cancel_requested()) continue;
    std::erase(waiting_, &r);
    for (auto& s : r.seqs)
      if (!s->finished) finish(*s, FinishReason::Cancelled);
  }
}

void Scheduler::fail_plan(const StepPlan& plan, const std::string& message) {
  for (const PlannedSeq& ps : plan.seqs) {
    ActiveRequest& r = *ps.seq->request;
    if (r.finished_choices == static_cast<int32_t>(r.seqs.size())) continue;
    for (auto& s : r.seqs) {
      if (s->finished) continue;
      s->finished = true;
      release_blocks(*s);
      erase_value(running_, s.get());
      erase_value(preempted_, s.get());
      ++r.finished_choices;
    }
    std::erase(waiting_, &r);
    r.outbox.clear();
    StreamEvent e;
    e.kind = StreamEvent::Kind::Failed;
    e.message = message;
    e.usage_ticket = report_usage(r, FinishReason::Error, Clock::now());
    r.outbox.push_back(std::move(e));
    ++counters_.requests["error"];
  }
}

size_t Scheduler::flush_events() {
  size_t finished = 0;
  for (auto& request : requests_) {
    if (!request->outbox.empty()) {
      request->stream->push_all(std::move(request->outbox));
      request->outbox.clear();
    }
  }
  std::erase_if(requests_, [&](const std::unique_ptr<ActiveRequest>& r) {
    const bool done = r->finished_choices == static_cast<int32_t>(r->seqs.size());
    finished += done ? 1 : 0;
    if (done) tenant_leaves(*r);
    return done;
  });
  return finished;
}

void Scheduler::fill_gauges(MetricsSnapshot& m) const {
  m.running_sequences = running_.size() + preempted_.size();
  m.kv_blocks_total = static_cast<uint64_t>(pool_.total());
  m.kv_blocks_used = static_cast<uint64_t>(pool_.used());
  m.kv_blocks_cached = static_cast<uint64_t>(pool_.cached());
  m.kv_blocks_free = static_cast<uint64_t>(pool_.total() - pool_.used());
}

}  // namespace tmill::engine
