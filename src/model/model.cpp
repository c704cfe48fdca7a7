#include "model/model.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace tmill::model {

using backend::AttentionShape;
using backend::AttentionToken;

namespace {
constexpr int64_t kLogitRows = 16;  // logits are computed in chunks of this many rows
}

Model::Model(gguf::File file, backend::Device& device, HParams hp, Weights w, ModelOptions options)
    : file_(std::move(file)),
      device_(device),
      hp_(std::move(hp)),
      w_(std::move(w)),
      options_(options) {}

Expected<std::unique_ptr<Model>> Model::load(gguf::File file, backend::Device& device,
                                             const ModelOptions& options) {
  TM_ASSIGN(HParams hp, read_hparams(file));
  TM_ASSIGN(Weights w, bind_weights(file, hp, device));
  if (options.max_batch_tokens <= 0) return fail("max_batch_tokens must be positive");
  std::unique_ptr<Model> m(
      new Model(std::move(file), device, std::move(hp), std::move(w), options));
  TM_TRY(m->ensure_buffers());
  return m;
}

Expected<std::unique_ptr<KvCache>> Model::create_kv_cache(int32_t n_ctx_tokens,
                                                          int32_t block_size) {
  if (n_ctx_tokens <= 0) return fail("context size must be positive");
  const int32_t n_blocks = (n_ctx_tokens + block_size - 1) / block_size;
  return KvCache::create(device_, hp_, n_blocks, block_size);
}

Status Model::ensure_buffers() {
  const size_t n = static_cast<size_t>(options_.max_batch_tokens);
  const size_t d = static_cast<size_t>(hp_.n_embd);
  const size_t qw = static_cast<size_t>(hp_.n_head) * static_cast<size_t>(hp_.head_dim);
  const size_t kvw = static_cast<size_t>(hp_.n_kv_head) * static_cast<size_t>(hp_.head_dim);
  const size_t ff = static_cast<size_t>(hp_.n_ff);
  const size_t floats = n * (2 * d + 2 * qw + 2 * kvw + 2 * ff) +
                        static_cast<size_t>(kLogitRows) * static_cast<size_t>(hp_.n_vocab);
  TM_ASSIGN(arena_, device_.allocate(floats * sizeof(float)));
  float* p = static_cast<float*>(arena_->data());
  auto take = [&p](size_t count) {
    float* r = p;
    p += count;
    return r;
  };
  x_ = take(n * d);
  h_ = take(n * d);
  q_ = take(n * qw);
  att_ = take(n * qw);
  k_ = take(n * kvw);
  v_ = take(n * kvw);
  gate_ = take(n * ff);
  up_ = take(n * ff);
  logits_ = take(static_cast<size_t>(kLogitRows) * static_cast<size_t>(hp_.n_vocab));
  slots_.reserve(n);
  att_tokens_.reserve(n);
  logit_rows_.reserve(n);
  return Status::success();
}

Status Model::forward(const Batch& batch, KvCache& kv, std::span<float> logits) {
  const size_t n = batch.size();
  if (batch.positions.size() != n || batch.seqs.size() != n || batch.want_logits.size() != n)
    return fail("batch arrays have different lengths");
  if (logits.size() < batch.n_logits() * static_cast<size_t>(hp_.n_vocab))
    return fail("logits buffer too small: need ", batch.n_logits(), " rows of ", hp_.n_vocab);
  // Validate everything before touching the cache, so a bad batch changes nothing.
  for (size_t i = 0; i < n; ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= hp_.n_vocab)
      return fail("token id ", batch.tokens[i], " at batch index ", i,
                  " is outside the vocabulary (", hp_.n_vocab, " tokens)");
    if (batch.positions[i] < 0) return fail("negative position at batch index ", i);
    if (!kv.has_sequence(batch.seqs[i]) ||
        batch.positions[i] >= kv.reserved_positions(batch.seqs[i]))
      return fail("sequence ", batch.seqs[i], " has no KV cache space reserved for position ",
                  batch.positions[i]);
  }
  float* out = logits.data();
  for (size_t begin = 0; begin < n; begin += static_cast<size_t>(options_.max_batch_tokens)) {
    const size_t end = std::min(n, begin + static_cast<size_t>(options_.max_batch_tokens));
    TM_TRY(forward_chunk(batch, begin, end, kv, out));
  }
  device_.synchronize();
  return Status::success();
}

