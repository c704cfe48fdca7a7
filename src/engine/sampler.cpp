#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "core/check.h"

namespace tmill::engine {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Index of the largest value, ties -> lowest id; -1 if nothing beats -inf. The strict `>` makes
// NaN and -inf lose every comparison, which is exactly "NaN counts as -inf".
int32_t argmax(std::span<const float> row) {
  int32_t best = -1;
  float best_value = -kInf;
  for (size_t i = 0; i < row.size(); ++i) {
    if (row[i] > best_value) {
      best_value = row[i];
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

}  // namespace

Status validate(const SamplingParams& p, int32_t n_vocab) {
  if (n_vocab <= 0) return fail("sampling: vocabulary size must be positive (got ", n_vocab, ")");
  if (!std::isfinite(p.temperature) || p.temperature < 0)
    return fail("sampling: temperature must be a finite number >= 0 (got ", p.temperature, ")");
  if (!(p.top_p > 0 && p.top_p <= 1))  // written so NaN fails too
    return fail("sampling: top_p must be in (0, 1] (got ", p.top_p, ")");
  if (!(p.min_p >= 0 && p.min_p <= 1))
    return fail("sampling: min_p must be in [0, 1] (got ", p.min_p, ")");
  if (!std::isfinite(p.repetition_penalty) || p.repetition_penalty <= 0)
    return fail("sampling: repetition_penalty must be a finite number > 0 (got ",
                p.repetition_penalty, ")");
  if (p.penalty_last_n < 0)
    return fail("sampling: penalty_last_n must be >= 0 (got ", p.penalty_last_n, ")");
  if (!std::isfinite(p.presence_penalty))
    return fail("sampling: presence_penalty must be finite (got ", p.presence_penalty, ")");
  if (!std::isfinite(p.frequency_penalty))
    return fail("sampling: frequency_penalty must be finite (got ", p.frequency_penalty, ")");
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= n_vocab)
      return fail("sampling: logit_bias token id ", id, " is outside the vocabulary [0, ", n_vocab,
                  ")");
    // -inf is the documented way to ban a token; +inf or NaN would poison the softmax.
    if (std::isnan(bias) || bias == kInf)
      return fail("sampling: logit_bias for token ", id, " must be finite or -inf (got ", bias,
                  ")");
  }
  return Status::success();
}

Sampler::Sampler(SamplingParams params, int32_t n_vocab)
    : params_(std::move(params)), n_vocab_(n_vocab), rng_(params_.seed) {
  TM_CHECK(validate(params_, n_vocab_).ok(), "Sampler built from parameters that fail validate()");
  penalties_active_ = params_.penalty_last_n > 0 &&
                      (params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                       params_.frequency_penalty != 0.0f);
  candidates_.resize(static_cast<size_t>(n_vocab_));
  size_t max_touched = params_.logit_bias.size();
  if (penalties_active_) {
    counts_.assign(static_cast<size_t>(n_vocab_), 0);
    // The window holds at most this many distinct tokens.
    max_touched += static_cast<size_t>(std::min(params_.penalty_last_n, n_vocab_));
  }
  touched_.reserve(max_touched);
}

void Sampler::apply_bias_and_penalties(std::span<float> logits, std::span<const int32_t> history) {
  TM_CHECK(logits.size() == static_cast<size_t>(n_vocab_), "logits row is not n_vocab long");
  touched_.clear();
  for (const auto& [id, bias] : params_.logit_bias) {
    float& l = logits[static_cast<size_t>(id)];
    touched_.emplace_back(id, l);
    // Assigning rather than adding keeps a ban a ban even on a +inf logit (inf + -inf is NaN).
    l = bias == -kInf ? -kInf : l + bias;
  }
  if (!penalties_active_) return;

  const size_t window = std::min(history.size(), static_cast<size_t>(params_.penalty_last_n));
  const auto recent = history.last(window);
  for (int32_t t : recent)
    if (t >= 0 && t < n_vocab_) ++counts_[static_cast<size_t>(t)];
  // Second pass: the first visit of each distinct token applies its penalty and zeroes its count,
  // which both applies each token once and leaves counts_ clean for the next call.
  const float rep = params_.repetition_penalty;
  for (int32_t t : recent) {
    if (t < 0 || t >= n_vocab_ || counts_[static_cast<size_t>(t)] == 0) continue;
    const int32_t count = std::exchange(counts_[static_cast<size_t>(t)], 0);
    float& l = logits[static_cast<size_t>(t)];
    touched_.emplace_back(t, l);
    l = l > 0 ? l / rep : l * rep;
    l -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
  }
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  apply_bias_and_penalties(logits, history);
  const int32_t token = params_.temperature <= 0 ? argmax(logits) : draw(logits);
  if (token >= 0) return token;
  // Every token is at -inf: rather than fail, undo the bias/penalties (in reverse, so a token
  // touched twice gets its first-recorded, original value) and take the original argmax.
  for (auto it = touched_.rbegin(); it != touched_.rend(); ++it)
    logits[static_cast<size_t>(it->first)] = it->second;
  return std::max(argmax(logits), 0);
}

int32_t Sampler::draw(std::span<const float> logits) {
  // Gather the tokens with non-zero probability. +inf is clamped to the largest float so that
  // several +inf logits share the mass equally instead of producing inf - inf = NaN.
  Candidate* const first = candidates_.data();
  Candidate* last = first;
  float max_logit = -kInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = std::min(logits[i], std::numeric_limits<float>::max());
    if (!(l > -kInf)) continue;  // -inf or NaN
    *last++ = {static_cast<int32_t>(i), l, 0.0f};
    max_logit = std::max(max_logit, l);
  }
  if (last == first) return -1;

