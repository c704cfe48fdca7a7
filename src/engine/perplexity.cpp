#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/clock.h"

namespace tmill::engine {
namespace {

// -log p(target) for one row of logits, in double for a stable sum.
double negative_log_likelihood(const float* logits, int32_t n_vocab, int32_t target) {
  float max = logits[0];
  for (int32_t i = 1; i < n_vocab; ++i) max = std::max(max, logits[i]);
  double sum = 0.0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  return std::log(sum) - (static_cast<double>(logits[target]) - max);
}

}  // namespace

Expected<PerplexityResult> perplexity(model::Model& model, const tok::Tokenizer& tokenizer,
                                      std::string_view text, const PerplexityOptions& options) {
  const int32_t n_ctx = options.n_ctx;
  if (n_ctx < 4) return fail("perplexity context must be at least 4 tokens");
  if (n_ctx > model.hparams().n_ctx_train)
    return fail("perplexity context ", n_ctx, " exceeds the model's ", model.hparams().n_ctx_train);
  const int32_t n_vocab = model.hparams().n_vocab;
  const std::vector<int32_t> tokens =
      tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/false);
  PerplexityResult result;
  result.n_text_tokens = static_cast<int64_t>(tokens.size());
  const int64_t available = result.n_text_tokens / n_ctx;
  if (available == 0)
    return fail("the text has ", tokens.size(), " tokens, fewer than one chunk of ", n_ctx);
  result.n_chunks = options.max_chunks > 0 ? std::min(options.max_chunks, available) : available;

  TM_ASSIGN(auto kv, model.create_kv_cache(n_ctx));
  const int32_t first = n_ctx / 2;
  // Logits only for the scored half of each chunk: [n_ctx - first][n_vocab].
  std::vector<float> logits(static_cast<size_t>(n_ctx - first) * static_cast<size_t>(n_vocab));
  double nll = 0.0;
  const double t0 = now_seconds();
  model::Batch batch;
  for (int64_t c = 0; c < result.n_chunks; ++c) {
    const size_t start = static_cast<size_t>(c * n_ctx);
    kv->release(0);
    TM_TRY(kv->reserve(0, n_ctx));
    batch.clear();
    for (int32_t j = 0; j < n_ctx; ++j) {
      int32_t id = tokens[start + static_cast<size_t>(j)];
      if (j == 0 && tokenizer.add_bos() && tokenizer.bos() >= 0) id = tokenizer.bos();
      batch.add(id, j, 0, j >= first);
    }
    TM_TRY(model.forward(batch, *kv, logits));
    for (int32_t j = first; j < n_ctx - 1; ++j) {
      const float* row =
          logits.data() + static_cast<size_t>(j - first) * static_cast<size_t>(n_vocab);
      nll += negative_log_likelihood(row, n_vocab, tokens[start + static_cast<size_t>(j) + 1]);
      ++result.n_scored;
    }
    if (options.on_chunk)
      options.on_chunk(c + 1, result.n_chunks,
                       std::exp(nll / static_cast<double>(result.n_scored)));
  }
  kv->release(0);
  result.seconds = now_seconds() - t0;
  result.ppl = std::exp(nll / static_cast<double>(result.n_scored));
  return result;
}

}  // namespace tmill::engine
