#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace tmill::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Parameters with every filter and penalty off, so each test turns on only what it checks.
SamplingParams plain(float temperature = 1.0f, uint64_t seed = 1) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

// Logits whose softmax at temperature 1 is exactly `probs` (up to rounding).
std::vector<float> log_probs(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

std::vector<int32_t> draw_many(Sampler& sampler, const std::vector<float>& logits, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> row = logits;  // sample() uses the row as scratch
    out.push_back(sampler.sample(row, {}));
  }
  return out;
}

std::set<int32_t> distinct(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }

const std::vector<double> kProbs = {0.5, 0.3, 0.15, 0.05};

TEST(Sampler, GreedyPicksArgmaxWithLowestIdOnTies) {
  Sampler s(plain(0.0f), 5);
  std::vector<float> row = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
  EXPECT_EQ(s.sample(row, {}), 1);
  row = {-3.0f, -2.0f, -5.0f, -2.5f, -9.0f};
  EXPECT_EQ(s.sample(row, {}), 1);
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDifferent) {
  const std::vector<float> logits = {0.0f, 0.5f, 1.0f, 0.2f, 0.8f, 0.1f};
  SamplingParams p = plain(1.0f, 42);
  p.top_k = 4;
  p.top_p = 0.9f;
  Sampler a(p, 6), b(p, 6);
  p.seed = 43;
  Sampler c(p, 6);
  const auto seq_a = draw_many(a, logits, 200);
  EXPECT_EQ(seq_a, draw_many(b, logits, 200));
  EXPECT_NE(seq_a, draw_many(c, logits, 200));
}

TEST(Sampler, TinyTemperatureApproachesGreedy) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.99f, -1.0f};
  Sampler s(plain(1e-3f), 4);
  EXPECT_EQ(distinct(draw_many(s, logits, 200)), std::set<int32_t>{1});
  // Far below float's usable range for logit / temperature: must not overflow into NaN.
  Sampler tiny(plain(1e-30f), 4);
  EXPECT_EQ(distinct(draw_many(tiny, logits, 50)), std::set<int32_t>{1});
}

TEST(Sampler, TopKOneIsGreedy) {
  const std::vector<float> logits = {0.3f, 0.1f, 0.9f, 0.9f, 0.2f};
  SamplingParams p = plain(2.0f);
  p.top_k = 1;
  Sampler s(p, 5);
  EXPECT_EQ(distinct(draw_many(s, logits, 200)), std::set<int32_t>{2});  // tie -> lowest id
}

TEST(Sampler, TopKKeepsTheKMostLikely) {
  const std::vector<float> logits = {0.3f, 0.1f, 0.9f, 0.8f, 0.2f};
  SamplingParams p = plain(1.0f);
  p.top_k = 3;
  Sampler s(p, 5);
  EXPECT_EQ(distinct(draw_many(s, logits, 2000)), (std::set<int32_t>{0, 2, 3}));
}

TEST(Sampler, TopPKeepsTheMinimalNucleus) {
  const auto logits = log_probs(kProbs);
  const auto nucleus = [&](float top_p) {
    SamplingParams p = plain(1.0f);
    p.top_p = top_p;
    Sampler s(p, 4);
    return distinct(draw_many(s, logits, 2000));
  };
  EXPECT_EQ(nucleus(0.4f), std::set<int32_t>{0});
  EXPECT_EQ(nucleus(0.75f), (std::set<int32_t>{0, 1}));
  EXPECT_EQ(nucleus(0.9f), (std::set<int32_t>{0, 1, 2}));
  EXPECT_EQ(nucleus(1.0f), (std::set<int32_t>{0, 1, 2, 3}));
}

TEST(Sampler, MinPFiltersRelativeToTheTopToken) {
  const auto logits = log_probs(kProbs);
  const auto survivors = [&](float min_p) {
    SamplingParams p = plain(1.0f);
    p.min_p = min_p;
    Sampler s(p, 4);
    return distinct(draw_many(s, logits, 2000));
  };
  EXPECT_EQ(survivors(0.2f), (std::set<int32_t>{0, 1, 2}));  // threshold 0.1
  EXPECT_EQ(survivors(0.5f), (std::set<int32_t>{0, 1}));     // threshold 0.25
  EXPECT_EQ(survivors(0.7f), std::set<int32_t>{0});          // threshold 0.35
}

