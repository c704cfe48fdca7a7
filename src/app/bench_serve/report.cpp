#include "app/bench_serve/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace tmill::app::bench_serve {
namespace {

nlohmann::json to_json(const Percentiles& p) {
  return {{"count", p.count}, {"mean", p.mean}, {"p50", p.p50},
          {"p90", p.p90},     {"p99", p.p99},   {"max", p.max}};
}

double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

bool meets_slos(const RequestResult& r, const Options& opts) {
  if (!r.ok) return false;
  if (opts.slo_ttft_ms > 0 && r.ttft_s * 1e3 > opts.slo_ttft_ms) return false;
  // A one-token answer has no time per output token and cannot miss that SLO.
  if (opts.slo_tpot_ms > 0 && r.tpot_s() >= 0 && r.tpot_s() * 1e3 > opts.slo_tpot_ms) return false;
  return true;
}

std::string dist_text(const LengthDist& d) {
  return d.lo == d.hi ? std::to_string(d.lo) : std::to_string(d.lo) + ":" + std::to_string(d.hi);
}

}  // namespace

Percentiles percentiles_ms(std::vector<double> seconds) {
  Percentiles p;
  p.count = seconds.size();
  if (seconds.empty()) return p;
  std::sort(seconds.begin(), seconds.end());
  double sum = 0;
  for (double s : seconds) sum += s;
  p.mean = sum / static_cast<double>(seconds.size()) * 1e3;
  p.p50 = quantile(seconds, 0.50) * 1e3;
  p.p90 = quantile(seconds, 0.90) * 1e3;
  p.p99 = quantile(seconds, 0.99) * 1e3;
  p.max = seconds.back() * 1e3;
  return p;
}

nlohmann::json summarize(const Options& opts, const std::string& model, const LoadOutcome& load) {
  std::vector<double> ttft, tpot, itl, e2e;
  int64_t completed = 0, in_tokens = 0, out_tokens = 0, cached = 0, early = 0, good = 0;
  for (const RequestResult& r : load.results) {
    if (!r.ok) continue;
    ++completed;
    in_tokens += r.prompt_tokens;
    out_tokens += r.output_tokens;
    cached += r.cached_tokens;
    if (r.output_tokens < r.max_tokens) ++early;
    ttft.push_back(r.ttft_s);
    if (r.tpot_s() >= 0) tpot.push_back(r.tpot_s());
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    e2e.push_back(r.e2e_s);
    if (meets_slos(r, opts)) ++good;
  }
  const double dur = load.duration_s > 0 ? load.duration_s : 1e-9;
  const auto n = static_cast<int64_t>(load.results.size());
  nlohmann::json s;
  s["type"] = "summary";
  s["url"] = opts.url;
  s["model"] = model;
  s["api"] = opts.api == Api::Chat ? "chat" : "completions";
  s["mode"] = opts.rate > 0 ? "poisson" : "closed";
  s["concurrency"] = opts.rate > 0 ? 0 : opts.concurrency;
  s["rate"] = opts.rate;
  s["prompt_len"] = dist_text(opts.prompt_len);
  s["output_len"] = dist_text(opts.output_len);
  s["shared_prefix_len"] = opts.shared_prefix_len;
  s["seed"] = opts.seed;
  s["requests"] = n;
  s["completed"] = completed;
  s["failed"] = n - completed;
  s["duration_s"] = load.duration_s;
  s["request_throughput"] = static_cast<double>(completed) / dur;
  s["output_throughput"] = static_cast<double>(out_tokens) / dur;
  s["total_input_tokens"] = in_tokens;
  s["total_output_tokens"] = out_tokens;
  s["cached_tokens"] = cached;
  s["early_stops"] = early;
  s["ttft_ms"] = to_json(percentiles_ms(ttft));
  s["tpot_ms"] = to_json(percentiles_ms(tpot));
  s["itl_ms"] = to_json(percentiles_ms(itl));
  s["e2e_ms"] = to_json(percentiles_ms(e2e));
  s["slo_ttft_ms"] = opts.slo_ttft_ms;
  s["slo_tpot_ms"] = opts.slo_tpot_ms;
  s["good_requests"] = good;
  s["goodput"] = static_cast<double>(good) / dur;
  s["good_fraction"] = n > 0 ? static_cast<double>(good) / static_cast<double>(n) : 0.0;
  return s;
}

