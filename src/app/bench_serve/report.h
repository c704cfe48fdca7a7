// Turns per-request timings into the benchmark's summary: latency percentiles, throughput and
// goodput, printed as a table for people or as JSON lines for scripts.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/bench_serve/load.h"

namespace tmill::app::bench_serve {

struct Percentiles {
  size_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;  // milliseconds
};

// Linear interpolation between closest ranks (numpy's default), on seconds; reported in ms.
Percentiles percentiles_ms(std::vector<double> seconds);

// The summary as one JSON object (a stable contract for bench/compare-serve):
//   {"type": "summary", "requests", "completed", "failed", "duration_s", "request_throughput",
//    "output_throughput", "total_input_tokens", "total_output_tokens", "cached_tokens",
//    "early_stops", "ttft_ms": {"mean","p50","p90","p99","max"}, "tpot_ms": {...},
//    "itl_ms": {...}, "e2e_ms": {...}, "slo_ttft_ms", "slo_tpot_ms", "good_requests",
//    "goodput", "good_fraction", and the run's settings}
nlohmann::json summarize(const Options& opts, const std::string& model, const LoadOutcome& load);

// One JSON object per request ({"type": "request", ...}) for --per-request.
nlohmann::json request_json(size_t index, const RequestResult& r);

std::string format_table(const nlohmann::json& summary);

}  // namespace tmill::app::bench_serve
