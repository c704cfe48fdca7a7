// A loaded decoder-only transformer: hyper-parameters, weights on a device, and forward().
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/device.h"
#include "gguf/gguf.h"
#include "model/batch.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace tmill::model {

struct ModelOptions {
  int32_t max_batch_tokens = 256;  // tokens per forward chunk (activation buffers are sized by it)
};

class Model {
 public:
  // The File is kept alive by the model: weights point into its mapping.
  static Expected<std::unique_ptr<Model>> load(gguf::File file, backend::Device& device,
                                               const ModelOptions& options = {});

  const HParams& hparams() const { return hp_; }
  const gguf::File& file() const { return file_; }
  backend::Device& device() { return device_; }

  // Runs every token of `batch` through the model, writing K/V into `kv` at each token's slot
  // (the caller reserves blocks first), and writes one row of n_vocab logits per token with
  // want_logits set, in batch order, into `logits` (size >= n_logits * n_vocab).
  // Tokens of one sequence must appear in position order; a token sees its own sequence's
  // positions <= its own.
  Status forward(const Batch& batch, KvCache& kv, std::span<float> logits);

  Expected<std::unique_ptr<KvCache>> create_kv_cache(int32_t n_ctx_tokens,
                                                     int32_t block_size = kDefaultKvBlockSize);

 private:
  Model(gguf::File file, backend::Device& device, HParams hp, Weights w, ModelOptions options);
  Status ensure_buffers();
  Status forward_chunk(const Batch& batch, size_t begin, size_t end, KvCache& kv,
                       float*& logits_out);

  gguf::File file_;
  backend::Device& device_;
  HParams hp_;
  Weights w_;
  ModelOptions options_;

  // Activation buffers for up to max_batch_tokens tokens, allocated once.
  std::unique_ptr<backend::Buffer> arena_;
  float* x_ = nullptr;       // [n][n_embd] residual stream
  float* h_ = nullptr;       // [n][n_embd] normalized input / block output
  float* q_ = nullptr;       // [n][n_head*hd]
  float* k_ = nullptr;       // [n][n_kv*hd]
  float* v_ = nullptr;       // [n][n_kv*hd]
  float* att_ = nullptr;     // [n][n_head*hd]
  float* gate_ = nullptr;    // [n][n_ff]
  float* up_ = nullptr;      // [n][n_ff]
  float* logits_ = nullptr;  // [kLogitRows][n_vocab]
  // Per-chunk token placement (cache slot, attention view) and the rows that want logits.
  std::vector<int32_t> slots_;
  std::vector<backend::AttentionToken> att_tokens_;
  std::vector<int64_t> logit_rows_;
};

}  // namespace tmill::model
