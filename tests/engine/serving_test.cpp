// The serving engine on the real default model: continuous batching, prefix cache, preemption,
// cancellation, n > 1, logprobs — and batch invariance (a request's greedy tokens do not depend
// on what else runs with it, nor on whether its prompt came from the prefix cache).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/device.h"
#include "common/test_support.h"
#include "engine/engine.h"
#include "engine/smollm2_fixture.h"

namespace tmill::engine {
namespace {

using namespace std::chrono_literals;

struct Result {
  std::vector<std::vector<int32_t>> tokens;  // per choice
  std::vector<std::string> text;
  std::vector<FinishReason> finish;
  StreamEvent done;
  std::vector<TokenLogprob> prompt_logprobs;
  std::vector<std::vector<TokenLogprob>> logprobs;
  bool failed = false;
};

Result collect(RequestStream& stream, int32_t n) {
  Result r;
  r.tokens.resize(static_cast<size_t>(n));
  r.text.resize(static_cast<size_t>(n));
  r.finish.assign(static_cast<size_t>(n), FinishReason::None);
  r.logprobs.resize(static_cast<size_t>(n));
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (StreamEvent& e : stream.wait_take(100ms)) {
      const size_t i = static_cast<size_t>(e.index);
      switch (e.kind) {
        case StreamEvent::Kind::Delta:
          r.text[i] += e.text;
          r.tokens[i].insert(r.tokens[i].end(), e.tokens.begin(), e.tokens.end());
          r.logprobs[i].insert(r.logprobs[i].end(), e.logprobs.begin(), e.logprobs.end());
          break;
        case StreamEvent::Kind::Finished:
          r.finish[i] = e.finish_reason;
          break;
        case StreamEvent::Kind::PromptLogprobs:
          r.prompt_logprobs = e.logprobs;
          break;
        case StreamEvent::Kind::Done:
          r.done = e;
          return r;
        case StreamEvent::Kind::Failed:
          r.failed = true;
          return r;
      }
    }
  }
  ADD_FAILURE() << "request did not finish within 120 s";
  return r;
}

class ServingEngine : public testing::SmolLM2Suite {
 protected:
  std::unique_ptr<Engine> make_engine(EngineOptions o = {}) {
    if (o.n_ctx == 4096) o.n_ctx = 2048;
    auto engine = Engine::create(*model_, *tokenizer_, o);
    EXPECT_TRUE(engine.ok()) << engine.error().message;
    (*engine)->start();
    return std::move(engine).value();
  }
  static GenerationRequest greedy(const std::string& text, int32_t max_tokens) {
    GenerationRequest r;
    r.prompt = tokenizer_->encode(text, true, false);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    return r;
  }
  static std::shared_ptr<RequestStream> submit(Engine& e, GenerationRequest r) {
    SubmitFailure failure;
    auto stream = e.submit(std::move(r), &failure);
    EXPECT_TRUE(stream) << failure.message;
    return stream;
  }
  static void expect_idle_accounting(Engine& e) {
    // The engine publishes gauges after each step; give it a moment to settle.
    for (int i = 0; i < 100 && e.metrics().running_sequences != 0; ++i)
      std::this_thread::sleep_for(10ms);
    const MetricsSnapshot m = e.metrics();
    EXPECT_EQ(m.running_sequences, 0u);
    EXPECT_EQ(m.kv_blocks_used, 0u);
    EXPECT_EQ(m.kv_blocks_free + m.kv_blocks_used, m.kv_blocks_total);
  }
};

std::vector<std::string> prompts(int n) {
  const char* topics[] = {"the sea",   "a red fox",     "prime numbers", "Paris",
                          "rain",      "old machines",  "bread",         "the moon",
                          "a library", "winter trains", "bees",          "chess"};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(std::string("Write one sentence about ") + topics[i % 12] + " (note " +
                  std::to_string(i) + "):");
  return out;
}

TEST_F(ServingEngine, GreedyMatchesPlainForwardLoop) {
  auto engine = make_engine();
  GenerationRequest req = greedy("The capital of France is", 12);
  req.ignore_eos = true;
  const std::vector<int32_t> prompt = req.prompt;
  Result r = collect(*submit(*engine, req), 1);
  ASSERT_FALSE(r.failed);
  ASSERT_EQ(r.tokens[0].size(), 12u);
  EXPECT_EQ(r.finish[0], FinishReason::Length);
  EXPECT_EQ(r.done.prompt_tokens, static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(r.done.completion_tokens, 12);
  EXPECT_EQ(r.text[0], tokenizer_->decode(r.tokens[0]));

  // The same greedy loop straight on the model.
  auto kv = model_->create_kv_cache(256).value();
  ASSERT_TRUE(kv->reserve(0, 256).ok());
  std::vector<float> logits(static_cast<size_t>(model_->hparams().n_vocab));
  model::Batch batch;
  for (size_t i = 0; i < prompt.size(); ++i)
    batch.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  std::vector<int32_t> expected;
  int32_t pos = static_cast<int32_t>(prompt.size());
  for (int step = 0; step < 12; ++step) {
    ASSERT_TRUE(model_->forward(batch, *kv, logits).ok());
    const int32_t next = static_cast<int32_t>(tmill::testing::argmax(logits.data(), logits.size()));
    expected.push_back(next);
    batch.clear();
    batch.add(next, pos++, 0, true);
  }
  EXPECT_EQ(r.tokens[0], expected);
  expect_idle_accounting(*engine);
}

// Issue #5's batch-invariance check, in-process: 32 prompts alone, then all at once with
// random arrival times, then again with their shared prefix served from the cache.
TEST_F(ServingEngine, BatchInvariantGreedyOutputs) {
  const std::string shared =
      "You are a helpful assistant who answers briefly and precisely, in plain English. ";
  std::vector<std::string> texts = prompts(32);
  auto engine = make_engine();
  std::vector<std::vector<int32_t>> alone;
  for (const std::string& t : texts) {
    Result r = collect(*submit(*engine, greedy(shared + t, 16)), 1);
    ASSERT_FALSE(r.failed);
    alone.push_back(r.tokens[0]);
  }
  // All at once, random arrival; the shared prefix is now cached, so this also checks
  // cache-hit prompts against the cold runs above.
  std::mt19937 rng(7);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::string& t : texts) {
    streams.push_back(submit(*engine, greedy(shared + t, 16)));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 20));
  }
  int64_t cached = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    Result r = collect(*streams[i], 1);
    ASSERT_FALSE(r.failed);
    EXPECT_EQ(r.tokens[0], alone[i]) << "prompt " << i << " changed when batched";
    cached += r.done.cached_prompt_tokens;
  }
  EXPECT_GT(cached, 0) << "the shared prefix was never served from the prefix cache";
  // And with the prefix cache off, everything batched and cold.
  EngineOptions no_cache;
  no_cache.prefix_cache = false;
  auto cold = make_engine(no_cache);
  streams.clear();
  for (const std::string& t : texts) streams.push_back(submit(*cold, greedy(shared + t, 16)));
  for (size_t i = 0; i < streams.size(); ++i) {
    Result r = collect(*streams[i], 1);
    EXPECT_EQ(r.tokens[0], alone[i]) << "prompt " << i << " changed without the prefix cache";
    EXPECT_EQ(r.done.cached_prompt_tokens, 0);
  }
  expect_idle_accounting(*engine);
  expect_idle_accounting(*cold);
}

