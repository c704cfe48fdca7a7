#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include <time.h>

#include "engine/scheduler.h"

namespace tmill::engine {
namespace {

// Default KV pool when neither --kv-blocks nor --kv-memory is given: room for every running
// sequence at full context, capped at 1 GiB, but never less than one full-context sequence.
constexpr int64_t kDefaultKvBytesCap = int64_t{1} << 30;

// Wakes the engine thread. Shared with every RequestStream (for cancel()), so a stream that
// outlives the engine never calls into freed memory.
struct Waker {
  std::mutex mu;
  std::condition_variable cv;
  bool flag = false;
  void wake() {
    {
      std::lock_guard lock(mu);
      flag = true;
    }
    cv.notify_all();
  }
};

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

struct Engine::Impl {
  model::Model& model;
  tok::Tokenizer tokenizer;
  EngineOptions options;
  std::unique_ptr<model::KvCache> kv;
  std::unique_ptr<Scheduler> scheduler;
  std::shared_ptr<Waker> waker = std::make_shared<Waker>();

  // Guarded by waker->mu: the hand-over from submit() to the engine thread.
  std::vector<std::unique_ptr<ActiveRequest>> incoming;
  size_t engine_waiting = 0;  // requests queued inside the scheduler (copied after each step)
  bool accepting = true;
  bool cancel_all = false;
  bool stop = false;
  uint64_t next_id = 1;
  std::map<std::string, uint64_t> rejected;  // submit() rejections by status

  std::atomic<int64_t> in_flight{0};  // submitted and not yet Done/Failed

  mutable std::mutex metrics_mu;
  MetricsSnapshot published;  // the engine thread's counters and gauges after its last step

  std::thread thread;
  std::vector<float> logits;
  StepCostModel step_cost;

  Impl(model::Model& m, tok::Tokenizer t, EngineOptions o)
      : model(m),
        tokenizer(std::move(t)),
        options(o),
        step_cost(o.hardware, static_cast<int>(std::thread::hardware_concurrency())) {}

