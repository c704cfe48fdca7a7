// Options of `tokenmill bench-serve` and the small parsers behind them (length distributions).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "core/expected.h"

namespace tmill::app::bench_serve {

// A token-count distribution: "128" is always 128, "64:256" is uniform over [64, 256].
struct LengthDist {
  int32_t lo = 128;
  int32_t hi = 128;

  int32_t sample(std::mt19937_64& rng) const {
    if (lo == hi) return lo;
    return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
  }
};

// `what` names the option in the error message.
Expected<LengthDist> parse_length_dist(std::string_view text, std::string_view what,
                                       int32_t min_value);

enum class Api { Completions, Chat };

struct Options {
  std::string url;
  std::string api_key;  // --api-key, else $OPENAI_API_KEY
  std::string model;    // empty: the first model GET /v1/models lists
  Api api = Api::Completions;
  int32_t concurrency = 1;  // closed loop: this many requests in flight at all times
  double rate = 0;          // > 0: open loop, Poisson arrivals at this many requests/s
  int32_t requests = 64;
  int32_t warmup = 0;  // requests sent (closed loop, one at a time) before measuring
  LengthDist prompt_len{128, 128};
  LengthDist output_len{128, 128};
  int32_t shared_prefix_len = 0;
  double slo_ttft_ms = 0;  // 0: no SLO on that metric
  double slo_tpot_ms = 0;
  uint64_t seed = 1;
  bool json = false;
  bool per_request = false;
  bool text_prompts = false;  // completions: random words instead of token ids
  int32_t token_lo = 1000;    // token-id prompts draw ids from [token_lo, token_hi)
  int32_t token_hi = 30000;
  bool ignore_eos = true;
  double timeout_s = 600;
};

}  // namespace tmill::app::bench_serve