TEST(Sampler, FiltersCompose) {
  // After top-k 3 the distribution is {0.5, 0.3, 0.15} / 0.95 = {0.53, 0.32, 0.16}.
  const auto logits = log_probs(kProbs);
  const auto survivors = [&](float top_p, float min_p) {
    SamplingParams p = plain(1.0f);
    p.top_k = 3;
    p.top_p = top_p;
    p.min_p = min_p;
    Sampler s(p, 4);
    return distinct(draw_many(s, logits, 2000));
  };
  EXPECT_EQ(survivors(1.0f, 0.0f), (std::set<int32_t>{0, 1, 2}));
  EXPECT_EQ(survivors(0.8f, 0.25f), (std::set<int32_t>{0, 1}));  // top-p cuts, min-p would not
  EXPECT_EQ(survivors(0.9f, 0.35f), (std::set<int32_t>{0, 1}));  // min-p cuts, top-p would not
}

TEST(Sampler, FrequenciesMatchSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f};
  std::vector<double> expected;
  double z = 0;
  for (float l : logits) z += std::exp(double{l});
  for (float l : logits) expected.push_back(std::exp(double{l}) / z);

  Sampler s(plain(1.0f, 7), 5);
  constexpr int kDraws = 20000;
  std::vector<int> counts(logits.size(), 0);
  for (int32_t t : draw_many(s, logits, kDraws)) ++counts[static_cast<size_t>(t)];
  for (size_t i = 0; i < logits.size(); ++i) {
    // The largest standard error here is sqrt(0.25 / 20000) ~ 0.0035; allow ~4 of them.
    EXPECT_NEAR(counts[i] / double{kDraws}, expected[i], 0.015) << "token " << i;
  }
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingParams p = plain(0.0f);
  p.repetition_penalty = 2.0f;
  p.penalty_last_n = 64;
  Sampler s(p, 4);
  std::vector<float> row = {3.0f, -1.0f, 0.5f, 1.0f};
  const std::vector<int32_t> history = {0, 1, 0, 0};  // token 0 thrice: still penalized once
  s.apply_bias_and_penalties(row, history);
  EXPECT_EQ(row, (std::vector<float>{1.5f, -2.0f, 0.5f, 1.0f}));
}

TEST(Sampler, PresenceAndFrequencyPenaltiesFollowOpenAI) {
  SamplingParams p = plain(0.0f);
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  Sampler s(p, 4);
  std::vector<float> row = {1.0f, 1.0f, 1.0f, 1.0f};
  s.apply_bias_and_penalties(row, std::vector<int32_t>{2, 0, 2, 2});
  // token 0: 1 - 0.25*1 - 0.5; token 2: 1 - 0.25*3 - 0.5.
  EXPECT_EQ(row, (std::vector<float>{0.25f, 1.0f, -0.25f, 1.0f}));
  // Counts are reset between calls: the same history gives the same result again.
  row = {1.0f, 1.0f, 1.0f, 1.0f};
  s.apply_bias_and_penalties(row, std::vector<int32_t>{2, 0, 2, 2});
  EXPECT_EQ(row, (std::vector<float>{0.25f, 1.0f, -0.25f, 1.0f}));
}

TEST(Sampler, PenaltiesSeeOnlyTheLastNTokensAndIgnoreBadIds) {
  SamplingParams p = plain(0.0f);
  p.frequency_penalty = 1.0f;
  p.penalty_last_n = 3;
  Sampler s(p, 4);
  std::vector<float> row = {0.0f, 0.0f, 0.0f, 0.0f};
  s.apply_bias_and_penalties(row, std::vector<int32_t>{0, 0, 1, 99, -5, 3, 1});
  EXPECT_EQ(row, (std::vector<float>{0.0f, -1.0f, 0.0f, -1.0f}));
}

TEST(Sampler, BiasIsAppliedBeforePenalties) {
  SamplingParams p = plain(0.0f);
  p.repetition_penalty = 2.0f;
  p.logit_bias = {{1, 2.0f}, {2, -1.0f}};
  Sampler s(p, 3);
  std::vector<float> row = {0.0f, -1.0f, 4.0f};
  s.apply_bias_and_penalties(row, std::vector<int32_t>{1});
  // token 1: (-1 + 2) / 2; penalizing first would give -1 * 2 + 2 = 0. Token 2 is only biased.
  EXPECT_EQ(row, (std::vector<float>{0.0f, 0.5f, 3.0f}));
}

TEST(Sampler, PenaltyChangesTheGreedyChoice) {
  SamplingParams p = plain(0.0f);
  p.repetition_penalty = 1.5f;
  Sampler s(p, 3);
  std::vector<float> row = {2.0f, 1.5f, 0.0f};
  EXPECT_EQ(s.sample(row, std::vector<int32_t>{0}), 1);  // 2 / 1.5 < 1.5
}

