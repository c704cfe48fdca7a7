// Counters and histograms the engine keeps for /metrics. Written by the engine thread (and by
// submit() for admission outcomes), read by HTTP threads through snapshot(); all members are
// guarded by one mutex, taken once per step, so the cost is negligible next to a forward pass.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tmill::engine {

// Prometheus-style cumulative histogram: counts[i] = observations <= bounds[i]; the +Inf bucket
// is `count`.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  uint64_t count = 0;
  double sum = 0;

  explicit Histogram(std::vector<double> upper_bounds = {})
      : bounds(std::move(upper_bounds)), counts(bounds.size(), 0) {}
  void observe(double value) {
    for (size_t i = 0; i < bounds.size(); ++i)
      if (value <= bounds[i]) ++counts[i];
    ++count;
    sum += value;
  }
};

// Per tenant ("" is the default tenant), over finished requests.
struct TenantUsage {
  uint64_t requests = 0;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  double cost_usd = 0;
  double energy_j = 0;
};

struct MetricsSnapshot {
  // Requests by final status: "ok" (stop/length), "cancelled", "error", "rejected_queue_full",
  // "rejected_too_long", "rejected_invalid".
  std::map<std::string, uint64_t> requests;
  uint64_t prompt_tokens = 0;         // prompt tokens of finished requests
  uint64_t prompt_tokens_cached = 0;  // of which served from the prefix cache
  uint64_t generation_tokens = 0;     // generated tokens (all choices)
  Histogram ttft_seconds;             // submit -> first generated token committed
  Histogram tpot_seconds;             // per request: (e2e - ttft) / (completion_tokens - 1)
  Histogram e2e_seconds;              // submit -> finished
  Histogram batch_tokens;             // tokens per engine step
  Histogram batch_sequences;          // sequences per engine step
  uint64_t queue_length = 0;          // waiting, not yet admitted
  uint64_t running_sequences = 0;     // admitted and not finished (incl. preempted)
  uint64_t kv_blocks_total = 0;
  uint64_t kv_blocks_used = 0;       // referenced by a sequence
  uint64_t kv_blocks_cached = 0;     // free, but holding a reusable prefix (evictable)
  uint64_t kv_blocks_free = 0;       // total - used (cached ones count as free: they are evictable)
  uint64_t prefix_cache_hits = 0;    // blocks found in the cache at admission
  uint64_t prefix_cache_misses = 0;  // full prompt blocks looked up and not found
  uint64_t preemptions = 0;
  uint64_t steps = 0;
  double busy_seconds = 0;  // wall time spent in steps
  double cost_usd = 0;      // attributed to requests (all steps)
  double energy_j = 0;
  std::map<std::string, TenantUsage> tenants;
};

}  // namespace tmill::engine
