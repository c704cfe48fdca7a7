#include "server/metrics_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tmill::server {
namespace {

// The shortest decimal that reads back as the same double (so bucket labels read "0.005", not
// "0.0050000000000000001").
std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[40];
  if (std::floor(v) == v && std::fabs(v) < 1e15) {  // counts: plain integers, never 1e+02
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void histogram(std::string& out, const char* name, const engine::Histogram& h, const char* help) {
  const std::string full = std::string("tokenmill_") + name;
  header(out, full, "histogram", help);
  for (size_t i = 0; i < h.bounds.size() && i < h.counts.size(); ++i)
    out += full + "_bucket{le=\"" + format_number(h.bounds[i]) + "\"} " +
           std::to_string(h.counts[i]) + "\n";
  out += full + "_bucket{le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  out += full + "_sum " + format_number(h.sum) + "\n";
  out += full + "_count " + std::to_string(h.count) + "\n";
}

// Tenant names are restricted to [A-Za-z0-9._-] by the key store, but escape anyway: a label
// value must never break the exposition format.
std::string label_value(const std::string& tenant) {
  if (tenant.empty()) return "default";
  std::string out;
  for (char c : tenant) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void tenant_counters(std::string& out, const std::map<std::string, engine::TenantUsage>& tenants) {
  struct Series {
    const char* name;
    const char* help;
    double (*value)(const engine::TenantUsage&);
  };
  static constexpr Series kSeries[] = {
      {"tenant_requests_total", "Finished requests per tenant.",
       [](const engine::TenantUsage& t) { return static_cast<double>(t.requests); }},
      {"tenant_prompt_tokens_total", "Prompt tokens of finished requests per tenant.",
       [](const engine::TenantUsage& t) { return static_cast<double>(t.prompt_tokens); }},
      {"tenant_generation_tokens_total", "Generated tokens of finished requests per tenant.",
       [](const engine::TenantUsage& t) { return static_cast<double>(t.completion_tokens); }},
      {"tenant_cost_usd_total", "Hardware cost attributed to the tenant's finished requests.",
       [](const engine::TenantUsage& t) { return t.cost_usd; }},
      {"tenant_energy_joules_total", "Energy attributed to the tenant's finished requests.",
       [](const engine::TenantUsage& t) { return t.energy_j; }},
  };
  for (const Series& series : kSeries) {
    const std::string full = std::string("tokenmill_") + series.name;
    header(out, full, "counter", series.help);
    for (const auto& [tenant, usage] : tenants)
      out += full + "{tenant=\"" + label_value(tenant) + "\"} " +
             format_number(series.value(usage)) + "\n";
  }
}

}  // namespace

void append_prometheus_scalar(std::string& out, const char* type, const char* name, double value,
                              const char* help) {
  const std::string full = std::string("tokenmill_") + name;
  header(out, full, type, help);
  out += full + " " + format_number(value) + "\n";
}

void HttpCounters::count_response(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++responses_[status];
}

std::map<int, uint64_t> HttpCounters::responses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return responses_;
}

std::string prometheus_text(const engine::MetricsSnapshot& m,
                            const std::map<int, uint64_t>& http_responses) {
  std::string out;
  header(out, "tokenmill_requests_total", "counter",
         "Generation requests by final status (ok, cancelled, error, rejected_*).");
  // Statuses always present, so a dashboard sees zeros rather than missing series.
  std::map<std::string, uint64_t> requests = m.requests;
  for (const char* s :
       {"ok", "cancelled", "error", "rejected_queue_full", "rejected_too_long", "rejected_invalid"})
    requests.emplace(s, 0);
  for (const auto& [status, count] : requests)
    out += "tokenmill_requests_total{status=\"" + status + "\"} " + std::to_string(count) + "\n";

  append_prometheus_scalar(out, "counter", "prompt_tokens_total",
                           static_cast<double>(m.prompt_tokens),
                           "Prompt tokens of finished requests.");
  append_prometheus_scalar(out, "counter", "prompt_tokens_cached_total",
                           static_cast<double>(m.prompt_tokens_cached),
                           "Prompt tokens whose KV came from the prefix cache.");
  append_prometheus_scalar(out, "counter", "generation_tokens_total",
                           static_cast<double>(m.generation_tokens),
                           "Generated tokens, all choices.");
  append_prometheus_scalar(out, "counter", "prefix_cache_hits_total",
                           static_cast<double>(m.prefix_cache_hits),
                           "Prompt KV blocks found in the prefix cache at admission.");
  append_prometheus_scalar(out, "counter", "prefix_cache_misses_total",
                           static_cast<double>(m.prefix_cache_misses),
                           "Full prompt KV blocks looked up in the prefix cache and not found.");
  append_prometheus_scalar(
      out, "counter", "preemptions_total", static_cast<double>(m.preemptions),
      "Sequences preempted (KV freed, recomputed later) because blocks ran out.");
  append_prometheus_scalar(out, "counter", "engine_steps_total", static_cast<double>(m.steps),
                           "Engine steps (one batched forward pass each).");
  append_prometheus_scalar(out, "gauge", "queue_length", static_cast<double>(m.queue_length),
                           "Requests waiting for admission.");
  append_prometheus_scalar(out, "gauge", "running_sequences",
                           static_cast<double>(m.running_sequences),
                           "Sequences admitted and not finished (including preempted ones).");
  append_prometheus_scalar(out, "gauge", "kv_blocks_total", static_cast<double>(m.kv_blocks_total),
                           "KV cache blocks in the pool.");
  append_prometheus_scalar(out, "gauge", "kv_blocks_used", static_cast<double>(m.kv_blocks_used),
                           "KV cache blocks referenced by a sequence.");
  append_prometheus_scalar(out, "gauge", "kv_blocks_free", static_cast<double>(m.kv_blocks_free),
                           "KV cache blocks not referenced by a sequence (cached ones included).");
  append_prometheus_scalar(out, "gauge", "kv_blocks_cached",
                           static_cast<double>(m.kv_blocks_cached),
                           "Free KV cache blocks that still hold a reusable prefix.");
  histogram(out, "time_to_first_token_seconds", m.ttft_seconds,
            "Time from submission to the first generated token.");
  histogram(out, "time_per_output_token_seconds", m.tpot_seconds,
            "Per request: (e2e - ttft) / (completion tokens - 1).");
  histogram(out, "e2e_request_latency_seconds", m.e2e_seconds,
            "Time from submission to the request's end.");
  histogram(out, "batch_tokens", m.batch_tokens, "Tokens per engine step.");
  histogram(out, "batch_sequences", m.batch_sequences, "Sequences per engine step.");

  append_prometheus_scalar(out, "counter", "engine_busy_seconds_total", m.busy_seconds,
                           "Wall time the engine spent in forward passes.");
  append_prometheus_scalar(out, "counter", "cost_usd_total", m.cost_usd,
                           "Hardware cost of the engine's steps at the price sheet's hourly rate.");
  append_prometheus_scalar(out, "counter", "energy_joules_total", m.energy_j,
                           "Energy of the engine's steps under the price sheet's power model.");
  tenant_counters(out, m.tenants);

  header(out, "tokenmill_http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [code, count] : http_responses)
    out += "tokenmill_http_responses_total{code=\"" + std::to_string(code) + "\"} " +
           std::to_string(count) + "\n";
  return out;
}

}  // namespace tmill::server
