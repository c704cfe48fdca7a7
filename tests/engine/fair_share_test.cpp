// Metering and fair share in the serving engine, on the real default model: every request is
// reported to the UsageObserver exactly once with the usage its Done event carries and its
// owner unchanged, step costs add up over requests and tenants, and tenants share the engine by
// weight (admission and prefill go to the tenant furthest behind in virtual time).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/device.h"
#include "common/test_support.h"
#include "engine/engine.h"
#include "engine/scheduler.h"
#include "engine/smollm2_fixture.h"

namespace tmill::engine {
namespace {

using namespace std::chrono_literals;

// What the observer was told about one request, copied (FinishedRequest holds a reference).
struct Report {
  RequestOwner owner;
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double cost_usd = 0;
  double energy_j = 0;
  double queue_ms = 0;
  double ttft_ms = 0;
  double e2e_ms = 0;
  FinishReason finish_reason = FinishReason::None;
  uint64_t ticket = 0;
  std::thread::id thread;
};

class RecordingObserver : public UsageObserver {
 public:
  uint64_t on_request_finished(const FinishedRequest& f) override {
    std::lock_guard lock(mu_);
    Report r;
    r.owner = f.owner;
    r.prompt_tokens = f.prompt_tokens;
    r.cached_prompt_tokens = f.cached_prompt_tokens;
    r.completion_tokens = f.completion_tokens;
    r.cost_usd = f.cost_usd;
    r.energy_j = f.energy_j;
    r.queue_ms = f.queue_ms;
    r.ttft_ms = f.ttft_ms;
    r.e2e_ms = f.e2e_ms;
    r.finish_reason = f.finish_reason;
    r.ticket = 7000 + reports_.size();  // distinct, and not what a default would be
    r.thread = std::this_thread::get_id();
    reports_.push_back(r);
    return r.ticket;
  }
  std::vector<Report> reports() const {
    std::lock_guard lock(mu_);
    return reports_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Report> reports_;
};

struct Result {
  std::vector<std::string> text;
  std::vector<FinishReason> finish;
  StreamEvent done;
  bool has_done = false;
  bool failed = false;
  int deltas = 0;
};

// Applies events to `r`; returns after Done/Failed, after the first Delta when `until_delta`, or
// after 120 s (a failure).
void drain(RequestStream& stream, Result& r, bool until_delta = false) {
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (StreamEvent& e : stream.wait_take(100ms)) {
      const size_t i = static_cast<size_t>(e.index);
      if (r.text.size() <= i) {
        r.text.resize(i + 1);
        r.finish.resize(i + 1, FinishReason::None);
      }
      switch (e.kind) {
        case StreamEvent::Kind::Delta:
          r.text[i] += e.text;
          ++r.deltas;
          break;
        case StreamEvent::Kind::Finished:
          r.finish[i] = e.finish_reason;
          break;
        case StreamEvent::Kind::PromptLogprobs:
          break;
        case StreamEvent::Kind::Done:
          r.done = e;
          r.has_done = true;
          return;
        case StreamEvent::Kind::Failed:
          r.failed = true;
          return;
      }
    }
    if (until_delta && r.deltas > 0) return;
  }
  ADD_FAILURE() << "request did not finish within 120 s";
}

Result collect(RequestStream& stream) {
  Result r;
  drain(stream, r);
  return r;
}

class FairShare : public testing::SmolLM2Suite {
 protected:
  // Not started: requests submitted before start() all reach the scheduler in its first
  // iteration, so what it admits first is decided by the scheduler alone.
  static std::unique_ptr<Engine> create_engine(EngineOptions o) {
    o.n_ctx = 512;
    auto engine = Engine::create(*model_, *tokenizer_, o);
    EXPECT_TRUE(engine.ok()) << engine.error().message;
    return engine.ok() ? std::move(engine).value() : nullptr;
  }
  static GenerationRequest request(const std::string& text, int32_t max_tokens,
                                   const std::string& tenant, const std::string& id) {
    GenerationRequest r;
    r.prompt = tokenizer_->encode(text, true, false);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    r.ignore_eos = true;
    r.owner.tenant = tenant;
    r.owner.request_id = id;
    return r;
  }
  static std::shared_ptr<RequestStream> submit(Engine& e, GenerationRequest r) {
    SubmitFailure failure;
    auto stream = e.submit(std::move(r), &failure);
    EXPECT_TRUE(stream) << failure.message;
    return stream;
  }
};

bool near_relative(double a, double b, double rel) {
  return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b));
}

