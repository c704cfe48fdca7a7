// tokenmill bench-serve: a load generator for any OpenAI-compatible server (tokenmill serve,
// llama.cpp's llama-server). It streams requests (stream=true with usage) so time to first
// token and the gaps between tokens are measured from the SSE chunks as they arrive, drives them
// closed-loop at a fixed concurrency or open-loop with Poisson arrivals, and reports latency
// percentiles, throughput and goodput against SLOs. The same seed gives the same requests, so
// two servers can be compared on identical load.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "app/bench_serve/http_client.h"
#include "app/bench_serve/load.h"
#include "app/bench_serve/report.h"
#include "app/bench_serve/workload.h"
#include "app/commands.h"

namespace tmill::app {
namespace {

using namespace bench_serve;

struct RawArgs {
  Options opts;
  std::string api = "completions";
  std::string prompt_len = "128";
  std::string output_len = "128";
  std::string token_range = "1000:30000";
  bool no_ignore_eos = false;
};

// The first model the server lists: lets one command line work against servers that name the
// same model differently.
Expected<std::string> default_model(const Url& url, double timeout_s) {
  HttpClient client(url, timeout_s);
  auto r = client.get("/v1/models");
  if (!r.ok()) return r.error();
  if (r->status != 200) return fail("GET /v1/models: HTTP ", r->status, ": ", r->body);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
      !j["data"][0].contains("id") || !j["data"][0]["id"].is_string())
    return fail("GET /v1/models: no model listed (pass --model)");
  return j["data"][0]["id"].get<std::string>();
}

Status finish_options(RawArgs& a) {
  Options& o = a.opts;
  if (a.api == "chat") {
    o.api = Api::Chat;
  } else if (a.api != "completions") {
    return fail("--api: '", a.api, "' is not completions or chat");
  }
  auto p = parse_length_dist(a.prompt_len, "--prompt-len", 1);
  if (!p.ok()) return p.error();
  o.prompt_len = *p;
  auto n = parse_length_dist(a.output_len, "--output-len", 1);
  if (!n.ok()) return n.error();
  o.output_len = *n;
  auto t = parse_length_dist(a.token_range, "--token-range", 0);
  if (!t.ok()) return t.error();
  o.token_lo = t->lo;
  o.token_hi = t->hi;
  if (o.token_hi <= o.token_lo) return fail("--token-range: HI must be greater than LO");
  o.ignore_eos = !a.no_ignore_eos;
  if (o.concurrency < 1) return fail("--concurrency must be at least 1");
  if (o.requests < 1) return fail("--requests must be at least 1");
  if (o.rate < 0) return fail("--rate must be positive");
  if (o.shared_prefix_len < 0) return fail("--shared-prefix-len must be >= 0");
  if (o.timeout_s <= 0) return fail("--timeout must be positive");
  return Status::success();
}

Status run_bench_serve(RawArgs& a) {
  TM_TRY(finish_options(a));
  const Options& opts = a.opts;
  auto url = parse_url(opts.url);
  if (!url.ok()) return url.error();
  url->api_key = opts.api_key;
  if (url->api_key.empty())
    if (const char* env = std::getenv("OPENAI_API_KEY")) url->api_key = env;
  std::string model = opts.model;
  if (model.empty()) {
    auto m = default_model(*url, opts.timeout_s);
    if (!m.ok()) return m.error();
    model = *m;
  }

  if (opts.warmup > 0) {
    // Warm-up requests come from another seed so they do not fill the prefix cache with the
    // measured prompts (the shared prefix, if any, is the same on purpose).
    Options w = opts;
    w.rate = 0;
    w.concurrency = 1;
    auto plan = plan_requests(w, opts.warmup, opts.seed + 0x5bd1e995ULL);
    std::fprintf(stderr, "bench-serve: %d warm-up request(s)\n", opts.warmup);
    LoadOutcome warm = run_load(w, *url, model, plan, /*quiet=*/true);
    for (const RequestResult& r : warm.results)
      if (!r.ok) return fail("warm-up request failed: ", r.error);
  }

  auto plan = plan_requests(opts, opts.requests, opts.seed);
  std::fprintf(stderr, "bench-serve: %d requests to %s (%s)\n", opts.requests, opts.url.c_str(),
               model.c_str());
  LoadOutcome load = run_load(opts, *url, model, plan, /*quiet=*/false);
  const nlohmann::json summary = summarize(opts, model, load);
  if (opts.json) {
    if (opts.per_request)
      for (size_t i = 0; i < load.results.size(); ++i)
        std::printf("%s\n", request_json(i, load.results[i]).dump().c_str());
    std::printf("%s\n", summary.dump().c_str());
  } else {
    std::printf("%s", format_table(summary).c_str());
  }
  std::fflush(stdout);
  if (summary["completed"].get<int64_t>() == 0) return fail("every request failed");
  return Status::success();
}

}  // namespace