TEST_F(ServingEngine, PrefixCacheReportsCachedTokens) {
  auto engine = make_engine();
  GenerationRequest req = greedy(std::string(400, 'a') + " and then", 4);
  const size_t n_prompt = req.prompt.size();
  Result first = collect(*submit(*engine, req), 1);
  Result second = collect(*submit(*engine, req), 1);
  EXPECT_EQ(first.done.cached_prompt_tokens, 0);
  // Every full block but the one holding the last token comes from the cache.
  EXPECT_EQ(second.done.cached_prompt_tokens, static_cast<int64_t>((n_prompt - 1) / 16 * 16));
  EXPECT_EQ(first.tokens, second.tokens);
  const MetricsSnapshot m = engine->metrics();
  EXPECT_GT(m.prefix_cache_hits, 0u);
  EXPECT_GT(m.kv_blocks_cached, 0u);
}

TEST_F(ServingEngine, TinyPoolPreemptsAndCompletesEverything) {
  EngineOptions o;
  o.kv_blocks = 12;  // 192 tokens for 8 requests of ~15 + 48 tokens (4 blocks each)
  o.max_running = 8;
  auto engine = make_engine(o);
  std::vector<std::string> texts = prompts(8);
  std::vector<std::vector<int32_t>> alone;
  {
    auto roomy = make_engine();
    for (const std::string& t : texts) {
      GenerationRequest req = greedy(t, 48);
      req.ignore_eos = true;
      alone.push_back(collect(*submit(*roomy, req), 1).tokens[0]);
    }
  }
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::string& t : texts) {
    GenerationRequest req = greedy(t, 48);
    req.ignore_eos = true;
    streams.push_back(submit(*engine, req));
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    Result r = collect(*streams[i], 1);
    ASSERT_FALSE(r.failed);
    EXPECT_EQ(r.finish[0], FinishReason::Length);
    EXPECT_EQ(r.tokens[0], alone[i]) << "request " << i << " changed by preemption";
  }
  EXPECT_GT(engine->metrics().preemptions, 0u);
  expect_idle_accounting(*engine);
}