// --- usage reports -------------------------------------------------------------------------

TEST_F(FairShare, EveryRequestIsReportedOnceWithItsDoneUsageAndOwner) {
  RecordingObserver observer;  // outlives the engine
  EngineOptions o;
  o.max_running = 2;
  o.hardware = HardwareRates{3.6, 10.0, 50.0};
  o.usage_observer = &observer;
  auto engine = create_engine(o);
  ASSERT_TRUE(engine);

  // Owners with every field set, so a field dropped or swapped on the way shows.
  auto owned = [](GenerationRequest r, int i) {
    r.owner.weight = 1.0 + 0.25 * i;
    r.owner.key_id = "key_" + std::to_string(i);
    r.owner.model = i % 2 == 0 ? "smollm2-135m" : "alias-" + std::to_string(i);
    r.owner.part = i;
    r.owner.reservation_id = 900 + static_cast<uint64_t>(i);
    return r;
  };
  std::map<std::string, GenerationRequest> sent;
  std::map<std::string, Result> results;

  // A long request, and one with n = 2 that cannot start beside it (2 + 1 > max_running):
  // both submitted before the engine starts, so the long one is admitted and the other waits.
  GenerationRequest running = owned(request("Tell me a long story:", 200, "acme", "running"), 0);
  GenerationRequest waiting = owned(request("Never admitted:", 8, "beta", "waiting"), 1);
  waiting.n = 2;
  sent["running"] = running;
  sent["waiting"] = waiting;
  auto running_stream = submit(*engine, running);
  auto waiting_stream = submit(*engine, waiting);
  ASSERT_TRUE(running_stream && waiting_stream);
  engine->start();
  Result& run = results["running"];
  drain(*running_stream, run, /*until_delta=*/true);
  ASSERT_GT(run.deltas, 0);
  ASSERT_FALSE(run.has_done);
  // The long request has ~199 tokens to go: the waiting one is still waiting.
  waiting_stream->cancel();
  results["waiting"] = collect(*waiting_stream);
  running_stream->cancel();
  drain(*running_stream, run);

  // Then one at a time: plain (twice, the second from the prefix cache), n = 2, a stop string,
  // and prompt logprobs only (max_tokens 0, as lm-eval's loglikelihood requests).
  const std::string long_prompt =
      "The history of the bicycle begins in the early nineteenth century, when inventors in "
      "Germany and France built wooden machines that riders pushed along with their feet. Then";
  auto run_one = [&](GenerationRequest r) {
    const std::string id = r.owner.request_id;
    sent[id] = r;
    auto stream = submit(*engine, std::move(r));
    if (stream) results[id] = collect(*stream);
    return results[id];
  };
  const Result plain = run_one(owned(request(long_prompt, 6, "acme", "plain"), 2));
  run_one(owned(request(long_prompt, 6, "acme", "cached"), 3));
  GenerationRequest two = owned(request("Two choices:", 3, "beta", "two"), 4);
  two.n = 2;
  two.sampling.temperature = 1.0f;
  two.sampling.seed = 5;
  run_one(two);
  ASSERT_FALSE(plain.text.empty());
  ASSERT_GE(plain.text[0].size(), 4u);
  GenerationRequest stopped = owned(request(long_prompt, 6, "gamma", "stopped"), 5);
  stopped.stop = {plain.text[0].substr(2, 2)};
  run_one(stopped);
  GenerationRequest echo = owned(request("Score this prompt, please.", 0, "gamma", "echo"), 6);
  echo.prompt_logprobs = true;
  echo.logprobs = 0;
  run_one(echo);

  const MetricsSnapshot m = engine->metrics();
  engine->shutdown(1000);
  const std::vector<Report> reports = observer.reports();

  // Exactly once each, and nothing else.
  ASSERT_EQ(reports.size(), sent.size());
  std::map<std::string, Report> by_id;
  for (const Report& r : reports) {
    EXPECT_TRUE(by_id.emplace(r.owner.request_id, r).second)
        << r.owner.request_id << " reported twice";
    EXPECT_NE(r.thread, std::this_thread::get_id()) << "reports come from the engine thread";
  }
  for (const auto& [id, req] : sent) {
    SCOPED_TRACE(id);
    ASSERT_EQ(by_id.count(id), 1u);
    const Report& rep = by_id.at(id);
    const Result& res = results.at(id);
    ASSERT_TRUE(res.has_done);
    // The owner passes through unchanged.
    EXPECT_EQ(rep.owner.tenant, req.owner.tenant);
    EXPECT_EQ(rep.owner.weight, req.owner.weight);
    EXPECT_EQ(rep.owner.key_id, req.owner.key_id);
    EXPECT_EQ(rep.owner.model, req.owner.model);
    EXPECT_EQ(rep.owner.part, req.owner.part);
    EXPECT_EQ(rep.owner.reservation_id, req.owner.reservation_id);
    // The usage is the Done event's, and the observer's ticket rides on it.
    EXPECT_EQ(rep.prompt_tokens, res.done.prompt_tokens);
    // A request cancelled before admission computed none of its prompt and is billed for none.
    EXPECT_EQ(rep.prompt_tokens, id == "waiting" ? 0 : static_cast<int64_t>(req.prompt.size()));
    EXPECT_EQ(rep.cached_prompt_tokens, res.done.cached_prompt_tokens);
    EXPECT_EQ(rep.completion_tokens, res.done.completion_tokens);
    EXPECT_EQ(rep.cost_usd, res.done.cost_usd);
    EXPECT_EQ(rep.energy_j, res.done.energy_j);
    EXPECT_EQ(rep.ticket, res.done.usage_ticket);
    EXPECT_GE(rep.e2e_ms, rep.ttft_ms);
  }

  // Each request's own outcome.
  auto report = [&](const std::string& id) { return by_id.at(id); };
  EXPECT_EQ(report("running").finish_reason, FinishReason::Cancelled);
  EXPECT_GT(report("running").completion_tokens, 0);
  EXPECT_LT(report("running").completion_tokens, 200);
  EXPECT_GT(report("running").cost_usd, 0);
  EXPECT_GT(report("running").energy_j, 0);

  // Cancelled before it was ever admitted: no steps, so no tokens, cost or energy.
  EXPECT_EQ(report("waiting").finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(report("waiting").completion_tokens, 0);
  EXPECT_EQ(report("waiting").cost_usd, 0);
  EXPECT_EQ(report("waiting").energy_j, 0);
  EXPECT_EQ(report("waiting").queue_ms, 0);
  EXPECT_EQ(report("waiting").ttft_ms, 0);
  EXPECT_EQ(results.at("waiting").finish, std::vector<FinishReason>(2, FinishReason::Cancelled));

  EXPECT_EQ(report("plain").finish_reason, FinishReason::Length);
  EXPECT_EQ(report("plain").completion_tokens, 6);
  EXPECT_EQ(report("plain").cached_prompt_tokens, 0);
  const int64_t n_long = static_cast<int64_t>(sent.at("plain").prompt.size());
  ASSERT_GT(n_long, 16);
  EXPECT_EQ(report("cached").cached_prompt_tokens, (n_long - 1) / 16 * 16);
  EXPECT_EQ(report("two").completion_tokens, 6);
  EXPECT_EQ(report("two").finish_reason, FinishReason::Length);
  EXPECT_EQ(report("stopped").finish_reason, FinishReason::Stop);
  EXPECT_LE(report("stopped").completion_tokens, 6);
  EXPECT_EQ(report("echo").finish_reason, FinishReason::Length);
  EXPECT_EQ(report("echo").completion_tokens, 0);
  for (const char* id : {"plain", "cached", "two", "stopped", "echo"}) {
    EXPECT_GT(report(id).cost_usd, 0) << id;
    EXPECT_GT(report(id).energy_j, 0) << id;
  }
  for (const char* id : {"running", "plain", "cached", "two", "stopped"})
    EXPECT_GT(report(id).ttft_ms, 0) << id;
  EXPECT_EQ(report("echo").ttft_ms, 0);

  // Every step's cost and energy is split over the requests in it: they add up to the totals.
  double cost = 0, energy = 0;
  std::map<std::string, TenantUsage> tenants;
  for (const Report& r : reports) {
    cost += r.cost_usd;
    energy += r.energy_j;
    TenantUsage& t = tenants[r.owner.tenant];
    ++t.requests;
    t.prompt_tokens += static_cast<uint64_t>(r.prompt_tokens);
    t.completion_tokens += static_cast<uint64_t>(r.completion_tokens);
    t.cost_usd += r.cost_usd;
    t.energy_j += r.energy_j;
  }
  EXPECT_GT(m.cost_usd, 0);
  EXPECT_TRUE(near_relative(cost, m.cost_usd, 1e-9)) << cost << " vs " << m.cost_usd;
  EXPECT_TRUE(near_relative(energy, m.energy_j, 1e-9)) << energy << " vs " << m.energy_j;
  // A step costs its wall time at $3.6/h = $0.001/s.
  EXPECT_TRUE(near_relative(m.cost_usd, m.busy_seconds * 0.001, 1e-9));
  // Energy lies between all-idle and all-busy draw over the busy time.
  EXPECT_GE(m.energy_j, m.busy_seconds * 10.0 * (1 - 1e-9));
  EXPECT_LE(m.energy_j, m.busy_seconds * 50.0 * (1 + 1e-9));

  ASSERT_EQ(m.tenants.size(), tenants.size());
  for (const auto& [name, want] : tenants) {
    SCOPED_TRACE(name);
    ASSERT_EQ(m.tenants.count(name), 1u);
    const TenantUsage& got = m.tenants.at(name);
    EXPECT_EQ(got.requests, want.requests);
    EXPECT_EQ(got.prompt_tokens, want.prompt_tokens);
    EXPECT_EQ(got.completion_tokens, want.completion_tokens);
    EXPECT_TRUE(near_relative(got.cost_usd, want.cost_usd, 1e-12));
    EXPECT_TRUE(near_relative(got.energy_j, want.energy_j, 1e-12));
  }
  EXPECT_EQ(m.requests.at("cancelled"), 2u);
  EXPECT_EQ(m.requests.at("ok"), 5u);
}

TEST_F(FairShare, NoObserverAndNoRatesMeansNoTicketAndZeroCost) {
  auto engine = create_engine(EngineOptions{});
  ASSERT_TRUE(engine);
  engine->start();
  auto stream = submit(*engine, request("Hello", 2, "", "plain"));
  ASSERT_TRUE(stream);
  const Result r = collect(*stream);
  ASSERT_TRUE(r.has_done);
  EXPECT_EQ(r.done.usage_ticket, 0u);
  EXPECT_EQ(r.done.cost_usd, 0);
  EXPECT_EQ(r.done.energy_j, 0);
  const MetricsSnapshot m = engine->metrics();
  ASSERT_EQ(m.tenants.count(""), 1u);
  EXPECT_EQ(m.tenants.at("").requests, 1u);
  EXPECT_EQ(m.tenants.at("").completion_tokens, 2u);
}

// --- fair share through the engine ---------------------------------------------------------

// Six requests of tenant "a" then two of "b", all queued before the engine starts, one running
// at a time: the order they finish in is the order they were admitted.
class FairShareOrder : public FairShare {
 protected:
  std::vector<std::string> run(double weight_b) {
    RecordingObserver observer;
    EngineOptions o;
    o.max_running = 1;
    o.prefix_cache = false;  // every request computes its whole prompt
    o.usage_observer = &observer;
    auto engine = create_engine(o);
    if (!engine) return {};
    // Identical work per request (same prompt, same number of tokens), so each one adds the
    // same to its tenant's virtual time, divided by the tenant's weight.
    auto make = [](const std::string& tenant, int i, double weight) {
      GenerationRequest r = request("Say hello to everyone", 2, tenant, tenant + std::to_string(i));
      r.owner.weight = weight;
      return r;
    };
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (int i = 1; i <= 6; ++i) streams.push_back(submit(*engine, make("a", i, 1.0)));
    for (int i = 1; i <= 2; ++i) streams.push_back(submit(*engine, make("b", i, weight_b)));
    engine->start();
    for (const auto& s : streams) {
      if (!s) continue;
      EXPECT_TRUE(collect(*s).has_done);
    }
    engine->shutdown(1000);
    std::vector<std::string> order;
    for (const Report& r : observer.reports()) order.push_back(r.owner.request_id);
    return order;
  }
};

TEST_F(FairShareOrder, EqualWeightsInterleaveALateTenant) {
  // FIFO would run a1..a6 before b1; fair share lets b in as soon as a is ahead of it.
  EXPECT_EQ(run(1.0), (std::vector<std::string>{"a1", "b1", "a2", "b2", "a3", "a4", "a5", "a6"}));
}

TEST_F(FairShareOrder, LowWeightWaitsLonger) {
  // b's one request counts ten times its tokens: a runs five more before b's second.
  EXPECT_EQ(run(0.1), (std::vector<std::string>{"a1", "b1", "a2", "a3", "a4", "a5", "a6", "b2"}));
}

TEST_F(FairShareOrder, HighWeightGoesFirst) {
  // b's requests count a third of their tokens: both run before a's second.
  EXPECT_EQ(run(3.0), (std::vector<std::string>{"a1", "b1", "b2", "a2", "a3", "a4", "a5", "a6"}));
}

// --- the scheduler alone -------------------------------------------------------------------

// Drives a Scheduler step by step without running the model (zero logits: greedy picks token
// 0, and ignore_eos keeps sequences going), so arrivals between steps are exact.
class SchedulerHarness {
 public:
  SchedulerHarness(model::Model& model, const tok::Tokenizer& tokenizer, EngineOptions o)
      : n_vocab_(model.hparams().n_vocab) {
    o.kv_blocks = o.kv_blocks > 0 ? o.kv_blocks : 256;
    kv_ =
        model::KvCache::create(model.device(), model.hparams(), o.kv_blocks, o.block_size).value();
    scheduler_ = std::make_unique<Scheduler>(o, tokenizer, n_vocab_, *kv_);
  }

  void add(const std::string& id, const std::string& tenant, double weight, int32_t n_prompt,
           int32_t max_tokens) {
    auto r = std::make_unique<ActiveRequest>();
    r->id = next_id_++;
    r->arrival = Clock::now();
    for (int32_t i = 0; i < n_prompt; ++i) r->request.prompt.push_back(100 + (i * 7 + 3) % 500);
    r->request.max_tokens = max_tokens;
    r->request.sampling.temperature = 0;
    r->request.ignore_eos = true;
    r->request.owner.tenant = tenant;
    r->request.owner.weight = weight;
    r->request.owner.request_id = id;
    r->stream = std::make_shared<RequestStream>(r->id);
    scheduler_->admit_new(std::move(r));
  }

  // One step: (request id, tokens) of each sequence in it, in plan order.
  std::vector<std::pair<std::string, int32_t>> step() {
    StepPlan plan = scheduler_->schedule();
    std::vector<std::pair<std::string, int32_t>> out;
    for (const PlannedSeq& ps : plan.seqs) {
      const std::string& id = ps.seq->request->request.owner.request_id;
      out.emplace_back(id, ps.n_tokens);
      if (std::find(admitted_.begin(), admitted_.end(), id) == admitted_.end())
        admitted_.push_back(id);
    }
    logits_.assign(static_cast<size_t>(plan.n_logits) * static_cast<size_t>(n_vocab_), 0.0f);
    scheduler_->commit(plan, logits_, StepShares{});
    scheduler_->flush_events();
    return out;
  }
  // Steps until nothing is left (at most `limit`).
  void run_all(int limit = 10000) {
    for (int i = 0; i < limit && !scheduler_->idle(); ++i) step();
    EXPECT_TRUE(scheduler_->idle());
  }
  bool idle() const { return scheduler_->idle(); }
  // Requests in the order they first took part in a step.
  const std::vector<std::string>& admitted() const { return admitted_; }

 private:
  int32_t n_vocab_;
  std::unique_ptr<model::KvCache> kv_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<float> logits_;
  std::vector<std::string> admitted_;
  uint64_t next_id_ = 1;
};

EngineOptions one_at_a_time() {
  EngineOptions o;
  o.max_running = 1;
  o.prefix_cache = false;
  return o;
}

TEST_F(FairShare, TenantArrivingLateStartsAtTheBusyTenantsVirtualTime) {
  SchedulerHarness h(*model_, *tokenizer_, one_at_a_time());
  for (int i = 1; i <= 4; ++i) h.add("a" + std::to_string(i), "a", 1.0, 8, 4);
  // Run until a1 and a2 are done and a3 has not started.
  while (h.admitted().size() < 3) h.step();
  ASSERT_EQ(h.admitted(), (std::vector<std::string>{"a1", "a2", "a3"}));
  // a3 is in its first step; b arrives now. Starting from zero it would bank a's two requests
  // and run b1, b2 back to back; from a's virtual time the two tenants alternate.
  h.add("b1", "b", 1.0, 8, 4);
  h.add("b2", "b", 1.0, 8, 4);
  h.run_all();
  EXPECT_EQ(h.admitted(), (std::vector<std::string>{"a1", "a2", "a3", "b1", "a4", "b2"}));
}

TEST_F(FairShare, IdleTenantDoesNotCarryItsOldVirtualTime) {
  SchedulerHarness h(*model_, *tokenizer_, one_at_a_time());
  for (int i = 1; i <= 3; ++i) h.add("a" + std::to_string(i), "a", 1.0, 8, 4);
  h.run_all();
  // Everyone idle: the slate is wiped, so a's past work does not push it behind b.
  h.add("b1", "b", 1.0, 8, 4);
  h.add("b2", "b", 1.0, 8, 4);
  h.add("a4", "a", 1.0, 8, 4);
  h.add("a5", "a", 1.0, 8, 4);
  h.run_all();
  EXPECT_EQ(h.admitted(), (std::vector<std::string>{"a1", "a2", "a3", "b1", "a4", "b2", "a5"}));
}

// Prefill chunks of running sequences go to the tenant furthest behind, by weight.
std::map<std::string, int> prefill_chunks(SchedulerHarness& h, int steps) {
  std::map<std::string, int> chunks;
  for (int i = 0; i < steps; ++i) {
    const auto plan = h.step();
    EXPECT_EQ(plan.size(), 1u) << "the 8-token budget fits one chunk";
    for (const auto& [id, n] : plan) {
      EXPECT_EQ(n, 8);
      ++chunks[id];
    }
  }
  return chunks;
}

TEST_F(FairShare, PrefillChunksAlternateBetweenEqualTenants) {
  EngineOptions o;
  o.max_running = 8;
  o.step_tokens = 8;
  o.prefix_cache = false;
  SchedulerHarness h(*model_, *tokenizer_, o);
  h.add("a", "a", 1.0, 81, 1);  // 10 chunks of 8, then the last token
  h.add("b", "b", 1.0, 81, 1);
  // In arrival order a would take all ten chunks first.
  std::vector<std::string> first;
  for (int i = 0; i < 6; ++i) first.push_back(h.step().at(0).first);
  EXPECT_EQ(first, (std::vector<std::string>{"a", "b", "a", "b", "a", "b"}));
  h.run_all();
}

TEST_F(FairShare, PrefillChunksFollowTenantWeights) {
  EngineOptions o;
  o.max_running = 8;
  o.step_tokens = 8;
  o.prefix_cache = false;
  SchedulerHarness h(*model_, *tokenizer_, o);
  h.add("a", "a", 1.0, 161, 1);  // 20 chunks of 8
  h.add("b", "b", 0.5, 161, 1);
  // b's chunks count twice: a gets two for each of b's.
  const std::map<std::string, int> chunks = prefill_chunks(h, 12);
  EXPECT_EQ(chunks.at("a"), 8);
  EXPECT_EQ(chunks.at("b"), 4);
  h.run_all();
}

}  // namespace
}  // namespace tmill::engine
