// tokenmill bench: prompt processing (ppN), generation (tgN) and batched decode (batchB)
// throughput, as medians over repetitions after one warm-up run.
//   ppN:    N prompt tokens in one forward from an empty cache.
//   tgN:    N tokens decoded one at a time (one sequence).
//   batchB: B sequences decoding together, one token each per step, for N steps; aggregate
//           tokens/s over all sequences.
// Token ids are pseudo-random (fixed seed): throughput does not depend on the text.
// With --json each test prints one JSON object per line (a stable contract for scripts):
//   {"test": "pp512", "tokens_per_s": ..., "min": ..., "max": ..., "threads": 2, "batch": 1,
//    "reps": 5, "model": "..."}
// --roofline adds {"test": "roofline", "read_gb_per_s" (median probe), "read_gb_per_s_min",
// "read_gb_per_s_max", "read_probes", "peak_gflops" (f32 FMA), "bytes_per_token",
// "flops_per_token" (decode), "prompt_flops_per_token", "roofline_tokens_per_s",
// "tg_fraction_of_roofline", "pp_fraction_of_peak" (of the f32 FMA peak),
// "last_level_cache_bytes" (0: unknown), "weights_fit_in_last_level_cache", "threads"}, and where
// the device's matrix products run on another instruction (CPU packed weights)
// "matmul_instruction", "matmul_peak_gops", "pp_fraction_of_matmul_peak".

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "app/commands.h"
#include "app/model_source.h"
#include "core/cache_size.h"
#include "core/clock.h"

namespace tmill::app {
namespace {

struct BenchArgs {
  std::string model;
  int32_t n_prompt = 512;
  int32_t n_gen = 128;
  int threads = 0;
  int reps = 5;
  std::string batches = "1,4,16";
  bool json = false;
  bool roofline = false;
  std::string kernels = "auto";
};

// What one decoded token costs the model at the least: every weight matrix read once (the
// token embedding only when it doubles as the output matrix; otherwise one row of it), and
// 2 flops per weight of each matrix product. Attention's own reads and flops are left out
// (small next to the weights at short contexts).
struct TokenCost {
  double bytes = 0;
  double flops = 0;
  double output_flops = 0;  // the output matrix's share of `flops`
  // Per token of an n-token prompt: a prompt needs logits for its last token only, so the
  // output matrix runs once per prompt (for Llama-3.2-1B's shape it is a fifth of `flops`).
  double prompt_flops(int32_t n) const { return flops - output_flops + output_flops / n; }
};

TokenCost token_cost(const gguf::File& file) {
  const bool tied = file.find_tensor("output.weight") == nullptr;
  TokenCost c;
  for (const gguf::TensorInfo& t : file.tensors()) {
    const bool embedding = t.name == "token_embd.weight";
    if (embedding && !tied) {
      c.bytes += static_cast<double>(t.size_bytes) / static_cast<double>(t.ne[1]);
      continue;
    }
    c.bytes += static_cast<double>(t.size_bytes);
    if (t.n_dims < 2) continue;
    const double flops = 2.0 * static_cast<double>(t.ne[0]) * static_cast<double>(t.ne[1]);
    c.flops += flops;
    if (t.name == "output.weight" || embedding) c.output_flops += flops;
  }
  return c;
}

struct Measurement {
  std::string test;
  int32_t batch = 1;
  std::vector<double> tokens_per_s;  // one per repetition
  // --roofline, tg only: read bandwidth probed right after each repetition. On a shared host
  // the bandwidth left to us moves by 1.5x within minutes, so each rep is set against its own
  // probe rather than against one probe taken at another time.
  std::vector<double> read_bytes_per_s;
};

Expected<std::vector<int32_t>> parse_batches(const std::string& text) {
  std::vector<int32_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      const int v = std::stoi(item);
      if (v <= 0 || v > 4096) throw std::out_of_range("batch");
      out.push_back(v);
    } catch (const std::exception&) {
      return fail("--batch: '", item, "' is not a sequence count between 1 and 4096");
    }
  }
  return out;
}

