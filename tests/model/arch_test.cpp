// Tiny random-weight models of every supported architecture (llama, qwen2, qwen3, gemma3) against
// llama.cpp's logits for one 40-token sequence (tests/fixtures/arch, made by
// tools/make-arch-fixtures.py; its README lists what each model exercises).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "backend/device.h"
#include "common/test_support.h"
#include "model/model.h"

namespace tmill::model {
namespace {

const std::string kArchDir = std::string(TOKENMILL_TEST_FIXTURES) + "/arch/";

std::vector<int32_t> arch_tokens() {
  return tmill::testing::read_token_csv(kArchDir + "tokens.csv");
}
std::vector<float> arch_floats(const std::string& path) {
  return tmill::testing::read_f32_file(path);
}
using tmill::testing::argmax;
using tmill::testing::cosine;

struct ArchModel {
  std::unique_ptr<backend::Device> device;
  std::unique_ptr<Model> model;
};

ArchModel load_arch(const std::string& arch, int32_t max_batch_tokens) {
  ArchModel l;
  backend::DeviceOptions opts;
  opts.n_threads = 2;
  auto dev = backend::create_device("cpu", opts);
  EXPECT_TRUE(dev.ok());
  if (!dev.ok()) return l;
  l.device = std::move(dev).value();
  auto file = gguf::File::open(kArchDir + arch + ".gguf");
  EXPECT_TRUE(file.ok()) << (file.ok() ? "" : file.error().message);
  if (!file.ok()) return l;
  ModelOptions mo;
  mo.max_batch_tokens = max_batch_tokens;
  auto m = Model::load(std::move(file).value(), *l.device, mo);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  if (m.ok()) l.model = std::move(m).value();
  return l;
}

struct Agreement {
  double mean_cosine = 0;
  double min_cosine = 1;
  size_t top1 = 0;
  size_t first_mismatch = SIZE_MAX;
};

Agreement agreement(const std::vector<float>& ours, const std::vector<float>& ref, size_t n_pos,
                    size_t n_vocab) {
  Agreement a;
  for (size_t p = 0; p < n_pos; ++p) {
    const double c = cosine(ours.data() + p * n_vocab, ref.data() + p * n_vocab, n_vocab);
    a.mean_cosine += c;
    a.min_cosine = std::min(a.min_cosine, c);
    const bool same =
        argmax(ours.data() + p * n_vocab, n_vocab) == argmax(ref.data() + p * n_vocab, n_vocab);
    a.top1 += same;
    if (!same && a.first_mismatch == SIZE_MAX) a.first_mismatch = p;
  }
  a.mean_cosine /= static_cast<double>(n_pos);
  return a;
}

class ArchVsLlamaCpp : public ::testing::TestWithParam<std::string> {};

// The whole sequence in one forward call (chunks of 16 tokens, so chunk boundaries fall inside
// Gemma 3's 8-token window and the KV cache carries state across chunks).
TEST_P(ArchVsLlamaCpp, OnePassMatchesLogits) {
  const std::string arch = GetParam();
  ArchModel l = load_arch(arch, 16);
  ASSERT_NE(l.model, nullptr);
  Model& m = *l.model;
  EXPECT_EQ(m.hparams().arch, arch);
  const auto ids = arch_tokens();
  ASSERT_EQ(ids.size(), 40u);
  const size_t n_vocab = static_cast<size_t>(m.hparams().n_vocab);
  const auto ref = arch_floats(kArchDir + arch + ".logits");
  ASSERT_EQ(ref.size(), ids.size() * n_vocab);

  auto kv = m.create_kv_cache(static_cast<int32_t>(ids.size()));
  ASSERT_TRUE(kv.ok());
  ASSERT_TRUE((*kv)->reserve(0, static_cast<int32_t>(ids.size())).ok());
  Batch b;
  for (size_t i = 0; i < ids.size(); ++i) b.add(ids[i], static_cast<int32_t>(i), 0, true);
  std::vector<float> ours(ids.size() * n_vocab);
  const Status s = m.forward(b, **kv, ours);
  ASSERT_TRUE(s.ok()) << s.error().message;

  const Agreement a = agreement(ours, ref, ids.size(), n_vocab);
  std::printf("[ %-6s ] mean cosine %.7f (min %.7f), top-1 agreement %zu/%zu\n", arch.c_str(),
              a.mean_cosine, a.min_cosine, a.top1, ids.size());
  EXPECT_GE(a.mean_cosine, 0.9999);
  EXPECT_EQ(a.top1, ids.size()) << "first top-1 mismatch at position " << a.first_mismatch;
}

// One token per forward call through the KV cache (block size 4, so positions span many
// blocks): every step must still match llama.cpp's one-pass logits.
TEST_P(ArchVsLlamaCpp, IncrementalDecodeMatchesLogits) {
  const std::string arch = GetParam();
  ArchModel l = load_arch(arch, 4);
  ASSERT_NE(l.model, nullptr);
  Model& m = *l.model;
  const auto ids = arch_tokens();
  ASSERT_EQ(ids.size(), 40u);
  const size_t n_vocab = static_cast<size_t>(m.hparams().n_vocab);
  const auto ref = arch_floats(kArchDir + arch + ".logits");
  ASSERT_EQ(ref.size(), ids.size() * n_vocab);

  auto kv = m.create_kv_cache(static_cast<int32_t>(ids.size()), 4);
  ASSERT_TRUE(kv.ok());
  ASSERT_TRUE((*kv)->reserve(3, static_cast<int32_t>(ids.size())).ok());
  std::vector<float> ours(ids.size() * n_vocab);
  Batch b;
  for (size_t i = 0; i < ids.size(); ++i) {
    b.clear();
    b.add(ids[i], static_cast<int32_t>(i), 3, true);
    const Status s = m.forward(b, **kv, std::span<float>(ours.data() + i * n_vocab, n_vocab));
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  const Agreement a = agreement(ours, ref, ids.size(), n_vocab);
  std::printf("[ %-6s ] incremental: mean cosine %.7f (min %.7f), top-1 agreement %zu/%zu\n",
              arch.c_str(), a.mean_cosine, a.min_cosine, a.top1, ids.size());
  EXPECT_GE(a.mean_cosine, 0.9999);
  EXPECT_EQ(a.top1, ids.size()) << "first top-1 mismatch at position " << a.first_mismatch;
}

INSTANTIATE_TEST_SUITE_P(Arch, ArchVsLlamaCpp,
                         ::testing::Values("llama", "qwen2", "qwen3", "gemma3"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// The hyper-parameters read from each fixture are what the generator wrote.
TEST(ArchHParams, ReadFromFixtures) {
  struct Want {
    const char* arch;
    int32_t n_layer, n_kv_head, head_dim;
    bool qkv_bias, qk_norm, post_norms;
  };
  const Want wants[] = {{"llama", 2, 2, 16, false, false, false},
                        {"qwen2", 2, 2, 16, true, false, false},
                        {"qwen3", 2, 2, 32, false, true, false},
                        {"gemma3", 7, 1, 32, false, true, true}};
  for (const Want& w : wants) {
    SCOPED_TRACE(w.arch);
    auto file = gguf::File::open(kArchDir + std::string(w.arch) + ".gguf");
    ASSERT_TRUE(file.ok());
    auto hp = read_hparams(*file);
    ASSERT_TRUE(hp.ok()) << hp.error().message;
    EXPECT_EQ(hp->arch, w.arch);
    EXPECT_EQ(hp->n_embd, 64);
    EXPECT_EQ(hp->n_head, 4);
    EXPECT_EQ(hp->n_layer, w.n_layer);
    EXPECT_EQ(hp->n_kv_head, w.n_kv_head);
    EXPECT_EQ(hp->head_dim, w.head_dim);
    EXPECT_EQ(hp->n_vocab, 262);
    EXPECT_EQ(hp->qkv_bias, w.qkv_bias);
    EXPECT_EQ(hp->qk_norm, w.qk_norm);
    EXPECT_EQ(hp->post_norms, w.post_norms);
  }
  auto gemma = gguf::File::open(kArchDir + "gemma3.gguf");
  ASSERT_TRUE(gemma.ok());
  auto hp = read_hparams(*gemma);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->sliding_window, 8);
  const std::vector<bool> swa = {true, true, true, true, true, false, true};
  EXPECT_EQ(hp->layer_uses_swa, swa);
  EXPECT_FLOAT_EQ(hp->rope_base, 1000000.0f);
  EXPECT_FLOAT_EQ(hp->rope_base_swa, 10000.0f);
  EXPECT_FLOAT_EQ(hp->embd_scale, 8.0f);
}

}  // namespace
}  // namespace tmill::model