  void run();
  void step();
  void publish_metrics();
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { shutdown(0); }

Expected<std::unique_ptr<Engine>> Engine::create(model::Model& model, tok::Tokenizer tokenizer,
                                                 const EngineOptions& options) {
  EngineOptions o = options;
  const model::HParams& hp = model.hparams();
  if (o.block_size <= 0) return fail("block size must be positive, got ", o.block_size);
  if (o.max_running <= 0) return fail("--parallel must be at least 1, got ", o.max_running);
  if (o.step_tokens <= 0) return fail("--step-tokens must be at least 1, got ", o.step_tokens);
  if (o.max_queue < 0) return fail("--max-queue must not be negative, got ", o.max_queue);
  if (o.n_ctx <= 0) o.n_ctx = hp.n_ctx_train > 0 ? std::min(hp.n_ctx_train, 4096) : 4096;
  if (hp.n_ctx_train > 0 && o.n_ctx > hp.n_ctx_train)
    return fail("--ctx-size ", o.n_ctx, " exceeds the model's trained context of ", hp.n_ctx_train,
                " tokens");
  const int64_t bytes_per_block = int64_t{2} * hp.n_layer * hp.n_kv_head *
                                  std::max(hp.head_dim, hp.head_dim_v) * 2 * o.block_size;
  const int32_t ctx_blocks = (o.n_ctx + o.block_size - 1) / o.block_size;
  if (o.kv_blocks <= 0) {
    int64_t bytes = o.kv_bytes;
    if (bytes <= 0)
      bytes =
          std::min<int64_t>(int64_t{ctx_blocks} * o.max_running * bytes_per_block,
                            std::max<int64_t>(kDefaultKvBytesCap, ctx_blocks * bytes_per_block));
    o.kv_blocks = static_cast<int32_t>(std::min<int64_t>(bytes / bytes_per_block, INT32_MAX));
    if (o.kv_blocks <= 0)
      return fail("KV memory of ", bytes, " bytes holds no block of ", o.block_size, " tokens (",
                  bytes_per_block, " bytes each)");
  }
  auto impl = std::make_unique<Impl>(model, std::move(tokenizer), o);
  TM_ASSIGN(impl->kv, model::KvCache::create(model.device(), hp, o.kv_blocks, o.block_size));
  impl->scheduler = std::make_unique<Scheduler>(o, impl->tokenizer, hp.n_vocab, *impl->kv);
  impl->publish_metrics();
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

void Engine::start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void Engine::shutdown(int64_t deadline_ms) {
  Impl& e = *impl_;
  {
    std::lock_guard lock(e.waker->mu);
    e.accepting = false;
  }
  if (e.thread.joinable()) {
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, deadline_ms));
    while (e.in_flight.load() > 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    {
      std::lock_guard lock(e.waker->mu);
      e.cancel_all = true;
      e.stop = true;
    }
    e.waker->cv.notify_all();
    e.thread.join();
  }
}

std::shared_ptr<RequestStream> Engine::submit(GenerationRequest request, SubmitFailure* failure) {
  Impl& e = *impl_;
  const int32_t n_vocab = e.model.hparams().n_vocab;
  auto reject = [&](SubmitError error, std::string message,
                    const char* status) -> std::shared_ptr<RequestStream> {
    {
      std::lock_guard lock(e.waker->mu);
      ++e.rejected[status];
    }
    if (failure) *failure = {error, std::move(message)};
    return nullptr;
  };
  if (request.prompt.empty())
    return reject(SubmitError::Invalid, "the prompt must contain at least one token",
                  "rejected_invalid");
  for (int32_t id : request.prompt)
    if (id < 0 || id >= n_vocab)
      return reject(SubmitError::Invalid,
                    "prompt token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                        std::to_string(n_vocab - 1) + ")",
                    "rejected_invalid");
  if (request.max_tokens < 0)
    return reject(SubmitError::Invalid, "max_tokens must not be negative", "rejected_invalid");
  if (request.n < 1 || request.n > e.options.max_running)
    return reject(SubmitError::Invalid,
                  "n must be between 1 and " + std::to_string(e.options.max_running) +
                      " (the server's --parallel), got " + std::to_string(request.n),
                  "rejected_invalid");
  if (!(request.owner.weight > 0) || !std::isfinite(request.owner.weight))
    return reject(SubmitError::Invalid, "the tenant's fair-share weight must be a positive number",
                  "rejected_invalid");
  if (request.logprobs > 20)
    return reject(SubmitError::Invalid, "at most 20 top logprobs can be returned",
                  "rejected_invalid");
  if (Status s = validate(request.sampling, n_vocab); !s.ok())
    return reject(SubmitError::Invalid, s.error().message, "rejected_invalid");
  const int64_t n_prompt = static_cast<int64_t>(request.prompt.size());
  const int64_t total = n_prompt + request.max_tokens;
  if (total > e.options.n_ctx)
    return reject(SubmitError::TooLong,
                  "This model's maximum context length is " + std::to_string(e.options.n_ctx) +
                      " tokens. However, you requested " + std::to_string(total) + " tokens (" +
                      std::to_string(n_prompt) + " in the prompt, " +
                      std::to_string(request.max_tokens) +
                      " for the completion). Please reduce the prompt or max_tokens.",
                  "rejected_too_long");
  // Worst case the request ever needs at once: the prompt's blocks (shared by all choices) plus
  // each further choice's own tail block and generated tokens.
  const int32_t bs = e.options.block_size;
  const int64_t need =
      (total + bs - 1) / bs + int64_t{request.n - 1} * ((request.max_tokens + bs - 1) / bs + 1);
  if (need > e.options.kv_blocks)
    return reject(SubmitError::TooLong,
                  "the request needs up to " + std::to_string(need) + " KV blocks of " +
                      std::to_string(bs) + " tokens but the server's KV pool has only " +
                      std::to_string(e.options.kv_blocks) +
                      "; reduce the prompt, max_tokens or n (or start the server with more "
                      "--kv-memory)",
                  "rejected_too_long");