Status Model::forward_chunk(const Batch& batch, size_t begin, size_t end, KvCache& kv,
                            float*& logits_out) {
  backend::Device& dev = device_;
  const int64_t n = static_cast<int64_t>(end - begin);
  const int64_t d = hp_.n_embd;
  const int32_t hd = hp_.head_dim;
  const int64_t qw = static_cast<int64_t>(hp_.n_head) * hd;
  const int64_t kvw = static_cast<int64_t>(hp_.n_kv_head) * hd;
  auto mat = [&](float* data, int64_t cols) { return Tensor::f32_matrix(data, n, cols, &dev); };
  Tensor x = mat(x_, d), h = mat(h_, d), q = mat(q_, qw), k = mat(k_, kvw), v = mat(v_, kvw);
  Tensor att = mat(att_, qw), gate = mat(gate_, hp_.n_ff), up = mat(up_, hp_.n_ff);

  const std::span<const int32_t> ids(batch.tokens.data() + begin, static_cast<size_t>(n));
  const std::span<const int32_t> positions(batch.positions.data() + begin, static_cast<size_t>(n));
  // Per-chunk placement, in buffers reserved at load (no allocation on the per-token path).
  std::vector<int32_t>& slots = slots_;
  std::vector<AttentionToken>& att_tokens = att_tokens_;
  slots.resize(static_cast<size_t>(n));
  att_tokens.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const size_t bi = begin + static_cast<size_t>(i);
    slots[static_cast<size_t>(i)] = kv.slot(batch.seqs[bi], batch.positions[bi]);
    att_tokens[static_cast<size_t>(i)] = {batch.positions[bi],
                                          kv.block_table(batch.seqs[bi]).data()};
  }

  dev.get_rows(w_.token_embd, ids, x);
  if (hp_.embd_scale != 1.0f) dev.scale(x, hp_.embd_scale);

  // Per-head views for Q/K norm: [n * heads][hd].
  const float* freq_factors =
      w_.rope_freqs ? static_cast<const float*>(w_.rope_freqs->data) : nullptr;
  for (int32_t il = 0; il < hp_.n_layer; ++il) {
    const LayerWeights& l = w_.layers[static_cast<size_t>(il)];
    const bool swa = hp_.layer_uses_swa[static_cast<size_t>(il)];

    // Attention block: h = norm(x); q,k,v = h·W; rope; cache; attend; x += out·Wo.
    dev.rms_norm(x, l.attn_norm, hp_.rms_eps, h);
    const backend::Device::MatmulJob qkv[] = {{&l.wq, &h, &q}, {&l.wk, &h, &k}, {&l.wv, &h, &v}};
    dev.matmul_many(qkv);
    if (l.bq) {
      dev.add_bias(q, *l.bq);
      dev.add_bias(k, *l.bk);
      dev.add_bias(v, *l.bv);
    }
    if (l.q_norm) {
      dev.rms_norm(q, *l.q_norm, hp_.rms_eps, q);
      dev.rms_norm(k, *l.k_norm, hp_.rms_eps, k);
    }
    const float base = swa ? hp_.rope_base_swa : hp_.rope_base;
    const float freq_scale = swa ? 1.0f : hp_.rope_freq_scale;
    dev.rope(q, hd, hp_.n_rot, positions, base, freq_scale, freq_factors, hp_.rope_mode);
    dev.rope(k, hd, hp_.n_rot, positions, base, freq_scale, freq_factors, hp_.rope_mode);
    dev.kv_store(k, v, kv.k(il), kv.v(il), slots);
    AttentionShape shape;
    shape.n_head = hp_.n_head;
    shape.n_kv_head = hp_.n_kv_head;
    shape.head_dim = hd;
    shape.block_size = kv.block_size();
    shape.sliding_window = swa ? hp_.sliding_window : 0;
    shape.scale = hp_.attn_scale;
    dev.attention(q, kv.k(il), kv.v(il), att_tokens, shape, att);
    dev.matmul(l.wo, att, h);
    if (l.post_attn_norm) dev.rms_norm(h, *l.post_attn_norm, hp_.rms_eps, h);
    dev.add(x, h);

    // Feed-forward block: x += down(act(norm(x)·Wgate) * norm(x)·Wup).
    dev.rms_norm(x, l.ffn_norm, hp_.rms_eps, h);
    const backend::Device::MatmulJob gate_up[] = {{&l.w_gate, &h, &gate}, {&l.w_up, &h, &up}};
    dev.matmul_many(gate_up);
    dev.gated_activation(gate, up, hp_.activation, gate);
    dev.matmul(l.w_down, gate, h);
    if (l.post_ffn_norm) dev.rms_norm(h, *l.post_ffn_norm, hp_.rms_eps, h);
    dev.add(x, h);
  }

  // Output head only for rows that want logits: gather them, norm, project in chunks.
  std::vector<int64_t>& rows = logit_rows_;
  rows.clear();
  for (int64_t i = 0; i < n; ++i)
    if (batch.want_logits[begin + static_cast<size_t>(i)]) rows.push_back(i);
  for (size_t r0 = 0; r0 < rows.size(); r0 += static_cast<size_t>(kLogitRows)) {
    const int64_t m = std::min<int64_t>(kLogitRows, static_cast<int64_t>(rows.size() - r0));
    Tensor sel = Tensor::f32_matrix(h_, m, d, &dev);
    dev.copy_rows(x, std::span<const int64_t>(rows.data() + r0, static_cast<size_t>(m)), sel);
    dev.rms_norm(sel, w_.output_norm, hp_.rms_eps, sel);
    Tensor out = Tensor::f32_matrix(logits_, m, hp_.n_vocab, &dev);
    dev.matmul(w_.output, sel, out);
    if (w_.output_bias) dev.add_bias(out, *w_.output_bias);
    if (hp_.final_logit_softcap > 0.0f) dev.softcap(out, hp_.final_logit_softcap);
    dev.read_rows(out, logits_out);
    logits_out += m * hp_.n_vocab;
  }
  return Status::success();
}

}  // namespace tmill::model