TEST_F(ServingEngine, RejectsWhatCanNeverFit) {
  EngineOptions o;
  o.kv_blocks = 4;
  o.n_ctx = 512;
  auto engine = make_engine(o);
  SubmitFailure failure;
  GenerationRequest req = greedy("hello", 100);
  EXPECT_EQ(engine->submit(req, &failure), nullptr);
  EXPECT_EQ(failure.error, SubmitError::TooLong);
  req.max_tokens = 600;
  EXPECT_EQ(engine->submit(req, &failure), nullptr);
  EXPECT_EQ(failure.error, SubmitError::TooLong);
  EXPECT_NE(failure.message.find("maximum context length is 512"), std::string::npos);
  req.max_tokens = -1;
  EXPECT_EQ(engine->submit(req, &failure), nullptr);
  EXPECT_EQ(failure.error, SubmitError::Invalid);
  req = greedy("hi", 4);
  req.prompt.push_back(1 << 30);
  EXPECT_EQ(engine->submit(req, &failure), nullptr);
  EXPECT_EQ(failure.error, SubmitError::Invalid);
}

TEST_F(ServingEngine, QueueFullIsRejected) {
  EngineOptions o;
  o.max_running = 1;
  o.max_queue = 1;
  auto engine = make_engine(o);
  GenerationRequest long_req = greedy("Count to one hundred:", 200);
  long_req.ignore_eos = true;
  auto running = submit(*engine, long_req);
  ASSERT_TRUE(running);
  // Wait until it is admitted and the queue is empty again (slow under sanitizers).
  for (int i = 0; i < 1000; ++i) {
    const MetricsSnapshot m = engine->metrics();
    if (m.running_sequences == 1 && m.queue_length == 0) break;
    std::this_thread::sleep_for(10ms);
  }
  auto queued = submit(*engine, long_req);
  ASSERT_TRUE(queued);
  SubmitFailure failure;
  EXPECT_EQ(engine->submit(long_req, &failure), nullptr);
  EXPECT_EQ(failure.error, SubmitError::QueueFull);
  running->cancel();
  queued->cancel();
  EXPECT_EQ(collect(*running, 1).finish[0], FinishReason::Cancelled);
  EXPECT_EQ(collect(*queued, 1).finish[0], FinishReason::Cancelled);
  expect_idle_accounting(*engine);
}

