// Resolves what the user passed as -m: a GGUF path, or a short name of a shipped model that
// scripts/fetch-models downloads into the model cache.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "backend/device.h"
#include "core/expected.h"
#include "model/model.h"

namespace tmill::app {

// $TOKENMILL_MODELS, else ~/.cache/tokenmill/models.
std::string models_dir();
// A path to an existing file, or an error that says how to get the model.
Expected<std::string> resolve_model_path(const std::string& name_or_path);

struct LoadedModel {
  std::string path;
  int threads = 0;  // CPU threads in use (resolved: never 0)
  std::unique_ptr<backend::Device> device;
  std::unique_ptr<model::Model> model;
};

// kernels: backend::DeviceOptions::kernels ("auto", "int8", "f32", "scalar").
Expected<LoadedModel> load_model(const std::string& name_or_path, int n_threads,
                                 int32_t max_batch_tokens = 256,
                                 const std::string& kernels = "auto");

// Adds --kernels (the ablation switch for the CPU kernel families) and the batch-invariance
// switch to a command: `--no-batch-invariant` where invariance is the default (serve: a request's
// tokens must not depend on what else runs), else `--batch-invariant`.
void add_kernels_option(CLI::App* cmd, std::string* kernels,
                        bool batch_invariant_by_default = false);

}  // namespace tmill::app
