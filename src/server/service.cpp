#include "server/service.h"

#include <ctime>
#include <utility>

namespace tmill::server {

Service::Service(engine::Engine& engine, PromptBuilder prompts, ServerOptions options,
                 std::shared_ptr<AccessControl> access)
    : engine_(engine),
      prompts_(std::move(prompts)),
      options_(std::move(options)),
      access_(std::move(access)),
      started_unix_(static_cast<int64_t>(std::time(nullptr))) {
  limits_.model_names = options_.model_names;
  if (limits_.model_names.empty()) limits_.model_names.push_back(options_.model_id);
  limits_.n_vocab = prompts_.tokenizer().n_vocab();
}

nlohmann::json Service::model_json() const {
  return {{"id", options_.model_id},
          {"object", "model"},
          {"created", started_unix_},
          {"owned_by", "tokenmill"},
          {"max_model_len", engine_.options().n_ctx}};
}

nlohmann::json Service::models_json() const {
  return {{"object", "list"}, {"data", nlohmann::json::array({model_json()})}};
}

std::string Service::metrics_text() const {
  std::string text = prometheus_text(engine_.metrics(), counters_.responses());
  if (access_) text += access_->metrics_text();
  return text;
}

}  // namespace tmill::server
