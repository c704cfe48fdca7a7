// Drives the requests: closed loop (a fixed number in flight, each worker sending its next
// request as soon as the previous one ends) or open loop (each request sent at its planned
// Poisson arrival time, however many are still in flight).
#pragma once

#include <string>
#include <vector>

#include "app/bench_serve/request_runner.h"

namespace tmill::app::bench_serve {

struct LoadOutcome {
  std::vector<RequestResult> results;  // in plan order
  double duration_s = 0;               // first send to last completion
};

// Progress goes to stderr (a line every few seconds) unless quiet.
LoadOutcome run_load(const Options& opts, const Url& url, const std::string& model,
                     const std::vector<PlannedRequest>& plan, bool quiet);

}  // namespace tmill::app::bench_serve