  // Higher probability first; the id tiebreak makes this a strict total order, so every sort
  // below has a unique result regardless of the standard library. The survivors are always either
  // still in vocabulary order or sorted by_prob, and the draw walks them in that order; both are
  // reproducible, which std::nth_element's or std::partition's leftovers would not be.
  const auto by_prob = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  bool sorted = false;

  // top-k: a heap selection, O(n log k), which also leaves the k survivors in order.
  if (params_.top_k > 0 && params_.top_k < last - first) {
    std::partial_sort(first, first + params_.top_k, last, by_prob);
    last = first + params_.top_k;
    sorted = true;
  }

  // Softmax numerators. The scaled difference is formed in double so a tiny temperature sends far
  // logits to -inf (weight exactly 0) instead of overflowing; exp itself only needs float.
  const double inv_temperature = 1.0 / params_.temperature;
  double total = 0;  // the softmax denominator over the top-k set, for top-p
  for (Candidate* c = first; c != last; ++c) {
    c->weight = std::exp(static_cast<float>((double{c->logit} - max_logit) * inv_temperature));
    total += c->weight;
  }

  // Two O(n) filters before any sorting, in one order-preserving compaction.
  // min-p: it runs before top-p here although the pipeline lists it after, which gives the same
  // result: both keep a prefix of the by_prob order, and min-p's threshold is relative to p_max so
  // renormalization does not move it; the result is the shorter prefix either way.
  // A bound for top-p: a token of weight w has at most n * w of mass at or behind it, so if that
  // is below (1 - top_p) of the total, the tokens ahead of it already reach top_p. On flat
  // distributions this drops most of the vocabulary before top-p has to sort.
  const double min_weight = params_.min_p;  // p / p_max == weight, since w_max == 1
  const double tail_bound = (1.0 - params_.top_p) * total;
  const auto n = static_cast<double>(last - first);
  if (min_weight > 0 || tail_bound > 0) {
    Candidate* out = first;
    for (Candidate* c = first; c != last; ++c)
      if (c->weight >= min_weight && c->weight * n >= tail_bound) *out++ = *c;
    last = out;
  }

  // top-p: the smallest prefix whose mass reaches top_p (of the top-k total, not of what the
  // filters above left). Unless top-k already sorted everything, sort in doubling chunks so a
  // peaked distribution over a 262k vocabulary sorts only a few dozen candidates.
  if (params_.top_p < 1) {
    const double target = params_.top_p * total;
    Candidate* sorted_end = sorted ? last : first;  // [first, sorted_end) is final and >= the rest
    Candidate* kept_end = first;
    double mass = 0;
    for (ptrdiff_t chunk = 64; kept_end != last && mass < target; ++kept_end) {
      if (kept_end == sorted_end) {
        // Select then sort rather than std::partial_sort: its heap is slow once chunks grow
        // into the thousands, as they do for flat distributions.
        sorted_end += std::min(chunk, last - sorted_end);
        if (sorted_end != last) std::nth_element(kept_end, sorted_end, last, by_prob);
        std::sort(kept_end, sorted_end, by_prob);
        chunk *= 2;
      }
      mass += kept_end->weight;
    }
    last = kept_end;
  }

  // Renormalize implicitly: draw u in [0, kept mass) and walk the cumulative sum.
  double kept = 0;
  for (Candidate* c = first; c != last; ++c) kept += c->weight;
  const double u = uniform() * kept;
  double cumulative = 0;
  int32_t last_positive = first->id;  // the max has weight 1, so some candidate is positive
  for (Candidate* c = first; c != last; ++c) {
    if (c->weight <= 0) continue;
    cumulative += c->weight;
    last_positive = c->id;
    if (u < cumulative) return c->id;
  }
  return last_positive;  // u rounded up to `kept`
}

double Sampler::uniform() {
  // Top 53 bits -> [0, 1) exactly representable; std::uniform_real_distribution is
  // implementation-defined and would make seeds non-portable.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

}  // namespace tmill::engine
