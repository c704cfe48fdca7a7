// Token sampling: turns one row of logits into a token id.
//
// Pipeline, in this order: logit bias -> penalties over the recent history -> greedy argmax when
// temperature is 0, otherwise temperature -> top-k -> softmax -> top-p -> min-p -> renormalize ->
// draw. The draw is reproducible across compilers and standard libraries: the RNG is
// std::mt19937_64 (fully specified by the standard), the uniform variate is built from its bits by
// hand, and the survivors are walked in a canonical order.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "core/expected.h"

namespace tmill::engine {

struct SamplingParams {
  float temperature = 0.8f;  // 0 means greedy (argmax; ties -> lowest id); < 0 is invalid
  int32_t top_k = 40;        // <= 0 disables
  float top_p = 0.95f;       // in (0, 1]; 1 disables
  float min_p = 0.05f;       // in [0, 1]; 0 disables; keeps tokens with p >= min_p * p_max
  // llama.cpp/CTRL style, once per distinct token in the window: logit > 0 ? logit / p : logit * p.
  float repetition_penalty = 1.0f;
  int32_t penalty_last_n = 64;     // window of history the penalties look at; 0 disables them
  float presence_penalty = 0.0f;   // OpenAI: logit -= presence * (count > 0)
  float frequency_penalty = 0.0f;  // OpenAI: logit -= frequency * count
  std::vector<std::pair<int32_t, float>> logit_bias;  // added before everything else; -inf bans
  uint64_t seed = 0;
};

// Checks user-supplied parameters; the message names the offending field and value.
Status validate(const SamplingParams& params, int32_t n_vocab);

class Sampler {
 public:
  // `params` must have passed validate() for this n_vocab (checked; a violation aborts).
  Sampler(SamplingParams params, int32_t n_vocab);

  // logits: one row of n_vocab floats, used as scratch (its contents on return are unspecified).
  // history: tokens the penalties may look at (generated tokens, and prompt tokens if the caller
  // wants them penalized); only the last penalty_last_n count, ids outside the vocab are ignored.
  // NaN logits count as -inf. If every token ends up at -inf (e.g. all banned), returns the argmax
  // of the original row, or 0 when that row has no finite value either.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);

  // The first two stages of sample(), in place. Public so callers can inspect the adjusted row
  // (e.g. to report post-penalty logprobs) and so tests can check the arithmetic exactly.
  void apply_bias_and_penalties(std::span<float> logits, std::span<const int32_t> history);

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float weight;  // exp((logit - max) / temperature); the most likely token has exactly 1
  };

  int32_t draw(std::span<const float> logits);
  double uniform();  // in [0, 1) with 53 random bits

  SamplingParams params_;
  int32_t n_vocab_;
  bool penalties_active_;
  std::mt19937_64 rng_;
  // Buffers sized once so that sample() never allocates.
  std::vector<Candidate> candidates_;
  std::vector<int32_t> counts_;  // per-token occurrences in the window; all zero between calls
  // (id, value before the change) for every logit the bias/penalty stage touched, so the
  // all-banned fallback can recover the original row.
  std::vector<std::pair<int32_t, float>> touched_;
};

}  // namespace tmill::engine
