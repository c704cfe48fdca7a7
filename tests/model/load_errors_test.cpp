// Loading models that are not runnable must give errors that say exactly what is wrong.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "backend/device.h"
#include "gguf/gguf.h"
#include "model/model.h"

namespace tmill::model {
namespace {

// A tiny, well-formed model of `arch` (random F32 weights) unless parts are left out.
struct TinySpec {
  std::string arch = "llama";
  bool with_output_norm = true;
  bool with_layer1_ffn_up = true;
  int64_t q_rows = 64;  // wrong on purpose when != n_head*head_dim
  std::function<void(gguf::Writer&)> extra_metadata;
};

std::vector<uint8_t> make_model(const TinySpec& spec) {
  const int64_t d = 64, ff = 96, vocab = 50, layers = 2;
  gguf::Writer w;
  w.add_string("general.architecture", spec.arch);
  w.add_uint32(spec.arch + ".embedding_length", d);
  w.add_uint32(spec.arch + ".block_count", layers);
  w.add_uint32(spec.arch + ".feed_forward_length", ff);
  w.add_uint32(spec.arch + ".attention.head_count", 4);
  w.add_uint32(spec.arch + ".attention.head_count_kv", 2);
  w.add_float32(spec.arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  if (spec.extra_metadata) spec.extra_metadata(w);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 0.1f);
  auto add = [&](const std::string& name, std::vector<int64_t> ne) {
    int64_t n = 1;
    for (int64_t x : ne) n *= x;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = ne.size() == 1 ? 1.0f : nd(rng);
    const auto* bytes = reinterpret_cast<const uint8_t*>(v.data());
    EXPECT_TRUE(w.add_tensor(name, DType::F32, ne, {bytes, v.size() * 4}).ok());
  };
  add("token_embd.weight", {d, vocab});
  if (spec.with_output_norm) add("output_norm.weight", {d});
  for (int il = 0; il < layers; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    add(p + "attn_norm.weight", {d});
    add(p + "attn_q.weight", {d, spec.q_rows});
    add(p + "attn_k.weight", {d, 32});
    add(p + "attn_v.weight", {d, 32});
    add(p + "attn_output.weight", {64, d});
    add(p + "ffn_norm.weight", {d});
    add(p + "ffn_gate.weight", {d, ff});
    if (il != 1 || spec.with_layer1_ffn_up) add(p + "ffn_up.weight", {d, ff});
    add(p + "ffn_down.weight", {ff, d});
  }
  return w.to_bytes();
}

Expected<std::unique_ptr<Model>> load_bytes(const std::vector<uint8_t>& bytes,
                                            backend::Device& dev) {
  TM_ASSIGN(gguf::File f, gguf::File::parse(bytes));
  return Model::load(std::move(f), dev);
}

TEST(ModelLoad, TinyLlamaLoadsAndRuns) {
  auto dev = std::move(backend::create_device("cpu", {}).value());
  const auto bytes = make_model({});
  auto m = load_bytes(bytes, *dev);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ((*m)->hparams().n_vocab, 50);
  EXPECT_EQ((*m)->hparams().head_dim, 16);
  auto kv = (*m)->create_kv_cache(8);
  ASSERT_TRUE(kv.ok());
  ASSERT_TRUE((*kv)->reserve(0, 3).ok());
  Batch b;
  b.add(1, 0, 0, false);
  b.add(7, 1, 0, false);
  b.add(9, 2, 0, true);
  std::vector<float> logits(50);
  ASSERT_TRUE((*m)->forward(b, **kv, logits).ok());
  for (float x : logits) EXPECT_TRUE(std::isfinite(x));
}

TEST(ModelLoad, UnsupportedArchitectureListsSupportedOnes) {
  auto dev = std::move(backend::create_device("cpu", {}).value());
  TinySpec spec;
  spec.arch = "mamba";
  auto m = load_bytes(make_model(spec), *dev);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message,
            "unsupported model architecture 'mamba' (supported: llama, qwen2, qwen3, gemma3)");
}

TEST(ModelLoad, MissingTensorsAreAllListed) {
  auto dev = std::move(backend::create_device("cpu", {}).value());
  TinySpec spec;
  spec.with_output_norm = false;
  spec.with_layer1_ffn_up = false;
  auto m = load_bytes(make_model(spec), *dev);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message,
            "model is missing 2 tensor(s): output_norm.weight, blk.1.ffn_up.weight");
}

TEST(ModelLoad, ArchitectureSpecificTensorsAreRequired) {
  auto dev = std::move(backend::create_device("cpu", {}).value());
  TinySpec spec;
  spec.arch = "qwen3";  // needs per-head Q/K norms the llama-shaped file lacks
  auto m = load_bytes(make_model(spec), *dev);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("blk.0.attn_q_norm.weight"), std::string::npos)
      << m.error().message;
  EXPECT_NE(m.error().message.find("blk.0.attn_k_norm.weight"), std::string::npos);
}

TEST(ModelLoad, MisshapenTensorIsNamedWithBothShapes) {
  auto dev = std::move(backend::create_device("cpu", {}).value());
  TinySpec spec;
  spec.q_rows = 48;
  auto m = load_bytes(make_model(spec), *dev);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(
      m.error().message.find("tensor 'blk.0.attn_q.weight' has shape [64, 48], expected [64, 64]"),
      std::string::npos)
      << m.error().message;
}

TEST(ModelLoad, OptionalHyperParametersAreRead) {
  auto dev = std::move(backend::create_device("cpu", {}).value());
  TinySpec spec;
  spec.extra_metadata = [](gguf::Writer& w) {
    w.add_float32("llama.rope.scale_linear", 4.0f);  // a factor without a scaling type: linear
    w.add_float32("llama.final_logit_softcapping", 2.0f);
  };
  const auto bytes = make_model(spec);  // parse() borrows the bytes: keep them alive
  auto m = load_bytes(bytes, *dev);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_FLOAT_EQ((*m)->hparams().rope_freq_scale, 0.25f);
  EXPECT_FLOAT_EQ((*m)->hparams().final_logit_softcap, 2.0f);
  auto kv = (*m)->create_kv_cache(4);
  ASSERT_TRUE(kv.ok());
  ASSERT_TRUE((*kv)->reserve(0, 1).ok());
  Batch b;
  b.add(3, 0, 0, true);
  std::vector<float> logits(50);
  ASSERT_TRUE((*m)->forward(b, **kv, logits).ok());
  for (float x : logits) EXPECT_LE(std::fabs(x), 2.0f);  // softcapped

  spec.extra_metadata = [](gguf::Writer& w) { w.add_string("llama.rope.scaling.type", "yarn"); };
  auto yarn = load_bytes(make_model(spec), *dev);
  ASSERT_FALSE(yarn.ok());
  EXPECT_NE(yarn.error().message.find("rope scaling type 'yarn' is not supported"),
            std::string::npos);
}

TEST(ModelLoad, MissingHyperParameterIsNamed) {
  auto dev = std::move(backend::create_device("cpu", {}).value());
  gguf::Writer w;
  w.add_string("general.architecture", "llama");
  w.add_uint32("llama.embedding_length", 64);
  auto m = load_bytes(w.to_bytes(), *dev);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, "model metadata is missing 'llama.block_count'");
}

}  // namespace
}  // namespace tmill::model