  auto active = std::make_unique<ActiveRequest>();
  active->arrival = Clock::now();
  active->request = std::move(request);
  std::shared_ptr<RequestStream> stream;
  {
    std::lock_guard lock(e.waker->mu);
    if (!e.accepting) {
      ++e.rejected["rejected_shutting_down"];
      if (failure) *failure = {SubmitError::ShuttingDown, "the server is shutting down"};
      return nullptr;
    }
    if (e.incoming.size() + e.engine_waiting >= static_cast<size_t>(e.options.max_queue)) {
      ++e.rejected["rejected_queue_full"];
      if (failure)
        *failure = {SubmitError::QueueFull,
                    "the server is busy: " + std::to_string(e.options.max_queue) +
                        " requests are already waiting; retry shortly"};
      return nullptr;
    }
    active->id = e.next_id++;
    stream = std::make_shared<RequestStream>(active->id);
    std::weak_ptr<Waker> weak = e.waker;
    stream->set_on_cancel([weak] {
      if (auto w = weak.lock()) w->wake();
    });
    active->stream = stream;
    e.incoming.push_back(std::move(active));
    e.waker->flag = true;
    e.in_flight.fetch_add(1);
  }
  e.waker->cv.notify_all();
  return stream;
}

void Engine::Impl::run() {
  for (;;) {
    std::vector<std::unique_ptr<ActiveRequest>> arrived;
    bool cancel_everything = false;
    {
      std::unique_lock lock(waker->mu);
      waker->cv.wait(
          lock, [&] { return waker->flag || stop || !incoming.empty() || !scheduler->idle(); });
      waker->flag = false;
      arrived.swap(incoming);
      // They leave `incoming` but are not admitted yet: keep them counted as queued until the
      // scheduler's own count replaces this at the end of the iteration.
      engine_waiting += arrived.size();
      cancel_everything = cancel_all;
    }
    for (auto& r : arrived) scheduler->admit_new(std::move(r));
    scheduler->process_cancellations(cancel_everything);
    if (!cancel_everything) step();
    // Metrics first: a client that has seen its request finish then sees it in /metrics too.
    publish_metrics();
    const size_t finished = scheduler->flush_events();
    in_flight.fetch_sub(static_cast<int64_t>(finished));
    {
      std::lock_guard lock(waker->mu);
      engine_waiting = scheduler->waiting();
      if (stop && scheduler->idle() && incoming.empty()) break;
    }
  }
}

void Engine::Impl::step() {
  StepPlan plan = scheduler->schedule();
  if (plan.batch.size() == 0) {
    // Nothing runnable (e.g. every request waits for blocks held by none): avoid spinning.
    if (!scheduler->idle()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return;
  }
  const size_t n_vocab = static_cast<size_t>(model.hparams().n_vocab);
  const size_t need = static_cast<size_t>(plan.n_logits) * n_vocab;
  if (logits.size() < need) logits.resize(need);
  const int64_t n_decode = Scheduler::decode_tokens(plan);
  const int64_t n_prefill = static_cast<int64_t>(plan.batch.size()) - n_decode;
  const auto wall_start = Clock::now();
  const double cpu_start = process_cpu_seconds();
  Status s = model.forward(plan.batch, *kv, std::span<float>(logits.data(), need));
  if (!s.ok()) {
    std::fprintf(stderr, "engine: forward failed: %s\n", s.error().message.c_str());
    scheduler->fail_plan(plan, "inference failed: " + s.error().message);
    return;
  }
  // The forward pass is the step's cost (sampling and streaming are small next to it).
  const double wall = std::chrono::duration<double>(Clock::now() - wall_start).count();
  const double cpu = process_cpu_seconds() - cpu_start;
  const StepShares shares = step_cost.attribute(wall, cpu, n_decode, n_prefill);
  scheduler->counters().busy_seconds += wall;
  scheduler->commit(plan, std::span<float>(logits.data(), need), shares);
}

void Engine::Impl::publish_metrics() {
  MetricsSnapshot m = scheduler->counters();
  scheduler->fill_gauges(m);
  std::lock_guard lock(metrics_mu);
  published = std::move(m);
}

MetricsSnapshot Engine::metrics() const {
  MetricsSnapshot m;
  {
    std::lock_guard lock(impl_->metrics_mu);
    m = impl_->published;
  }
  std::lock_guard lock(impl_->waker->mu);
  for (const auto& [status, count] : impl_->rejected) m.requests[status] += count;
  // The queue as admission sees it (submit() compares this with --max-queue).
  m.queue_length = impl_->incoming.size() + impl_->engine_waiting;
  return m;
}

const EngineOptions& Engine::options() const { return impl_->options; }
const tok::Tokenizer& Engine::tokenizer() const { return impl_->tokenizer; }
model::Model& Engine::model() { return impl_->model; }

}  // namespace tmill::engine
