#include "model/hparams.h"

#include <algorithm>
#include <cmath>

namespace tmill::model {

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> kArchs = {"llama", "qwen2", "qwen3", "gemma3"};
  return kArchs;
}

namespace {

// Reads "<arch>.<suffix>" as a positive int32.
Expected<int32_t> required_int(const gguf::File& f, const std::string& arch,
                               const std::string& suffix) {
  const std::string key = arch + "." + suffix;
  const gguf::Value* v = f.find(key);
  if (v == nullptr) return fail("model metadata is missing '", key, "'");
  if (v->as_array() != nullptr)
    return fail("metadata '", key, "' is a per-layer array; per-layer values are not supported");
  const auto value = v->as_int();
  if (!value || *value <= 0 || *value > (1 << 30))
    return fail("metadata '", key, "' must be a positive integer");
  return static_cast<int32_t>(*value);
}

int32_t optional_int(const gguf::File& f, const std::string& key, int32_t fallback) {
  const auto v = f.get_int(key);
  return v && *v > 0 && *v <= (1 << 30) ? static_cast<int32_t>(*v) : fallback;
}

float optional_float(const gguf::File& f, const std::string& key, float fallback) {
  const auto v = f.get_float(key);
  return v && std::isfinite(*v) ? static_cast<float>(*v) : fallback;
}

}  // namespace

Expected<HParams> read_hparams(const gguf::File& f) {
  HParams hp;
  const std::string* arch = f.get_string("general.architecture");
  if (arch == nullptr) return fail("model metadata is missing 'general.architecture'");
  hp.arch = *arch;
  const auto& archs = supported_architectures();
  if (std::find(archs.begin(), archs.end(), hp.arch) == archs.end()) {
    std::string list;
    for (const auto& a : archs) list += (list.empty() ? "" : ", ") + a;
    return fail("unsupported model architecture '", hp.arch, "' (supported: ", list, ")");
  }
  const std::string& a = hp.arch;
  TM_ASSIGN(hp.n_embd, required_int(f, a, "embedding_length"));
  TM_ASSIGN(hp.n_layer, required_int(f, a, "block_count"));
  TM_ASSIGN(hp.n_ff, required_int(f, a, "feed_forward_length"));
  TM_ASSIGN(hp.n_head, required_int(f, a, "attention.head_count"));
  hp.n_kv_head = optional_int(f, a + ".attention.head_count_kv", hp.n_head);
  if (hp.n_head % hp.n_kv_head != 0)
    return fail("attention.head_count (", hp.n_head, ") is not a multiple of head_count_kv (",
                hp.n_kv_head, ")");
  hp.head_dim = optional_int(f, a + ".attention.key_length", hp.n_embd / hp.n_head);
  hp.head_dim_v = optional_int(f, a + ".attention.value_length", hp.head_dim);
  if (hp.head_dim_v != hp.head_dim)
    return fail("key_length ", hp.head_dim, " != value_length ", hp.head_dim_v,
                " is not supported");
  hp.n_rot = optional_int(f, a + ".rope.dimension_count", hp.head_dim);
  if (hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
    return fail("rope.dimension_count ", hp.n_rot, " must be even and <= head dim ", hp.head_dim);
  hp.n_ctx_train = optional_int(f, a + ".context_length", 4096);
  hp.rms_eps = optional_float(f, a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  hp.rope_base = optional_float(f, a + ".rope.freq_base", 10000.0f);
  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));

  // RoPE scaling: a factor without a type means linear (older converters wrote only
  // rope.scale_linear).
  const std::string* scaling_type = f.get_string(a + ".rope.scaling.type");
  if (scaling_type != nullptr && *scaling_type != "linear" && *scaling_type != "none")
    return fail("rope scaling type '", *scaling_type,
                "' is not supported (supported: none, linear)");
  if (scaling_type == nullptr || *scaling_type == "linear") {
    const float factor = optional_float(f, a + ".rope.scaling.factor",
                                        optional_float(f, a + ".rope.scale_linear", 1.0f));
    if (factor <= 0.0f) return fail("rope.scaling.factor must be positive, is ", factor);
    hp.rope_freq_scale = 1.0f / factor;
  }
  hp.final_logit_softcap = optional_float(f, a + ".final_logit_softcapping", 0.0f);
  if (hp.final_logit_softcap < 0.0f) return fail("final_logit_softcapping must not be negative");

  // Vocab size: the embedding table's row count (metadata vocab_size is optional).
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return fail("model is missing tensor 'token_embd.weight'");
  if (embd->ne[1] <= 0 || embd->ne[1] > (1 << 30))
    return fail("token_embd.weight has a bad vocab dimension");
  hp.n_vocab = static_cast<int32_t>(embd->ne[1]);

  hp.layer_uses_swa.assign(static_cast<size_t>(hp.n_layer), false);
  if (a == "llama") {
    hp.rope_mode = backend::RopeMode::Normal;  // converters permute Q/K for adjacent pairs
  } else if (a == "qwen2") {
    hp.rope_mode = backend::RopeMode::NeoX;
    hp.qkv_bias = true;
  } else if (a == "qwen3") {
    hp.rope_mode = backend::RopeMode::NeoX;
    hp.qk_norm = true;
  } else if (a == "gemma3") {
    hp.rope_mode = backend::RopeMode::NeoX;
    hp.activation = backend::Activation::GeluTanh;
    hp.qk_norm = true;
    hp.post_norms = true;
    hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
    // Local (sliding-window) layers use their own RoPE base, 10000 unless the file says.
    hp.rope_base_swa = optional_float(f, a + ".rope.freq_base_swa", 10000.0f);
    hp.sliding_window = optional_int(f, a + ".attention.sliding_window", 0);
    const gguf::Value* pattern_value = f.find(a + ".attention.sliding_window_pattern");
    if (pattern_value != nullptr && pattern_value->as_array() != nullptr) {
      // Per-layer flags: true = sliding-window layer.
      const gguf::Array& flags = *pattern_value->as_array();
      const auto* bools = std::get_if<std::vector<bool>>(&flags.items);
      if (bools == nullptr || bools->size() != static_cast<size_t>(hp.n_layer))
        return fail("attention.sliding_window_pattern must be ", hp.n_layer, " booleans");
      for (int32_t il = 0; il < hp.n_layer; ++il)
        hp.layer_uses_swa[static_cast<size_t>(il)] =
            hp.sliding_window > 0 && (*bools)[static_cast<size_t>(il)];
    } else {
      // Every `pattern`-th layer is global, the rest slide (Gemma 3: five local, one global).
      const int32_t pattern = optional_int(f, a + ".attention.sliding_window_pattern", 6);
      for (int32_t il = 0; il < hp.n_layer; ++il)
        hp.layer_uses_swa[static_cast<size_t>(il)] =
            hp.sliding_window > 0 && (il % pattern) < pattern - 1;
    }
  }
  return hp;
}

}  // namespace tmill::model