TEST(Sampler, NegativeInfinityBiasBansAToken) {
  const std::vector<float> logits = {5.0f, 4.9f, 0.0f};
  SamplingParams greedy = plain(0.0f);
  greedy.logit_bias = {{0, -kInf}};
  Sampler g(greedy, 3);
  EXPECT_EQ(distinct(draw_many(g, logits, 10)), std::set<int32_t>{1});

  SamplingParams sampled = plain(1.0f);
  sampled.logit_bias = {{0, -kInf}};
  Sampler s(sampled, 3);
  EXPECT_FALSE(distinct(draw_many(s, logits, 2000)).contains(0));

  // A ban holds even against a +inf logit.
  Sampler s2(sampled, 3);
  std::vector<float> row = {kInf, 1.0f, 0.0f};
  EXPECT_NE(s2.sample(row, {}), 0);
}

TEST(Sampler, NonFiniteLogitsDoNotCrash) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float temperature : {0.0f, 1.0f}) {
    SCOPED_TRACE(temperature);
    Sampler s(plain(temperature), 4);
    std::vector<float> row = {nan, 1.0f, nan, 0.5f};
    EXPECT_TRUE(distinct(draw_many(s, row, 200)).contains(1));
    for (int32_t t : draw_many(s, row, 200)) EXPECT_TRUE(t == 1 || t == 3);

    // +inf tokens share the mass; nothing else can be drawn.
    row = {0.0f, kInf, 3.0f, kInf};
    auto inf_draws = distinct(draw_many(s, row, 200));
    if (temperature == 0.0f) {
      EXPECT_EQ(inf_draws, std::set<int32_t>{1});
    } else {
      EXPECT_EQ(inf_draws, (std::set<int32_t>{1, 3}));
    }

    row = {nan, nan, nan, nan};
    EXPECT_EQ(s.sample(row, {}), 0);
    row = {-kInf, -kInf, -kInf, -kInf};
    EXPECT_EQ(s.sample(row, {}), 0);
  }
}

TEST(Sampler, AllBannedFallsBackToTheOriginalArgmax) {
  for (float temperature : {0.0f, 1.0f}) {
    SamplingParams p = plain(temperature);
    p.logit_bias = {{0, -kInf}, {1, -kInf}, {2, -kInf}, {1, 2.0f}};
    p.presence_penalty = 1.0f;
    Sampler s(p, 3);
    std::vector<float> row = {0.5f, 2.0f, 1.0f};
    EXPECT_EQ(s.sample(row, std::vector<int32_t>{1, 2}), 1);
  }
}

TEST(Sampler, LargeVocabularyNucleusWithoutTopK) {
  // Exercises the chunked partial sort: a flat tail of 262144 tokens with a nucleus of ~300.
  constexpr int32_t kVocab = 262144;
  std::vector<float> logits(kVocab, 0.0f);
  for (int32_t i = 0; i < 300; ++i) logits[static_cast<size_t>(i * 811)] = 10.0f;
  SamplingParams p = plain(1.0f, 3);
  p.top_p = 0.9f;
  p.min_p = 0.0f;
  Sampler s(p, kVocab);
  // The 300 peaks hold 300e^10 / (300e^10 + 261844) ~ 0.96 of the mass, so the nucleus of 0.9
  // holds only peaks.
  for (int32_t t : draw_many(s, logits, 50)) EXPECT_EQ(t % 811, 0) << t;
}

// The pipeline exactly as documented, with a full sort and no shortcuts; it shares only the RNG
// recipe and the weight formula with Sampler, so equal draws check the filter shortcuts (min-p
// first, the top-p bound, chunked sorting) and the canonical draw order.
int32_t reference_sample(const std::vector<float>& logits, const SamplingParams& p,
                         std::mt19937_64& rng) {
  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  const auto n = static_cast<int32_t>(order.size());
  if (p.top_k > 0 && p.top_k < n) order.resize(static_cast<size_t>(p.top_k));
  const double max_logit = logits[order[0]];
  std::vector<float> w(logits.size(), 0.0f);
  double total = 0;
  for (int32_t id : order) {
    w[id] = std::exp(static_cast<float>((logits[id] - max_logit) / double{p.temperature}));
    total += w[id];
  }
  if (p.top_p < 1) {
    double mass = 0;
    size_t keep = 0;
    while (keep < order.size() && mass < p.top_p * total) mass += w[order[keep++]];
    order.resize(keep);
  }
  std::erase_if(order, [&](int32_t id) { return w[id] < p.min_p; });  // p / p_max == w
  // Survivors are walked in probability order once top-k or top-p sorted them, else by id.
  if (!((p.top_k > 0 && p.top_k < n) || p.top_p < 1)) std::sort(order.begin(), order.end());
  double kept = 0;
  for (int32_t id : order) kept += w[id];
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * kept;
  double cumulative = 0;
  for (int32_t id : order) {
    cumulative += w[id];
    if (u < cumulative) return id;
  }
  return order.back();
}

