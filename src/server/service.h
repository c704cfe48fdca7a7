// What every connection shares: the engine, the prompt builder, the options, the HTTP counters
// and the shutdown state. Thread-safe (io threads call it concurrently).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/access.h"
#include "server/metrics_text.h"
#include "server/openai_request.h"
#include "server/prompt_builder.h"

namespace tmill::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;                   // 0: any free port (tests)
  int io_threads = 2;                     // HTTP work is light next to the engine's
  size_t max_body_bytes = 8u << 20;       // larger bodies: 413
  size_t max_header_bytes = 16u << 10;    // larger header sections: 431
  int idle_timeout_seconds = 60;          // keep-alive connections idle longer are closed
  int64_t shutdown_deadline_ms = 10'000;  // in-flight requests get this long on SIGTERM
  std::string model_id;                   // "model" in responses and /v1/models
  std::vector<std::string> model_names;   // accepted values of "model" (the id included)
};

class Service {
 public:
  // `access`: authentication, quotas and metering; null serves everyone as the default tenant
  // (and /v1/usage is 404).
  Service(engine::Engine& engine, PromptBuilder prompts, ServerOptions options,
          std::shared_ptr<AccessControl> access = nullptr);

  engine::Engine& engine() { return engine_; }
  const PromptBuilder& prompts() const { return prompts_; }
  const ServerOptions& options() const { return options_; }
  const ValidationLimits& limits() const { return limits_; }
  HttpCounters& counters() { return counters_; }
  AccessControl* access() { return access_.get(); }
  int64_t started_unix() const { return started_unix_; }

  nlohmann::json models_json() const;
  nlohmann::json model_json() const;
  std::string metrics_text() const;

  // Set on SIGTERM: responses close their connection, new generations are refused (503).
  std::atomic<bool> stopping{false};
  // Generation requests between submit and their last byte written.
  std::atomic<int> in_flight{0};

 private:
  engine::Engine& engine_;
  PromptBuilder prompts_;
  ServerOptions options_;
  ValidationLimits limits_;
  HttpCounters counters_;
  std::shared_ptr<AccessControl> access_;
  int64_t started_unix_;
};

}  // namespace tmill::server
