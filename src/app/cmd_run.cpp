// tokenmill run: generate text from a prompt, streaming it to stdout, with throughput at the end.
#include <chrono>
#include <cstdio>
#include <random>

#include "app/chat_format.h"
#include "app/commands.h"
#include "app/model_source.h"
#include "core/clock.h"
#include "engine/sampler.h"
#include "tokenizer/tokenizer.h"

namespace tmill::app {
namespace {

struct RunArgs {
  std::string model;
  std::string prompt;
  int32_t n_predict = 128;
  int32_t ctx_size = 4096;
  int threads = 0;
  std::string kernels = "auto";
  bool chat = false;
  std::string chat_template;  // file overriding the model's template
  bool seed_given = false;
  uint64_t seed = 0;
  engine::SamplingParams sampling;
};

Status run_generation(RunArgs a) {
  a.chat = a.chat || !a.chat_template.empty();  // --chat-template implies --chat
  TM_ASSIGN(LoadedModel lm, load_model(a.model, a.threads, 256, a.kernels));
  model::Model& m = *lm.model;
  TM_ASSIGN(tok::Tokenizer tokenizer, tok::Tokenizer::from_gguf(m.file()));
  const int32_t n_vocab = m.hparams().n_vocab;

  std::string text = a.prompt;
  if (a.chat) {
    TM_ASSIGN(text, format_chat_prompt(m.file(), tokenizer, a.prompt, a.chat_template));
  }
  std::vector<int32_t> ids = tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/a.chat);
  if (ids.empty()) return fail("the prompt is empty after tokenization");

  const int32_t n_ctx = std::min(a.ctx_size, m.hparams().n_ctx_train);
  if (static_cast<int64_t>(ids.size()) >= n_ctx)
    return fail("prompt has ", ids.size(), " tokens, which does not fit the context of ", n_ctx,
                " (raise --ctx-size, up to the model's ", m.hparams().n_ctx_train, ")");
  const int32_t n_predict =
      std::min<int32_t>(a.n_predict, n_ctx - static_cast<int32_t>(ids.size()));

  a.sampling.seed = a.seed_given ? a.seed : std::random_device{}();
  TM_TRY(engine::validate(a.sampling, n_vocab));
  engine::Sampler sampler(a.sampling, n_vocab);

  TM_ASSIGN(auto kv, m.create_kv_cache(n_ctx));
  TM_TRY(kv->reserve(0, static_cast<int32_t>(ids.size()) + n_predict));

  std::vector<float> logits(static_cast<size_t>(n_vocab));
  model::Batch batch;
  for (size_t i = 0; i < ids.size(); ++i)
    batch.add(ids[i], static_cast<int32_t>(i), 0, i + 1 == ids.size());
  const double t0 = now_seconds();
  TM_TRY(m.forward(batch, *kv, logits));
  const double t_prompt = now_seconds() - t0;

  if (!a.chat) std::fputs(a.prompt.c_str(), stdout);
  std::fflush(stdout);
  tok::StreamDecoder decoder(tokenizer);
  std::vector<int32_t> history = ids;
  int32_t n_generated = 0;
  const double t1 = now_seconds();
  for (; n_generated < n_predict; ++n_generated) {
    const int32_t next = sampler.sample(logits, history);
    if (tokenizer.is_eog(next)) break;
    history.push_back(next);
    std::fputs(decoder.push(next).c_str(), stdout);
    std::fflush(stdout);
    if (n_generated + 1 == n_predict) {
      ++n_generated;
      break;
    }
    batch.clear();
    batch.add(next, static_cast<int32_t>(history.size()) - 1, 0, true);
    TM_TRY(m.forward(batch, *kv, logits));
  }
  std::fputs(decoder.flush().c_str(), stdout);
  std::fputs("\n", stdout);
  const double t_gen = now_seconds() - t1;
  std::fprintf(stderr, "\nprompt:     %5zu tokens in %7.3f s = %8.2f tokens/s\n", ids.size(),
               t_prompt, static_cast<double>(ids.size()) / t_prompt);
  std::fprintf(stderr, "generation: %5d tokens in %7.3f s = %8.2f tokens/s  (seed %llu, %s)\n",
               n_generated, t_gen, n_generated > 0 ? n_generated / t_gen : 0.0,
               static_cast<unsigned long long>(a.sampling.seed),
               lm.device->info().description.c_str());
  return Status::success();
}

}  // namespace

void register_run(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt (streams to stdout)");
  auto a = std::make_shared<RunArgs>();
  cmd->add_option("-m,--model", a->model,
                  "GGUF file or shipped model name (smollm2-135m, gemma3-270m)")
      ->required();
  cmd->add_option("-p,--prompt", a->prompt, "prompt text")->required();
  cmd->add_option("-n,--n-predict", a->n_predict, "maximum tokens to generate")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", a->ctx_size, "context size in tokens (capped at the model's)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "CPU threads (0 = all cores)");
  add_kernels_option(cmd, &a->kernels);
  cmd->add_flag("--chat", a->chat,
                "render the prompt as one user turn with the model's chat template "
                "(tokenizer.chat_template), ending where the assistant's reply begins");
  cmd->add_option("--chat-template", a->chat_template,
                  "a Jinja chat template file to use instead of the model's (implies --chat)");
  cmd->add_option("--temp", a->sampling.temperature, "temperature (0 = greedy)")
      ->capture_default_str();
  cmd->add_option("--top-k", a->sampling.top_k, "top-k (0 = off)")->capture_default_str();
  cmd->add_option("--top-p", a->sampling.top_p, "top-p (1 = off)")->capture_default_str();
  cmd->add_option("--min-p", a->sampling.min_p, "min-p (0 = off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", a->sampling.repetition_penalty,
                  "repetition penalty (1 = off)")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", a->sampling.penalty_last_n, "tokens the penalties look back")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", a->sampling.presence_penalty,
                  "subtract this from the logit of every token already in the window (0 = off)")
      ->capture_default_str();
  cmd->add_option("--frequency-penalty", a->sampling.frequency_penalty,
                  "subtract this times the count of each token in the window (0 = off)")
      ->capture_default_str();
  cmd->add_option_function<uint64_t>(
      "--seed",
      [a](uint64_t s) {
        a->seed = s;
        a->seed_given = true;
      },
      "random seed (same seed, same output); random when omitted");
  cmd->callback([a, &exit_code] {
    Status s = run_generation(*a);
    if (!s.ok()) exit_code = report_error(s.error().message);
  });
}

}  // namespace tmill::app
