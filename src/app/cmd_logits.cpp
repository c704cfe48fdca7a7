// tokenmill logits: float32 logits for every position of a token sequence.
// Output contract (used by verification tools, keep stable): little-endian float32, row-major
// [n_tokens][n_vocab], row i = logits after tokens 0..i.
#include <cstdio>
#include <sstream>

#include "app/commands.h"
#include "app/model_source.h"

namespace tmill::app {
namespace {

Expected<std::vector<int32_t>> parse_token_list(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::out_of_range("id");
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      return fail("--tokens: '", item, "' is not a token id (expected comma-separated integers)");
    }
  }
  if (ids.empty()) return fail("--tokens is empty");
  return ids;
}

Status write_logits(const std::string& model_name, const std::string& tokens_text,
                    const std::string& out_path, int threads, const std::string& kernels) {
  TM_ASSIGN(std::vector<int32_t> ids, parse_token_list(tokens_text));
  TM_ASSIGN(LoadedModel lm, load_model(model_name, threads, 256, kernels));
  model::Model& m = *lm.model;
  const int32_t n_vocab = m.hparams().n_vocab;
  TM_ASSIGN(auto kv, m.create_kv_cache(static_cast<int32_t>(ids.size())));
  TM_TRY(kv->reserve(0, static_cast<int32_t>(ids.size())));
  model::Batch batch;
  for (size_t i = 0; i < ids.size(); ++i) batch.add(ids[i], static_cast<int32_t>(i), 0, true);
  std::vector<float> logits(ids.size() * static_cast<size_t>(n_vocab));
  TM_TRY(m.forward(batch, *kv, logits));
  FILE* f = std::fopen(out_path.c_str(), "wb");
  if (f == nullptr) return fail("cannot open '", out_path, "' for writing");
  const size_t written = std::fwrite(logits.data(), sizeof(float), logits.size(), f);
  if (std::fclose(f) != 0 || written != logits.size())
    return fail("error writing '", out_path, "'");
  std::fprintf(stderr, "wrote %zu x %d float32 logits to %s\n", ids.size(), n_vocab,
               out_path.c_str());
  return Status::success();
}

}  // namespace

void register_logits(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "logits", "Write float32 logits [n_tokens][n_vocab] for every position of a token sequence");
  struct Args {
    std::string model, tokens, out;
    int threads = 0;
    std::string kernels = "auto";
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("-m,--model", a->model, "GGUF file or shipped model name")->required();
  cmd->add_option("--tokens", a->tokens, "comma-separated token ids fed at positions 0..n-1")
      ->required();
  cmd->add_option("--out", a->out, "output file")->required();
  cmd->add_option("-t,--threads", a->threads, "CPU threads (0 = all cores)");
  add_kernels_option(cmd, &a->kernels);
  cmd->callback([a, &exit_code] {
    Status s = write_logits(a->model, a->tokens, a->out, a->threads, a->kernels);
    if (!s.ok()) exit_code = report_error(s.error().message);
  });
}

}  // namespace tmill::app
