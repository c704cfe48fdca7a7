// Model hyper-parameters from GGUF metadata, normalized across architectures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/device.h"
#include "core/expected.h"
#include "gguf/gguf.h"

namespace tmill::model {

struct HParams {
  std::string arch;  // general.architecture: llama, qwen2, qwen3, gemma3
  int32_t n_vocab = 0;
  int32_t n_embd = 0;  // model width d
  int32_t n_layer = 0;
  int32_t n_ff = 0;  // feed-forward width
  int32_t n_head = 0;
  int32_t n_kv_head = 0;    // < n_head for grouped-query attention
  int32_t head_dim = 0;     // per-head width of Q and K
  int32_t head_dim_v = 0;   // per-head width of V
  int32_t n_rot = 0;        // rotated dims per head
  int32_t n_ctx_train = 0;  // context the model was trained for
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;      // RoPE base for full-attention layers
  float rope_base_swa = 10000.0f;  // RoPE base for sliding-window layers (Gemma 3)
  float rope_freq_scale = 1.0f;    // 1/linear scaling factor (full-attention layers)
  backend::RopeMode rope_mode = backend::RopeMode::Normal;
  backend::Activation activation = backend::Activation::Silu;
  float final_logit_softcap = 0.0f;  // > 0: logits = cap * tanh(logits / cap)
  float embd_scale = 1.0f;           // Gemma multiplies embeddings by sqrt(n_embd)
  float attn_scale = 0.0f;           // q·k multiplier, 1/sqrt(head_dim) unless set
  int32_t sliding_window = 0;        // 0: none
  std::vector<bool> layer_uses_swa;  // per layer: sliding-window attention
  bool qkv_bias = false;             // Qwen2
  bool qk_norm = false;              // Qwen3, Gemma 3: RMSNorm per head on Q and K
  bool post_norms = false;           // Gemma 3: norms after attention and after the FFN
};

// Architectures this build can run.
const std::vector<std::string>& supported_architectures();

Expected<HParams> read_hparams(const gguf::File& file);

}  // namespace tmill::model
