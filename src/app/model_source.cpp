#include "app/model_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <thread>

namespace tmill::app {
namespace {

struct ShippedModel {
  const char* short_name;
  const char* file_name;
};
constexpr std::array<ShippedModel, 2> kShipped = {{
    {"smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf"},
    {"gemma3-270m", "gemma-3-270m-q4_k_m.gguf"},
}};

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::string models_dir() {
  if (const char* env = std::getenv("TOKENMILL_MODELS"); env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.cache/tokenmill/models";
}

Expected<std::string> resolve_model_path(const std::string& name_or_path) {
  if (is_file(name_or_path)) return name_or_path;
  for (const auto& m : kShipped) {
    if (name_or_path == m.short_name) {
      const std::string path = models_dir() + "/" + m.file_name;
      if (is_file(path)) return path;
      return fail("model '", name_or_path, "' is not downloaded (expected ", path,
                  "); fetch it with: scripts/fetch-models ", name_or_path);
    }
  }
  std::string names;
  for (const auto& m : kShipped) names += (names.empty() ? "" : ", ") + std::string(m.short_name);
  return fail("no such model file '", name_or_path, "' (pass a GGUF path or one of: ", names, ")");
}

namespace {
// Batch-invariant kernels on or off for this process (set while the command line is parsed,
// like the kernels it selects: they are process-wide).
bool g_batch_invariant = false;
bool g_repack = true;
bool g_amx = true;
std::string g_weight_prefetch = "auto";
}  // namespace

void add_kernels_option(CLI::App* cmd, std::string* kernels, bool batch_invariant_by_default) {
  cmd->add_option("--kernels", *kernels,
                  "CPU kernels: auto (AVX2, int16 activations), int8 (auto, but packed "
                  "weights on AVX-512 VNNI CPUs take int8 activations as llama.cpp does: faster "
                  "prefill and batched decode, slightly less exact logits), f32 (AVX2, f32 "
                  "activations), scalar (portable reference); to measure each one's gain")
      ->check(CLI::IsMember({"auto", "int8", "f32", "scalar"}))
      ->capture_default_str();
  // The default is applied when this subcommand is chosen, before its flags are read.
  cmd->preparse_callback([batch_invariant_by_default](size_t) {
    g_batch_invariant = batch_invariant_by_default;
    g_repack = true;
    g_amx = true;
    g_weight_prefetch = "auto";
  });
  cmd->add_flag_callback(
      "--no-repack", [] { g_repack = false; },
      "use quantized weights in the file's layout instead of repacking them at load into 16-row "
      "panels (Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q6_K on AVX-512 VNNI CPUs); to measure repacking's gain");
  cmd->add_flag_callback(
      "--no-amx", [] { g_amx = false; },
      "on CPUs with AMX-INT8 (Sapphire Rapids and later), multiply packed Q4_1/Q4_K weights by "
      "32 or more tokens with the AVX-512 VNNI kernels instead of AMX tiles (same results); to "
      "measure AMX's gain in prefill and batched decode");
  cmd->add_option("--weight-prefetch", g_weight_prefetch,
                  "software prefetch of packed weights ahead of the kernels: auto (far when the "
                  "packed weights fit in a quarter of the last-level cache, else near), off "
                  "(hardware prefetchers only), near (1 KiB ahead into L1), far (near, and 8 KiB "
                  "ahead into L2); same results, to measure the gain")
      ->check(CLI::IsMember({"auto", "off", "near", "far"}))
      ->capture_default_str();
  if (batch_invariant_by_default) {
    cmd->add_flag_callback(
        "--no-batch-invariant", [] { g_batch_invariant = false; },
        "for weights without packed panels (formats other than Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q6_K, "
        "or a CPU without AVX-512 VNNI), use the kernels whose per-token results depend on how "
        "many tokens are batched (faster single-sequence decode there); by default every "
        "token's results are bit-identical whatever else is batched (packed weights always are)");
  } else {
    cmd->add_flag_callback(
        "--batch-invariant", [] { g_batch_invariant = true; },
        "use the batch-invariant kernels `serve` uses by default for every weight (every "
        "token's results bit-identical whatever else is batched; packed "
        "Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q6_K weights on AVX-512 VNNI CPUs always are; for other "
        "weights single-sequence decode is slower)");
  }
}

Expected<LoadedModel> load_model(const std::string& name_or_path, int n_threads,
                                 int32_t max_batch_tokens, const std::string& kernels) {
  LoadedModel lm;
  TM_ASSIGN(lm.path, resolve_model_path(name_or_path));
  TM_ASSIGN(gguf::File file, gguf::File::open(lm.path));
  backend::DeviceOptions options;
  options.n_threads = n_threads;
  options.kernels = kernels;
  options.batch_invariant = g_batch_invariant;
  options.repack = g_repack;
  options.amx = g_amx;
  options.weight_prefetch = g_weight_prefetch;
  lm.threads = n_threads > 0 ? n_threads
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  TM_ASSIGN(lm.device, backend::create_device("cpu", options));
  model::ModelOptions model_options;
  model_options.max_batch_tokens = max_batch_tokens;
  auto m = model::Model::load(std::move(file), *lm.device, model_options);
  if (!m.ok()) return fail(lm.path, ": ", m.error().message);
  lm.model = std::move(m).value();
  return lm;
}

}  // namespace tmill::app
