// The synthetic llama-architecture models in every weight format against llama.cpp's logits
// (../shared/fixtures/synthetic), plus batching and KV-cache consistency on the same models.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backend/device.h"
#include "common/test_support.h"
#include "model/model.h"

namespace tmill::model {
namespace {

const std::string kDir = std::string(TOKENMILL_SHARED_FIXTURES) + "/synthetic/";
using tmill::testing::argmax;
using tmill::testing::cosine;

std::vector<int32_t> read_tokens() { return tmill::testing::read_token_csv(kDir + "tokens.csv"); }
std::vector<float> read_floats(const std::string& path) {
  return tmill::testing::read_f32_file(path);
}

struct Loaded {
  std::unique_ptr<backend::Device> device;
  std::unique_ptr<Model> model;
};

Loaded load(const std::string& format, int threads = 2) {
  Loaded l;
  backend::DeviceOptions opts;
  opts.n_threads = threads;
  auto dev = backend::create_device("cpu", opts);
  EXPECT_TRUE(dev.ok());
  l.device = std::move(dev).value();
  auto file = gguf::File::open(kDir + "tiny-" + format + ".gguf");
  EXPECT_TRUE(file.ok()) << (file.ok() ? "" : file.error().message);
  if (!file.ok()) return l;
  ModelOptions mo;
  mo.max_batch_tokens = 32;  // several chunks for 64 tokens: exercises chunking too
  auto m = Model::load(std::move(file).value(), *l.device, mo);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  if (m.ok()) l.model = std::move(m).value();
  return l;
}

std::vector<float> run_sequence(Model& m, const std::vector<int32_t>& ids) {
  auto kv = m.create_kv_cache(static_cast<int32_t>(ids.size()));
  EXPECT_TRUE(kv.ok());
  EXPECT_TRUE((*kv)->reserve(0, static_cast<int32_t>(ids.size())).ok());
  Batch b;
  for (size_t i = 0; i < ids.size(); ++i) b.add(ids[i], static_cast<int32_t>(i), 0, true);
  std::vector<float> logits(ids.size() * static_cast<size_t>(m.hparams().n_vocab));
  Status s = m.forward(b, **kv, logits);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return logits;
}

class SyntheticFormat : public ::testing::TestWithParam<std::string> {};

TEST_P(SyntheticFormat, MatchesLlamaCppLogits) {
  const std::string format = GetParam();
  Loaded l = load(format);
  ASSERT_NE(l.model, nullptr);
  const auto ids = read_tokens();
  ASSERT_EQ(ids.size(), 64u);
  const auto ours = run_sequence(*l.model, ids);
  const auto ref = read_floats(kDir + "tiny-" + format + ".logits");
  const size_t n_vocab = static_cast<size_t>(l.model->hparams().n_vocab);
  ASSERT_EQ(ref.size(), ids.size() * n_vocab);
  double cos_sum = 0;
  size_t top1 = 0;
  for (size_t p = 0; p < ids.size(); ++p) {
    cos_sum += cosine(ours.data() + p * n_vocab, ref.data() + p * n_vocab, n_vocab);
    top1 += argmax(ours.data() + p * n_vocab, n_vocab) == argmax(ref.data() + p * n_vocab, n_vocab);
  }
  const double mean_cos = cos_sum / static_cast<double>(ids.size());
  const double top1_rate = static_cast<double>(top1) / static_cast<double>(ids.size());
  const bool plain = format == "F32" || format == "F16" || format == "BF16";
  std::printf("[ %-5s ] mean cosine %.7f, top-1 agreement %.1f%%\n", format.c_str(), mean_cos,
              100 * top1_rate);
  EXPECT_GE(mean_cos, plain ? 0.9999 : 0.999);
  EXPECT_GE(top1_rate, 0.99);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, SyntheticFormat,
                         ::testing::Values("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
                                           "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"));

// Decoding one token at a time through the KV cache gives the same logits as one pass.
TEST(ModelConsistency, IncrementalDecodeMatchesFullPass) {
  Loaded l = load("Q8_0");
  ASSERT_NE(l.model, nullptr);
  Model& m = *l.model;
  const auto ids = read_tokens();
  const auto full = run_sequence(m, ids);
  const size_t n_vocab = static_cast<size_t>(m.hparams().n_vocab);
  auto kv = m.create_kv_cache(64);
  ASSERT_TRUE(kv.ok());
  ASSERT_TRUE((*kv)->reserve(7, 64).ok());
  Batch b;
  for (int i = 0; i < 40; ++i) b.add(ids[static_cast<size_t>(i)], i, 7, i == 39);
  std::vector<float> row(n_vocab);
  ASSERT_TRUE(m.forward(b, **kv, row).ok());
  EXPECT_GT(cosine(row.data(), full.data() + 39 * n_vocab, n_vocab), 0.99999);
  for (int i = 40; i < 64; ++i) {
    b.clear();
    b.add(ids[static_cast<size_t>(i)], i, 7, true);
    ASSERT_TRUE(m.forward(b, **kv, row).ok());
    EXPECT_GT(cosine(row.data(), full.data() + static_cast<size_t>(i) * n_vocab, n_vocab), 0.99999)
        << i;
  }
}

// Tokens of different sequences at different positions in one batch give the same logits as
// each sequence run alone.
TEST(ModelConsistency, MixedBatchMatchesSeparateRuns) {
  Loaded l = load("Q4_K");
  ASSERT_NE(l.model, nullptr);
  Model& m = *l.model;
  const auto ids = read_tokens();
  const std::vector<int32_t> a(ids.begin(), ids.begin() + 20);
  const std::vector<int32_t> c(ids.begin() + 30, ids.begin() + 61);
  const auto ref_a = run_sequence(m, a);
  const auto ref_c = run_sequence(m, c);
  const size_t n_vocab = static_cast<size_t>(m.hparams().n_vocab);
  auto kv = m.create_kv_cache(128);
  ASSERT_TRUE(kv.ok());
  ASSERT_TRUE((*kv)->reserve(1, 20).ok());
  ASSERT_TRUE((*kv)->reserve(2, 31).ok());
  // Prefill a[0..10) and c[0..25) together, then the rest of both interleaved.
  Batch b;
  for (int i = 0; i < 10; ++i) b.add(a[static_cast<size_t>(i)], i, 1, false);
  for (int i = 0; i < 25; ++i) b.add(c[static_cast<size_t>(i)], i, 2, false);
  std::vector<float> none;
  ASSERT_TRUE(m.forward(b, **kv, none).ok());
  b.clear();
  for (int i = 10; i < 20; ++i) b.add(a[static_cast<size_t>(i)], i, 1, true);
  for (int i = 25; i < 31; ++i) b.add(c[static_cast<size_t>(i)], i, 2, true);
  std::vector<float> out(b.n_logits() * n_vocab);
  ASSERT_TRUE(m.forward(b, **kv, out).ok());
  for (int i = 0; i < 10; ++i)
    EXPECT_GT(cosine(out.data() + static_cast<size_t>(i) * n_vocab,
                     ref_a.data() + static_cast<size_t>(10 + i) * n_vocab, n_vocab),
              0.99999);
  for (int i = 0; i < 6; ++i)
    EXPECT_GT(cosine(out.data() + static_cast<size_t>(10 + i) * n_vocab,
                     ref_c.data() + static_cast<size_t>(25 + i) * n_vocab, n_vocab),
              0.99999);
}

TEST(ModelErrors, RejectsBadBatchesWithoutCrashing) {
  Loaded l = load("F16");
  ASSERT_NE(l.model, nullptr);
  Model& m = *l.model;
  auto kv = m.create_kv_cache(32);
  ASSERT_TRUE(kv.ok());
  std::vector<float> out(static_cast<size_t>(m.hparams().n_vocab));
  Batch b;
  b.add(5, 0, 0, true);
  Status no_space = m.forward(b, **kv, out);
  ASSERT_FALSE(no_space.ok());
  EXPECT_NE(no_space.error().message.find("no KV cache space"), std::string::npos);
  ASSERT_TRUE((*kv)->reserve(0, 4).ok());
  b.clear();
  b.add(999999, 0, 0, true);
  Status bad_token = m.forward(b, **kv, out);
  ASSERT_FALSE(bad_token.ok());
  EXPECT_NE(bad_token.error().message.find("outside the vocabulary"), std::string::npos);
  Status full = (*kv)->reserve(1, 1000);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.error().message.find("KV cache full"), std::string::npos);
}

}  // namespace
}  // namespace tmill::model
