// Named GGUF tensors bound to a device, with shapes checked against the hyper-parameters.
#pragma once

#include <optional>
#include <vector>

#include "backend/device.h"
#include "gguf/gguf.h"
#include "model/hparams.h"

namespace tmill::model {

using backend::Tensor;

struct LayerWeights {
  Tensor attn_norm;                      // [n_embd]
  Tensor wq, wk, wv;                     // [n_embd] -> [n_head*hd], [n_kv*hd], [n_kv*hd]
  std::optional<Tensor> bq, bk, bv;      // Qwen2 biases
  std::optional<Tensor> q_norm, k_norm;  // [head_dim] per-head RMSNorm (Qwen3, Gemma 3)
  Tensor wo;                             // [n_head*hd] -> [n_embd]
  std::optional<Tensor> post_attn_norm;  // Gemma 3
  Tensor ffn_norm;                       // [n_embd]
  Tensor w_gate, w_up;                   // [n_embd] -> [n_ff]
  Tensor w_down;                         // [n_ff] -> [n_embd]
  std::optional<Tensor> post_ffn_norm;   // Gemma 3
};

struct Weights {
  Tensor token_embd;                  // [n_vocab][n_embd]
  Tensor output_norm;                 // [n_embd]
  Tensor output;                      // [n_vocab][n_embd]; token_embd when tied
  std::optional<Tensor> output_bias;  // [n_vocab] (some Qwen2 files)
  std::optional<Tensor> rope_freqs;   // [n_rot/2] Llama 3 frequency factors
  std::vector<LayerWeights> layers;
};

// Binds every tensor the architecture needs; the error lists all missing or misshapen tensors.
Expected<Weights> bind_weights(const gguf::File& file, const HParams& hp, backend::Device& device);

}  // namespace tmill::model
