#include "model/weights.h"

#include <string>

#include "core/mapped_file.h"

namespace tmill::model {
namespace {

// Collects problems so one error can list everything that is wrong with a file.
class Binder {
 public:
  Binder(const gguf::File& file, backend::Device& device) : file_(file), device_(device) {}

  // A tensor with exactly these dims (ne[0] innermost). Missing -> recorded.
  Tensor require(const std::string& name, std::initializer_list<int64_t> dims) {
    auto t = lookup(name, dims);
    if (!t && file_.find_tensor(name) == nullptr) missing_.push_back(name);
    return t.value_or(Tensor{});
  }
  std::optional<Tensor> optional(const std::string& name, std::initializer_list<int64_t> dims) {
    return lookup(name, dims);
  }
  Status status() const {
    if (missing_.empty() && problems_.empty()) return Status::success();
    std::string msg;
    if (!missing_.empty()) {
      msg += "model is missing " + std::to_string(missing_.size()) + " tensor(s): ";
      for (size_t i = 0; i < missing_.size() && i < 12; ++i) msg += (i ? ", " : "") + missing_[i];
      if (missing_.size() > 12) msg += ", ...";
    }
    for (const auto& p : problems_) msg += (msg.empty() ? "" : "; ") + p;
    return Error{msg};
  }

 private:
  std::optional<Tensor> lookup(const std::string& name, std::initializer_list<int64_t> dims) {
    const gguf::TensorInfo* info = file_.find_tensor(name);
    if (info == nullptr) return std::nullopt;
    size_t i = 0;
    bool shape_ok = static_cast<size_t>(info->n_dims) == dims.size();
    for (int64_t d : dims) shape_ok = shape_ok && info->ne[i++] == d;
    if (!shape_ok) {
      std::string want, got;
      for (int64_t d : dims) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (int j = 0; j < info->n_dims; ++j) got += (j ? ", " : "") + std::to_string(info->ne[j]);
      problems_.push_back("tensor '" + name + "' has shape [" + got + "], expected [" + want + "]");
      return std::nullopt;
    }
    Tensor host;
    host.type = info->type;
    for (int j = 0; j < 4; ++j) host.ne[j] = info->ne[j];
    host.row_stride = row_bytes(info->type, info->ne[0]).value_or(0);
    host.data = const_cast<uint8_t*>(info->data);
    auto placed = device_.upload_weight(host);
    if (!placed.ok()) {
      problems_.push_back("tensor '" + name + "': " + placed.error().message);
      return std::nullopt;
    }
    // A packed copy now serves this weight's matmuls, so its pages of the file mapping would
    // only hold the weights in memory a second time: unmap them (the page cache keeps them;
    // row lookups into a tied embedding map single pages back).
    if (placed->packed != nullptr && file_.is_mapped())
      release_file_pages(info->data, static_cast<size_t>(placed->rows()) * placed->row_stride);
    // Norms, biases and frequency factors are read directly as floats by the ops.
    if (dims.size() == 1 && info->type != DType::F32) {
      problems_.push_back("tensor '" + name + "' must be F32, is " +
                          std::string(dtype_name(info->type)));
      return std::nullopt;
    }
    return *placed;
  }

  const gguf::File& file_;
  backend::Device& device_;
  std::vector<std::string> missing_;
  std::vector<std::string> problems_;
};

}  // namespace

Expected<Weights> bind_weights(const gguf::File& file, const HParams& hp, backend::Device& device) {
  Binder b(file, device);
  Weights w;
  const int64_t d = hp.n_embd, v = hp.n_vocab, hd = hp.head_dim, ff = hp.n_ff;
  const int64_t q_width = static_cast<int64_t>(hp.n_head) * hd;
  const int64_t kv_width = static_cast<int64_t>(hp.n_kv_head) * hd;
  w.token_embd = b.require("token_embd.weight", {d, v});
  w.output_norm = b.require("output_norm.weight", {d});
  if (auto out = b.optional("output.weight", {d, v})) {
    w.output = *out;
  } else {
    w.output = w.token_embd;  // tied embeddings
  }
  w.output_bias = b.optional("output.bias", {v});
  w.rope_freqs = b.optional("rope_freqs.weight", {hp.n_rot / 2});
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerWeights l;
    l.attn_norm = b.require(p + "attn_norm.weight", {d});
    l.wq = b.require(p + "attn_q.weight", {d, q_width});
    l.wk = b.require(p + "attn_k.weight", {d, kv_width});
    l.wv = b.require(p + "attn_v.weight", {d, kv_width});
    l.wo = b.require(p + "attn_output.weight", {q_width, d});
    if (hp.qkv_bias) {
      l.bq = b.require(p + "attn_q.bias", {q_width});
      l.bk = b.require(p + "attn_k.bias", {kv_width});
      l.bv = b.require(p + "attn_v.bias", {kv_width});
    }
    if (hp.qk_norm) {
      l.q_norm = b.require(p + "attn_q_norm.weight", {hd});
      l.k_norm = b.require(p + "attn_k_norm.weight", {hd});
    }
    l.ffn_norm = b.require(p + "ffn_norm.weight", {d});
    l.w_gate = b.require(p + "ffn_gate.weight", {d, ff});
    l.w_up = b.require(p + "ffn_up.weight", {d, ff});
    l.w_down = b.require(p + "ffn_down.weight", {ff, d});
    if (hp.post_norms) {
      l.post_attn_norm = b.require(p + "post_attention_norm.weight", {d});
      l.post_ffn_norm = b.require(p + "post_ffw_norm.weight", {d});
    }
    w.layers.push_back(std::move(l));
  }
  TM_TRY(b.status());
  return w;
}

}  // namespace tmill::model
