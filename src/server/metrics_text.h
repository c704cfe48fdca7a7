// /metrics: the engine's MetricsSnapshot and the HTTP layer's own counters in the Prometheus
// text exposition format (version 0.0.4), every name prefixed tokenmill_.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "engine/metrics.h"

namespace tmill::server {

// Responses written, by HTTP status code. Thread-safe; one lock per response.
class HttpCounters {
 public:
  void count_response(int status);
  std::map<int, uint64_t> responses() const;

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> responses_;
};

// Appends one series "tokenmill_<name> <value>" with its HELP and TYPE lines (for metrics that
// other layers add to /metrics, such as AccessControl::metrics_text).
void append_prometheus_scalar(std::string& out, const char* type, const char* name, double value,
                              const char* help);

std::string prometheus_text(const engine::MetricsSnapshot& engine,
                            const std::map<int, uint64_t>& http_responses);

}  // namespace tmill::server