TEST(Sampler, MatchesAStraightforwardReference) {
  std::mt19937_64 gen(2024);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  struct Case {
    int32_t top_k;
    float top_p, min_p, temperature;
  };
  const Case cases[] = {{0, 1.0f, 0.0f, 1.0f},    {40, 0.95f, 0.05f, 0.8f}, {0, 0.95f, 0.0f, 1.5f},
                        {0, 0.5f, 0.0f, 0.7f},    {0, 1.0f, 0.1f, 1.0f},    {100, 1.0f, 0.0f, 1.0f},
                        {500, 0.99f, 0.0f, 2.0f}, {0, 0.9f, 0.01f, 3.0f}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "top_k=" << c.top_k << " top_p=" << c.top_p
                                      << " min_p=" << c.min_p << " T=" << c.temperature);
    std::vector<float> logits(5000);
    for (float& l : logits) l = normal(gen);
    SamplingParams p = plain(c.temperature, 99);
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    Sampler s(p, static_cast<int32_t>(logits.size()));
    std::mt19937_64 rng(p.seed);
    for (int i = 0; i < 100; ++i) {
      std::vector<float> row = logits;
      ASSERT_EQ(s.sample(row, {}), reference_sample(logits, p, rng)) << "draw " << i;
    }
  }
}

TEST(Validate, AcceptsDefaultsAndRejectsBadParams) {
  EXPECT_TRUE(validate(SamplingParams{}, 100).ok());
  EXPECT_TRUE(validate(plain(0.0f), 100).ok());

  const auto message = [](auto mutate, int32_t n_vocab = 100) {
    SamplingParams p;
    mutate(p);
    const Status st = validate(p, n_vocab);
    return st.ok() ? std::string("<ok>") : st.error().message;
  };
  const auto has = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(message([](SamplingParams&) {}, 0), "vocabulary size"));
  EXPECT_TRUE(has(message([](SamplingParams& p) { p.temperature = -0.5f; }), "temperature"));
  EXPECT_TRUE(has(message([](SamplingParams& p) { p.temperature = NAN; }), "temperature"));
  EXPECT_TRUE(has(message([](SamplingParams& p) { p.top_p = 0.0f; }), "top_p"));
  EXPECT_TRUE(has(message([](SamplingParams& p) { p.top_p = 1.5f; }), "top_p"));
  EXPECT_TRUE(has(message([](SamplingParams& p) { p.min_p = -0.1f; }), "min_p"));
  EXPECT_TRUE(has(message([](SamplingParams& p) { p.min_p = 1.1f; }), "min_p"));
  EXPECT_TRUE(
      has(message([](SamplingParams& p) { p.repetition_penalty = 0.0f; }), "repetition_penalty"));
  EXPECT_TRUE(
      has(message([](SamplingParams& p) { p.repetition_penalty = kInf; }), "repetition_penalty"));
  EXPECT_TRUE(has(message([](SamplingParams& p) { p.penalty_last_n = -1; }), "penalty_last_n"));
  EXPECT_TRUE(
      has(message([](SamplingParams& p) { p.presence_penalty = NAN; }), "presence_penalty"));
  EXPECT_TRUE(
      has(message([](SamplingParams& p) { p.frequency_penalty = -kInf; }), "frequency_penalty"));
  EXPECT_TRUE(has(message([](SamplingParams& p) {
                    p.logit_bias = {{100, 1.0f}};
                  }),
                  "token id 100 is outside"));
  EXPECT_TRUE(has(message([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; }), "logit_bias"));
  EXPECT_TRUE(has(message([](SamplingParams& p) {
                    p.logit_bias = {{3, kInf}};
                  }),
                  "finite or -inf"));
  EXPECT_EQ(message([](SamplingParams& p) { p.logit_bias = {{3, -kInf}}; }), "<ok>");
  EXPECT_EQ(message([](SamplingParams& p) { p.top_k = -5; }), "<ok>");  // disabled, not invalid
}

}  // namespace
}  // namespace tmill::engine
