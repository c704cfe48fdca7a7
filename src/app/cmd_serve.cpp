// tokenmill serve: an OpenAI-compatible HTTP server over the continuous-batching engine.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "app/chat_format.h"
#include "app/commands.h"
#include "app/model_source.h"
#include "engine/engine.h"
#include "platform/gatekeeper.h"
#include "platform/ledger.h"
#include "platform/price_sheet.h"
#include "server/http_server.h"
#include "server/prompt_builder.h"
#include "server/service.h"
#include "tokenizer/chat_template/chat_template.h"

namespace tmill::app {
namespace {

struct ServeArgs {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int32_t parallel = engine::EngineOptions{}.max_running;
  int32_t ctx_size = 0;
  int32_t kv_blocks = 0;
  std::string kv_memory;
  int threads = 0;
  std::string kernels = "auto";
  bool no_prefix_cache = false;
  int32_t max_queue = engine::EngineOptions{}.max_queue;
  int32_t step_tokens = engine::EngineOptions{}.step_tokens;
  std::string alias;
  std::string chat_template;
  int io_threads = 2;
  int shutdown_timeout_s = 10;
  std::string data_dir;
  std::string price_sheet;
  bool no_metering = false;
  bool allow_no_keys = false;
};

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// "2GiB", "512MiB", "1.5G", "1000000" (bytes). Binary units, whether or not the 'i' is written.
Expected<int64_t> parse_bytes(const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (...) {
    return fail("--kv-memory: '", text, "' is not a size (e.g. 2GiB, 512MiB)");
  }
  std::string unit = text.substr(pos);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  if (unit == "k" || unit == "kb" || unit == "kib") scale = 1024.0;
  if (unit == "m" || unit == "mb" || unit == "mib") scale = 1024.0 * 1024;
  if (unit == "g" || unit == "gb" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  if (scale == 0 || !(value > 0) || value * scale > 1e15)
    return fail("--kv-memory: '", text, "' is not a size (e.g. 2GiB, 512MiB)");
  return static_cast<int64_t>(value * scale);
}

// The id clients send as "model": --alias, else the shipped short name or the file's stem.
std::string model_id(const ServeArgs& a, const std::string& path) {
  if (!a.alias.empty()) return a.alias;
  if (a.model != path) return a.model;  // a short name such as smollm2-135m
  return std::filesystem::path(path).stem().string();
}

Status serve(const ServeArgs& a) {
  if (a.port < 0 || a.port > 65535) return fail("--port must be in [0, 65535], got ", a.port);
  engine::EngineOptions eo;
  eo.n_ctx = a.ctx_size;
  eo.max_running = a.parallel;
  eo.step_tokens = a.step_tokens;
  eo.kv_blocks = a.kv_blocks;
  if (!a.kv_memory.empty()) {
    if (a.kv_blocks > 0) return fail("give either --kv-blocks or --kv-memory, not both");
    TM_ASSIGN(eo.kv_bytes, parse_bytes(a.kv_memory));
  }
  eo.max_queue = a.max_queue;
  eo.prefix_cache = !a.no_prefix_cache;

  // Metering and access: keys, quotas and the ledger live in --data-dir.
  platform::GatekeeperOptions go;
  go.data_dir = a.data_dir;
  go.record_usage = !a.no_metering;
  if (!a.price_sheet.empty()) {
    TM_ASSIGN(go.prices, platform::load_price_sheet(a.price_sheet));
  }
  eo.hardware = {go.prices.hardware.usd_per_hour, go.prices.hardware.idle_watts,
                 go.prices.hardware.busy_watts};
  TM_ASSIGN(std::shared_ptr<platform::Gatekeeper> gatekeeper,
            platform::Gatekeeper::open(std::move(go)));
  const bool keys_required = gatekeeper->keys_required();
  if (!keys_required && !is_loopback(a.host) && !a.allow_no_keys)
    return fail("refusing to serve on ", a.host,
                " without API keys: anyone who can reach it could use it. Create a key "
                "(tokenmill keys create --data-dir ",
                a.data_dir, " --tenant NAME), or pass --allow-no-keys");
  eo.usage_observer = gatekeeper.get();

  TM_ASSIGN(LoadedModel lm, load_model(a.model, a.threads, a.step_tokens, a.kernels));
  model::Model& m = *lm.model;
  TM_ASSIGN(tok::Tokenizer tokenizer, tok::Tokenizer::from_gguf(m.file()));
  // A model without a chat template still serves /v1/completions; chat requests get a 400.
  std::optional<tok::ChatTemplate> chat_template;
  std::string template_note = "the model's chat template";
  if (auto t = load_chat_template(m.file(), tokenizer, a.chat_template); t.ok()) {
    chat_template = std::move(t).value();
    if (!a.chat_template.empty()) template_note = "chat template " + a.chat_template;
  } else if (!a.chat_template.empty()) {
    return t.error();
  } else {
    template_note = "no chat template (/v1/chat/completions disabled; --chat-template FILE)";
  }

  TM_ASSIGN(std::unique_ptr<engine::Engine> engine, engine::Engine::create(m, tokenizer, eo));
  const engine::EngineOptions& resolved = engine->options();

  server::ServerOptions so;
  so.host = a.host;
  so.port = static_cast<uint16_t>(a.port);
  so.io_threads = a.io_threads;
  so.shutdown_deadline_ms = int64_t{a.shutdown_timeout_s} * 1000;
  so.model_id = model_id(a, lm.path);
  so.model_names = {so.model_id};
  for (const std::string& name : {a.model, std::filesystem::path(lm.path).stem().string(),
                                  std::filesystem::path(lm.path).filename().string()})
    if (std::find(so.model_names.begin(), so.model_names.end(), name) == so.model_names.end())
      so.model_names.push_back(name);

  server::PromptLimits limits;
  limits.n_ctx = resolved.n_ctx;
  limits.kv_pool_tokens = int64_t{resolved.kv_blocks} * resolved.block_size;
  auto service = std::make_shared<server::Service>(
      *engine, server::PromptBuilder(tokenizer, std::move(chat_template), limits), so, gatekeeper);
  server::HttpServer http(service);
  TM_TRY(http.listen());

  const model::HParams& hp = m.hparams();
  // The engine's KV layout: f16 K and V rows per layer and KV head.
  const int64_t kv_bytes = int64_t{resolved.kv_blocks} * resolved.block_size * 2 * hp.n_layer *
                           hp.n_kv_head * std::max(hp.head_dim, hp.head_dim_v) * 2;
  std::printf(
      "tokenmill serve: model %s (id \"%s\", %s), %d threads, %s\n"
      "  context %d tokens, up to %d sequences, step budget %d tokens, queue %d, prefix cache "
      "%s\n"
      "  KV cache: %d blocks x %d tokens = %lld tokens, %.1f MiB\n"
      "  access: %s; usage ledger: %s; price sheet: %s\n",
      lm.path.c_str(), so.model_id.c_str(), hp.arch.c_str(), lm.threads, template_note.c_str(),
      resolved.n_ctx, resolved.max_running, resolved.step_tokens, resolved.max_queue,
      resolved.prefix_cache ? "on" : "off", resolved.kv_blocks, resolved.block_size,
      static_cast<long long>(resolved.kv_blocks) * resolved.block_size,
      static_cast<double>(kv_bytes) / (1024.0 * 1024.0),
      keys_required ? "API keys required" : "open (no API keys in the data dir)",
      a.no_metering ? "off" : platform::ledger_file(a.data_dir).c_str(),
      a.price_sheet.empty() ? "none (costs and energy are reported as 0)" : a.price_sheet.c_str());
  engine->start();
  std::printf("listening on http://%s:%u\n", a.host.c_str(), static_cast<unsigned>(http.port()));
  std::fflush(stdout);
  http.run();
  std::printf("tokenmill serve: stopped\n");
  std::fflush(stdout);
  return Status::success();
}

}  // namespace

void register_serve(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand(
      "serve",
      "OpenAI-compatible HTTP server: POST /v1/chat/completions, /v1/completions; GET "
      "/v1/models, /health, /metrics. SIGINT/SIGTERM shut it down gracefully");
  cmd->add_option("-m,--model", args->model, "GGUF file or shipped model name (smollm2-135m, ...)")
      ->required();
  cmd->add_option("--host", args->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", args->port, "TCP port (0: any free port, printed at startup)")
      ->capture_default_str();
  cmd->add_option("--parallel", args->parallel, "sequences decoded at once (running batch)")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", args->ctx_size,
                  "max prompt + completion tokens per sequence (0: the model's trained context, "
                  "at most 4096)")
      ->capture_default_str();
  auto* kv_blocks = cmd->add_option("--kv-blocks", args->kv_blocks,
                                    "KV cache size in blocks of 16 tokens (0: from --kv-memory, "
                                    "else ctx-size x parallel, capped)");
  cmd->add_option("--kv-memory", args->kv_memory, "KV cache size in bytes, e.g. 2GiB, 512MiB")
      ->excludes(kv_blocks);
  cmd->add_option("-t,--threads", args->threads, "CPU threads (0: all cores)")
      ->capture_default_str();
  add_kernels_option(cmd, &args->kernels, /*batch_invariant_by_default=*/true);
  cmd->add_flag("--no-prefix-cache", args->no_prefix_cache,
                "do not reuse the KV cache of identical prompt prefixes across requests");
  cmd->add_option("--max-queue", args->max_queue,
                  "requests waiting for admission beyond this are refused with 503")
      ->capture_default_str();
  cmd->add_option("--step-tokens", args->step_tokens,
                  "tokens per engine step (decode tokens + prefill chunks)")
      ->capture_default_str();
  cmd->add_option("--alias", args->alias,
                  "model id clients send and responses report (default: the -m short name or "
                  "the file's stem)");
  cmd->add_option("--chat-template", args->chat_template,
                  "Jinja chat template file (overrides the model's; needed for models without "
                  "one to serve /v1/chat/completions)");
  cmd->add_option("--io-threads", args->io_threads, "HTTP threads")->capture_default_str();
  args->data_dir = default_data_dir();
  cmd->add_option("--data-dir", args->data_dir,
                  "API keys and the usage ledger (tokenmill keys / usage use the same); with "
                  "keys in it every route but /health needs one")
      ->capture_default_str();
  cmd->add_option("--price-sheet", args->price_sheet,
                  "JSON file: hardware $/hour and power model (cost and energy per request), "
                  "list prices per model (charges, budgets); see docs/price-sheet.md");
  cmd->add_flag("--no-metering", args->no_metering,
                "do not record usage in the ledger (no /v1/usage; budgets count only this run)");
  cmd->add_flag("--allow-no-keys", args->allow_no_keys,
                "serve without API keys on a non-loopback address (anyone reaching it may use "
                "it)");
  cmd->add_option("--shutdown-timeout", args->shutdown_timeout_s,
                  "seconds in-flight requests get to finish on SIGTERM before being cancelled")
      ->capture_default_str();
  cmd->callback([args, &exit_code] {
    const Status s = serve(*args);
    if (!s.ok()) exit_code = report_error(s.error().message);
  });
}

}  // namespace tmill::app