void register_bench_serve(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "bench-serve",
      "Load generator for an OpenAI-compatible server: TTFT/TPOT/ITL/e2e percentiles, "
      "throughput and goodput");
  cmd->footer(
      "Length distributions (--prompt-len, --output-len): N (always N tokens) or LO:HI (uniform "
      "over LO..HI).\n"
      "Prompts: with --api completions (default), random token ids from --token-range, so "
      "prompt lengths are exact; with --api chat or --text-prompts, random common English words "
      "(about one token each). --shared-prefix-len N puts the same N tokens (words) in front of "
      "every prompt.\n"
      "Every request streams (stream_options.include_usage) at temperature 0 with max_tokens = "
      "its output length and ignore_eos (unless --no-ignore-eos); requests that still stop "
      "early are counted. TTFT = first chunk with text; ITL = gaps between chunks with text; "
      "TPOT = (e2e - TTFT) / (output tokens - 1). Goodput counts requests meeting every SLO "
      "given. Progress goes to stderr; the table (or, with --json, JSON lines) to stdout.");
  auto a = std::make_shared<RawArgs>();
  Options& o = a->opts;
  cmd->add_option("--url", o.url, "server base URL, e.g. http://127.0.0.1:8080")->required();
  cmd->add_option("--api-key", o.api_key,
                  "sent as 'Authorization: Bearer KEY' (default: $OPENAI_API_KEY, if set)");
  cmd->add_option("--model", o.model, "model name to send (default: the first in /v1/models)");
  cmd->add_option("--api", a->api, "completions or chat")->capture_default_str();
  auto* conc = cmd->add_option("-c,--concurrency", o.concurrency,
                               "closed loop: requests in flight at all times")
                   ->capture_default_str();
  cmd->add_option("--rate", o.rate, "open loop: Poisson arrivals at R requests/s")->excludes(conc);
  cmd->add_option("-n,--requests", o.requests, "measured requests")->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "unmeasured requests sent one at a time first")
      ->capture_default_str();
  cmd->add_option("--prompt-len", a->prompt_len, "prompt tokens (N or LO:HI)")
      ->capture_default_str();
  cmd->add_option("--output-len", a->output_len, "output tokens, sent as max_tokens (N or LO:HI)")
      ->capture_default_str();
  cmd->add_option("--shared-prefix-len", o.shared_prefix_len,
                  "tokens of a prefix common to every prompt, before its own --prompt-len")
      ->capture_default_str();
  cmd->add_option("--slo-ttft", o.slo_ttft_ms, "goodput SLO on time to first token, ms (0 = none)");
  cmd->add_option("--slo-tpot", o.slo_tpot_ms,
                  "goodput SLO on time per output token, ms (0 = none)");
  cmd->add_option("--seed", o.seed, "seed of lengths, prompts and arrivals")->capture_default_str();
  cmd->add_option("--token-range", a->token_range,
                  "token-id prompts draw ids from [LO, HI): keep inside the vocabulary, away "
                  "from special tokens")
      ->capture_default_str();
  cmd->add_flag("--text-prompts", o.text_prompts, "completions: word prompts instead of ids");
  cmd->add_flag("--no-ignore-eos", a->no_ignore_eos, "do not send ignore_eos");
  cmd->add_option("--timeout", o.timeout_s, "per-read timeout, seconds")->capture_default_str();
  cmd->add_flag("--json", o.json, "print the summary as one JSON line instead of the table");
  cmd->add_flag("--per-request", o.per_request, "with --json: also one JSON line per request");
  cmd->callback([a, &exit_code] {
    Status s = run_bench_serve(*a);
    if (!s.ok()) exit_code = report_error(s.error().message);
  });
}

}  // namespace tmill::app
