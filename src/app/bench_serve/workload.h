// The requests a benchmark run sends: prompt lengths, output lengths and arrival times drawn
// from the seeded distributions, the prompts themselves, and their JSON bodies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/bench_serve/options.h"

namespace tmill::app::bench_serve {

struct PlannedRequest {
  std::vector<int32_t> prompt_ids;  // token-id prompts (completions, default)
  std::string prompt_text;          // word prompts (chat, or completions with --text-prompts)
  int32_t prompt_len = 0;           // intended prompt tokens (exact for ids, approximate for words)
  int32_t max_tokens = 0;
  double arrival_s = 0;  // open loop: offset from the start of the run; closed loop: 0
};

// Everything is drawn from opts.seed, so two runs (or two servers) get the same requests.
// With a shared prefix, every prompt is the same prefix followed by its own random part.
std::vector<PlannedRequest> plan_requests(const Options& opts, int32_t count, uint64_t seed);

std::string request_path(const Options& opts);  // /v1/completions or /v1/chat/completions
std::string request_body(const PlannedRequest& req, const Options& opts, const std::string& model);

}  // namespace tmill::app::bench_serve