nlohmann::json request_json(size_t index, const RequestResult& r) {
  nlohmann::json j;
  j["type"] = "request";
  j["index"] = index;
  j["ok"] = r.ok;
  if (!r.ok) j["error"] = r.error;
  j["start_s"] = r.start_s;
  j["prompt_len"] = r.prompt_len;
  j["max_tokens"] = r.max_tokens;
  j["prompt_tokens"] = r.prompt_tokens;
  j["cached_tokens"] = r.cached_tokens;
  j["output_tokens"] = r.output_tokens;
  // null where there is nothing to time (a failed request, a one-token answer)
  j["ttft_ms"] = r.ttft_s >= 0 ? nlohmann::json(r.ttft_s * 1e3) : nlohmann::json();
  j["tpot_ms"] = r.tpot_s() >= 0 ? nlohmann::json(r.tpot_s() * 1e3) : nlohmann::json();
  j["e2e_ms"] = r.e2e_s * 1e3;
  return j;
}

std::string format_table(const nlohmann::json& s) {
  std::string out;
  char line[256];
  const auto add = [&](const char* label, const std::string& value) {
    std::snprintf(line, sizeof line, "%-28s %s\n", label, value.c_str());
    out += line;
  };
  const auto num = [](double v, const char* fmt) {
    char b[64];
    std::snprintf(b, sizeof b, fmt, v);
    return std::string(b);
  };
  const std::string load = s["mode"] == "poisson"
                               ? "Poisson, " + num(s["rate"].get<double>(), "%.2f") + " req/s"
                               : "closed loop, concurrency " + s["concurrency"].dump();
  add("url", s["url"].get<std::string>() + " (" + s["api"].get<std::string>() + ")");
  add("model", s["model"].get<std::string>());
  add("load", load);
  add("prompt / output tokens", s["prompt_len"].get<std::string>() + " / " +
                                    s["output_len"].get<std::string>() +
                                    (s["shared_prefix_len"].get<int>() > 0
                                         ? " (+" + s["shared_prefix_len"].dump() + " shared prefix)"
                                         : ""));
  add("requests", s["completed"].dump() + " completed, " + s["failed"].dump() + " failed, " +
                      s["early_stops"].dump() + " stopped early");
  add("duration", num(s["duration_s"].get<double>(), "%.2f s"));
  add("input tokens",
      s["total_input_tokens"].dump() + " (" + s["cached_tokens"].dump() + " from prefix cache)");
  add("output tokens", s["total_output_tokens"].dump());
  add("request throughput", num(s["request_throughput"].get<double>(), "%.2f req/s"));
  add("output throughput", num(s["output_throughput"].get<double>(), "%.1f tokens/s"));
  std::string slo = "all completed requests (no SLO given)";
  if (s["slo_ttft_ms"].get<double>() > 0 || s["slo_tpot_ms"].get<double>() > 0)
    slo = "TTFT <= " + num(s["slo_ttft_ms"].get<double>(), "%.0f") +
          " ms, TPOT <= " + num(s["slo_tpot_ms"].get<double>(), "%.0f") + " ms (0 = none)";
  add("goodput", num(s["goodput"].get<double>(), "%.2f req/s") + " (" + s["good_requests"].dump() +
                     " requests, " + num(s["good_fraction"].get<double>() * 100, "%.0f%%") + "; " +
                     slo + ")");
  std::snprintf(line, sizeof line, "\n%-10s %10s %10s %10s %10s %10s\n", "ms", "mean", "p50", "p90",
                "p99", "max");
  out += line;
  for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}) {
    const auto& p = s[key];
    std::string name(key);
    name.resize(name.size() - 3);
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::snprintf(line, sizeof line, "%-10s %10.1f %10.1f %10.1f %10.1f %10.1f\n", name.c_str(),
                  p["mean"].get<double>(), p["p50"].get<double>(), p["p90"].get<double>(),
                  p["p99"].get<double>(), p["max"].get<double>());
    out += line;
  }
  return out;
}

}  // namespace tmill::app::bench_serve
