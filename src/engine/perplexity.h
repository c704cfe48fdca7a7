// Perplexity of a model over a text, computed the way llama.cpp's llama-perplexity does so the
// two can be compared:
//   tokens = tokenize(text) (with BOS when the model adds one); split into chunks of n_ctx tokens
//   (a partial last chunk is dropped); each chunk is evaluated from an empty cache, with its first
//   token replaced by BOS when the model adds one; only the second half of each chunk is scored:
//   for j in [n_ctx/2, n_ctx-1): nll += -log softmax(logits[j])[tokens[j+1]].
//   PPL = exp(total nll / scored tokens).
#pragma once

#include <functional>
#include <string_view>

#include "core/expected.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tmill::engine {

struct PerplexityOptions {
  int32_t n_ctx = 512;
  int64_t max_chunks = -1;  // <= 0: all full chunks
  // Called after each chunk with (chunks done, total chunks, running perplexity).
  std::function<void(int64_t, int64_t, double)> on_chunk;
};

struct PerplexityResult {
  double ppl = 0.0;
  int64_t n_text_tokens = 0;
  int64_t n_chunks = 0;
  int64_t n_scored = 0;
  double seconds = 0.0;
};

Expected<PerplexityResult> perplexity(model::Model& model, const tok::Tokenizer& tokenizer,
                                      std::string_view text, const PerplexityOptions& options);

}  // namespace tmill::engine
