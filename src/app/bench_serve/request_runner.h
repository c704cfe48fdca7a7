// Sends one streaming request and times it from its SSE chunks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/bench_serve/http_client.h"
#include "app/bench_serve/workload.h"

namespace tmill::app::bench_serve {

struct RequestResult {
  bool ok = false;
  std::string error;       // why it failed (HTTP status and body, transport error, stream error)
  int32_t prompt_len = 0;  // as planned
  int32_t max_tokens = 0;
  double start_s = 0;         // when it was sent, from the start of the run
  double ttft_s = -1;         // to the first chunk with text
  double e2e_s = 0;           // to the end of the stream
  std::vector<double> itl_s;  // gaps between successive chunks with text
  // From the usage chunk; without one, output_tokens counts chunks with text.
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t output_tokens = 0;
  bool usage_seen = false;

  // (e2e - ttft) / (output_tokens - 1); < 0 when there is no second token to time.
  double tpot_s() const {
    return output_tokens > 1 ? (e2e_s - ttft_s) / static_cast<double>(output_tokens - 1) : -1;
  }
};

RequestResult run_request(HttpClient& client, const PlannedRequest& req, const Options& opts,
                          const std::string& model, double run_start_s);

}  // namespace tmill::app::bench_serve
