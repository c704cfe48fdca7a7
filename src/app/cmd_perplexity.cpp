// tokenmill perplexity: perplexity over a text file, by llama.cpp's method (engine/perplexity.h).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "app/commands.h"
#include "app/model_source.h"
#include "engine/perplexity.h"

namespace tmill::app {
namespace {

struct PerplexityArgs {
  std::string model, file;
  int32_t n_ctx = 512;
  int64_t n_chunks = -1;
  int threads = 0;
  std::string kernels = "auto";
};

Status compute_perplexity(const PerplexityArgs& a) {
  std::ifstream in(a.file, std::ios::binary);
  if (!in) return fail("cannot read '", a.file, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  TM_ASSIGN(LoadedModel lm, load_model(a.model, a.threads, std::min(a.n_ctx, 512), a.kernels));
  TM_ASSIGN(tok::Tokenizer tokenizer, tok::Tokenizer::from_gguf(lm.model->file()));
  engine::PerplexityOptions options;
  options.n_ctx = a.n_ctx;
  options.max_chunks = a.n_chunks;
  options.on_chunk = [](int64_t done, int64_t total, double ppl) {
    std::fprintf(stderr, "[%lld/%lld] %.4f\n", static_cast<long long>(done),
                 static_cast<long long>(total), ppl);
  };
  std::string text = ss.str();
  // llama-perplexity drops one trailing newline from the file; do the same so token counts match.
  if (!text.empty() && text.back() == '\n') text.pop_back();
  TM_ASSIGN(auto r, engine::perplexity(*lm.model, tokenizer, text, options));
  std::fprintf(stderr, "%lld text tokens; %lld chunks of %d evaluated in %.1f s (%.1f tokens/s)\n",
               static_cast<long long>(r.n_text_tokens), static_cast<long long>(r.n_chunks), a.n_ctx,
               r.seconds, static_cast<double>(r.n_chunks * a.n_ctx) / r.seconds);
  std::printf("Final estimate: PPL = %.4f\n", r.ppl);
  return Status::success();
}

}  // namespace

void register_perplexity(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("perplexity", "Perplexity over a text file (llama.cpp's method)");
  auto a = std::make_shared<PerplexityArgs>();
  cmd->add_option("-m,--model", a->model, "GGUF file or shipped model name")->required();
  cmd->add_option("-f,--file", a->file, "text file")->required();
  cmd->add_option("-c,--ctx-size", a->n_ctx, "tokens per chunk")->capture_default_str();
  cmd->add_option("--chunks", a->n_chunks, "evaluate at most this many chunks (default: all)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (0 = all cores)");
  add_kernels_option(cmd, &a->kernels);
  cmd->callback([a, &exit_code] {
    Status s = compute_perplexity(*a);
    if (!s.ok()) exit_code = report_error(s.error().message);
  });
}

}  // namespace tmill::app