// Runs `n_seqs` sequences: an optional prompt of `n_prompt` tokens each (in one forward), then
// `n_steps` decode steps with one token per sequence. Returns tokens/s of the timed phase.
Expected<double> run_once(model::Model& m, model::KvCache& kv, int32_t n_seqs, int32_t n_prompt,
                          int32_t n_steps, std::mt19937& rng) {
  const int32_t n_vocab = m.hparams().n_vocab;
  std::uniform_int_distribution<int32_t> token(0, n_vocab - 1);
  for (int32_t s = 0; s < n_seqs; ++s) {
    kv.release(s);
    TM_TRY(kv.reserve(s, std::max(n_prompt, 1) + n_steps));
  }
  std::vector<float> logits(static_cast<size_t>(n_seqs) * static_cast<size_t>(n_vocab));
  model::Batch batch;
  if (n_steps == 0) {  // prompt processing
    for (int32_t i = 0; i < n_prompt; ++i) batch.add(token(rng), i, 0, i + 1 == n_prompt);
    const double t0 = now_seconds();
    TM_TRY(m.forward(batch, kv, logits));
    return n_prompt / (now_seconds() - t0);
  }
  // Decode: each sequence starts from one token, then n_steps steps of one token per sequence.
  for (int32_t s = 0; s < n_seqs; ++s) batch.add(token(rng), 0, s, true);
  TM_TRY(m.forward(batch, kv, logits));
  const double t0 = now_seconds();
  for (int32_t step = 1; step <= n_steps; ++step) {
    batch.clear();
    for (int32_t s = 0; s < n_seqs; ++s) batch.add(token(rng), step, s, true);
    TM_TRY(m.forward(batch, kv, logits));
  }
  return static_cast<double>(n_seqs) * n_steps / (now_seconds() - t0);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// bench --roofline: this machine's measured ceilings, and where pp and tg stand against them.
// tg's fraction is the median over repetitions of tokens/s x bytes per token / the bandwidth
// probed right after that repetition.
void report_roofline(LoadedModel& lm, const std::vector<Measurement>& results, int32_t n_prompt,
                     bool json) {
  if (!json) std::fprintf(stderr, "  roofline   probing memory bandwidth and compute peaks...\n");
  const double flops_per_s = lm.device->measure_fma_peak();
  const backend::Device::ComputePeak matmul_peak = lm.device->measure_matmul_peak();
  const TokenCost cost = token_cost(lm.model->file());
  double tg = 0, pp = 0, tg_fraction = 0;
  std::vector<double> read;  // the tg repetitions' probes, else one probe now
  std::string pairs;         // "tokens/s @ GB/s" per tg repetition
  for (const Measurement& r : results) {
    if (r.test.rfind("pp", 0) == 0) pp = median(r.tokens_per_s);
    if (r.test.rfind("tg", 0) != 0 || r.read_bytes_per_s.empty()) continue;
    tg = median(r.tokens_per_s);
    read = r.read_bytes_per_s;
    std::vector<double> fractions;
    for (size_t i = 0; i < read.size(); ++i) {
      fractions.push_back(r.tokens_per_s[i] * cost.bytes / read[i]);
      char pair[64];
      std::snprintf(pair, sizeof pair, "%s%.1f @ %.1f", i == 0 ? "" : ", ", r.tokens_per_s[i],
                    read[i] * 1e-9);
      pairs += pair;
    }
    tg_fraction = median(fractions);
  }
  if (read.empty()) read.push_back(lm.device->measure_read_bandwidth());
  const double read_bytes_per_s = median(read);
  const double read_min = *std::min_element(read.begin(), read.end());
  const double read_max = *std::max_element(read.begin(), read.end());
  const double roofline_tps = read_bytes_per_s / cost.bytes;
  // Weights that fit in the last-level cache can stay there between tokens: decode then reads
  // them at cache bandwidth, and the DRAM roofline is no bound (SmolLM2's 97 MB in a 480 MiB
  // L3 decodes at ~130% of it).
  const size_t llc = last_level_cache_bytes();
  const bool fits_in_llc = llc > 0 && cost.bytes <= static_cast<double>(llc);
  const double prompt_flops = n_prompt > 0 ? cost.prompt_flops(n_prompt) : 0.0;
  const double pp_fraction = pp * prompt_flops / flops_per_s;
  const double pp_matmul_fraction =
      matmul_peak.ops_per_s > 0 ? pp * prompt_flops / matmul_peak.ops_per_s : 0.0;
  if (json) {
    nlohmann::json j = {{"test", "roofline"},
                        {"read_gb_per_s", read_bytes_per_s * 1e-9},
                        {"read_gb_per_s_min", read_min * 1e-9},
                        {"read_gb_per_s_max", read_max * 1e-9},
                        {"read_probes", read.size()},
                        {"peak_gflops", flops_per_s * 1e-9},
                        {"bytes_per_token", cost.bytes},
                        {"flops_per_token", cost.flops},
                        {"prompt_flops_per_token", prompt_flops},
                        {"roofline_tokens_per_s", roofline_tps},
                        {"last_level_cache_bytes", llc},
                        {"weights_fit_in_last_level_cache", fits_in_llc},
                        {"threads", lm.threads}};
    if (tg > 0) j["tg_fraction_of_roofline"] = tg_fraction;
    if (pp > 0) j["pp_fraction_of_peak"] = pp_fraction;
    if (matmul_peak.ops_per_s > 0) {
      j["matmul_instruction"] = matmul_peak.instruction;
      j["matmul_peak_gops"] = matmul_peak.ops_per_s * 1e-9;
      if (pp > 0) j["pp_fraction_of_matmul_peak"] = pp_matmul_fraction;
    }
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("\nroofline (%d threads)\n", lm.threads);
  if (read.size() > 1)
    std::printf(
        "  memory read bandwidth  %8.1f GB/s   (STREAM-style; median of %zu probes, one after "
        "each tg repetition, range %.1f-%.1f)\n",
        read_bytes_per_s * 1e-9, read.size(), read_min * 1e-9, read_max * 1e-9);
  else
    std::printf("  memory read bandwidth  %8.1f GB/s   (STREAM-style, best of 5 passes)\n",
                read_bytes_per_s * 1e-9);
  std::printf("  f32 FMA peak           %8.1f GFLOP/s\n", flops_per_s * 1e-9);
  if (matmul_peak.ops_per_s > 0)
    std::printf(
        "  matmul peak            %8.1f GOP/s    (%s, the packed weights' kernels; a "
        "multiply-add counts 2)\n",
        matmul_peak.ops_per_s * 1e-9, matmul_peak.instruction.c_str());
  std::printf("  bytes per token        %8.1f MB       (weights read once per decoded token)\n",
              cost.bytes * 1e-6);
  std::printf("  flops per token        %8.3f GFLOP    (2 per weight of the matrix products)\n",
              cost.flops * 1e-9);
  if (pp > 0)
    std::printf(
        "  prompt flops per token %8.3f GFLOP    (the output matrix once per %d-token "
        "prompt)\n",
        prompt_flops * 1e-9, n_prompt);
  std::printf("  decode roofline        %8.1f tokens/s (at the median bandwidth)\n", roofline_tps);
  if (tg > 0)
    std::printf(
        "  tg: %.1f tokens/s = %.1f%% of the bandwidth roofline (median over repetitions, each "
        "against its own probe)\n",
        tg, 100 * tg_fraction);
  if (!pairs.empty()) std::printf("  tg per repetition (tokens/s @ GB/s): %s\n", pairs.c_str());
  if (fits_in_llc)
    std::printf(
        "  note: the weights (%.1f MB) fit in the %.0f MiB last-level cache, so decode can read "
        "them from cache and exceed the DRAM roofline\n",
        cost.bytes * 1e-6, static_cast<double>(llc) / (1 << 20));
  if (pp > 0 && matmul_peak.ops_per_s > 0)
    std::printf("  pp: %.1f tokens/s = %.1f%% of the matmul peak (%.1f%% of the f32 FMA peak)\n",
                pp, 100 * pp_matmul_fraction, 100 * pp_fraction);
  else if (pp > 0)
    std::printf("  pp: %.1f tokens/s = %.1f%% of the FMA peak\n", pp, 100 * pp_fraction);
}

Status bench(const BenchArgs& a) {
  if (a.reps < 1) return fail("-r/--reps must be at least 1");
  if (a.n_prompt < 0 || a.n_gen < 0) return fail("-p and -n must not be negative");
  TM_ASSIGN(std::vector<int32_t> batches, parse_batches(a.batches));
  const int32_t max_seqs = batches.empty() ? 1 : *std::max_element(batches.begin(), batches.end());
  // The forward's batch capacity must hold the prompt (up to 512 per call) and one token of
  // every sequence of the largest batch test, or a batch step would run as several calls.
  TM_ASSIGN(LoadedModel lm,
            load_model(a.model, a.threads, std::max({1, std::min(a.n_prompt, 512), max_seqs}),
                       a.kernels));
  model::Model& m = *lm.model;
  const int32_t per_seq = std::max(a.n_prompt, a.n_gen + 1) + 1;
  if (per_seq > m.hparams().n_ctx_train)
    return fail("-p/-n exceed the model's context of ", m.hparams().n_ctx_train, " tokens");
  // Each sequence reserves whole blocks, so size the pool in whole blocks per sequence.
  constexpr int32_t kBlock = model::kDefaultKvBlockSize;
  const int32_t per_seq_blocks = (per_seq + kBlock - 1) / kBlock;
  TM_ASSIGN(auto kv, m.create_kv_cache(per_seq_blocks * kBlock * std::max(max_seqs, 1)));

  std::vector<Measurement> results;
  if (a.n_prompt > 0) results.push_back({"pp" + std::to_string(a.n_prompt), 1, {}, {}});
  if (a.n_gen > 0) results.push_back({"tg" + std::to_string(a.n_gen), 1, {}, {}});
  if (a.n_gen > 0)
    for (int32_t b : batches) results.push_back({"batch" + std::to_string(b), b, {}, {}});

  std::mt19937 rng(1234);
  for (Measurement& r : results) {
    const bool pp = r.test.rfind("pp", 0) == 0;
    const int32_t n_seqs = r.test.rfind("batch", 0) == 0 ? r.batch : 1;
    for (int rep = 0; rep <= a.reps; ++rep) {  // rep 0 warms caches and pages in the weights
      TM_ASSIGN(double tps, run_once(m, *kv, n_seqs, pp ? a.n_prompt : 0, pp ? 0 : a.n_gen, rng));
      if (rep == 0) continue;
      r.tokens_per_s.push_back(tps);
      if (a.roofline && r.test.rfind("tg", 0) == 0)
        r.read_bytes_per_s.push_back(lm.device->measure_read_bandwidth());
    }
    if (!a.json) std::fprintf(stderr, "  %-10s done\n", r.test.c_str());
  }

  const std::string model_name = lm.path.substr(lm.path.find_last_of('/') + 1);
  for (const Measurement& r : results) {
    const double med = median(r.tokens_per_s);
    const double lo = *std::min_element(r.tokens_per_s.begin(), r.tokens_per_s.end());
    const double hi = *std::max_element(r.tokens_per_s.begin(), r.tokens_per_s.end());
    if (a.json) {
      nlohmann::json j = {{"test", r.test}, {"tokens_per_s", med},   {"min", lo},
                          {"max", hi},      {"threads", lm.threads}, {"batch", r.batch},
                          {"reps", a.reps}, {"model", model_name}};
      std::printf("%s\n", j.dump().c_str());
    }
  }
  if (!a.json) {
    std::printf("%-32s %-9s %7s %6s %12s %12s %12s\n", "model", "test", "threads", "batch",
                "tokens/s", "min", "max");
    for (const Measurement& r : results) {
      std::printf("%-32s %-9s %7d %6d %12.2f %12.2f %12.2f\n", model_name.c_str(), r.test.c_str(),
                  lm.threads, r.batch, median(r.tokens_per_s),
                  *std::min_element(r.tokens_per_s.begin(), r.tokens_per_s.end()),
                  *std::max_element(r.tokens_per_s.begin(), r.tokens_per_s.end()));
    }
    std::printf("(median of %d repetitions after one warm-up; %s)\n", a.reps,
                lm.device->info().description.c_str());
  }
  if (a.roofline) report_roofline(lm, results, a.n_prompt, a.json);
  return Status::success();
}

}  // namespace

void register_bench(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "bench", "Throughput: prompt processing, generation and batched decode (tokens/s)");
  auto a = std::make_shared<BenchArgs>();
  cmd->add_option("-m,--model", a->model, "GGUF file or shipped model name")->required();
  cmd->add_option("-p,--n-prompt", a->n_prompt, "prompt tokens for the pp test (0 = skip)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", a->n_gen, "decode steps for the tg and batch tests (0 = skip)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "CPU threads (0 = all cores)");
  cmd->add_option("-r,--reps", a->reps, "timed repetitions per test (after one warm-up)")
      ->capture_default_str();
  cmd->add_option("--batch", a->batches,
                  "comma-separated sequence counts for batched decode (empty = skip)")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "one JSON object per line and test instead of the table");
  cmd->add_flag("--roofline", a->roofline,
                "also probe memory bandwidth, the f32 FMA peak and the packed kernels' integer "
                "dot-product peak, and report tg as a fraction of the bandwidth roofline "
                "(bandwidth probed after each tg repetition; median of the per-repetition "
                "fractions) and pp as a fraction of the compute peaks");
  add_kernels_option(cmd, &a->kernels);
  cmd->callback([a, &exit_code] {
    Status s = bench(*a);
    if (!s.ok()) exit_code = report_error(s.error().message);
  });
}

}  // namespace tmill::app