TEST_F(ServingEngine, CancelFreesBlocksPromptly) {
  auto engine = make_engine();
  GenerationRequest req = greedy("Tell me a long story:", 1000);
  req.ignore_eos = true;
  auto stream = submit(*engine, req);
  // Wait for the first token, then cancel.
  for (int i = 0; i < 200 && engine->metrics().generation_tokens == 0; ++i) {
    auto events = stream->wait_take(10ms);
    if (!events.empty()) break;
  }
  const auto t0 = std::chrono::steady_clock::now();
  stream->cancel();
  Result r = collect(*stream, 1);
  EXPECT_EQ(r.finish[0], FinishReason::Cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  expect_idle_accounting(*engine);
  EXPECT_EQ(engine->metrics().requests["cancelled"], 1u);
}

TEST_F(ServingEngine, SeveralChoicesShareThePrompt) {
  auto engine = make_engine();
  GenerationRequest req = greedy(std::string(100, 'b') + " story:", 8);
  req.n = 3;
  req.ignore_eos = true;
  req.sampling.temperature = 1.0f;
  req.sampling.top_k = 0;
  req.sampling.top_p = 1;
  req.sampling.min_p = 0;
  req.sampling.seed = 42;
  Result a = collect(*submit(*engine, req), 3);
  Result b = collect(*submit(*engine, req), 3);
  EXPECT_EQ(a.tokens, b.tokens) << "same seed, same tokens";
  EXPECT_NE(a.tokens[0], a.tokens[1]) << "choices use different seeds";
  EXPECT_EQ(a.done.prompt_tokens, static_cast<int64_t>(req.prompt.size()));
  EXPECT_EQ(a.done.completion_tokens, 24);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.finish[static_cast<size_t>(i)], FinishReason::Length);
  expect_idle_accounting(*engine);
}

TEST_F(ServingEngine, StopStringsEndGenerationAndNeverAppear) {
  auto engine = make_engine();
  GenerationRequest probe = greedy("1, 2, 3, 4, 5,", 12);
  probe.ignore_eos = true;
  Result free_run = collect(*submit(*engine, probe), 1);
  ASSERT_GE(free_run.text[0].size(), 4u);
  // Stop on a piece of what it generates freely: the output must be what came before it.
  const std::string stop = free_run.text[0].substr(2, 2);
  probe.stop = {stop};
  Result stopped = collect(*submit(*engine, probe), 1);
  EXPECT_EQ(stopped.finish[0], FinishReason::Stop);
  EXPECT_EQ(stopped.text[0], free_run.text[0].substr(0, free_run.text[0].find(stop)));
  EXPECT_EQ(stopped.text[0].find(stop), std::string::npos);
}

TEST_F(ServingEngine, PromptAndTokenLogprobs) {
  auto engine = make_engine();
  GenerationRequest req = greedy("The quick brown fox jumps over the lazy", 3);
  req.prompt_logprobs = true;
  req.logprobs = 2;
  req.ignore_eos = true;
  Result r = collect(*submit(*engine, req), 1);
  ASSERT_EQ(r.prompt_logprobs.size(), req.prompt.size() - 1);
  for (size_t i = 0; i < r.prompt_logprobs.size(); ++i) {
    EXPECT_EQ(r.prompt_logprobs[i].token, req.prompt[i + 1]);
    EXPECT_LE(r.prompt_logprobs[i].logprob, 0.0f);
    ASSERT_EQ(r.prompt_logprobs[i].top.size(), 2u);
  }
  ASSERT_EQ(r.logprobs[0].size(), 3u);
  for (const TokenLogprob& lp : r.logprobs[0]) {
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(lp.top[0].token, lp.token);
    EXPECT_FLOAT_EQ(lp.top[0].logprob, lp.logprob);
  }
  // max_tokens 0: prompt logprobs only (lm-eval's loglikelihood requests).
  req.max_tokens = 0;
  Result echo = collect(*submit(*engine, req), 1);
  EXPECT_EQ(echo.done.completion_tokens, 0);
  EXPECT_EQ(echo.finish[0], FinishReason::Length);
  ASSERT_EQ(echo.prompt_logprobs.size(), r.prompt_logprobs.size());
  for (size_t i = 0; i < echo.prompt_logprobs.size(); ++i)
    EXPECT_EQ(echo.prompt_logprobs[i].logprob, r.prompt_logprobs[i].logprob);
}

}  // namespace
}  // namespace tmill::engine
