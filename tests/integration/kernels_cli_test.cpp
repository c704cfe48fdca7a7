// The --kernels and --no-repack ablation switches: every CPU kernel family (int16-activation
// kernels over packed panels or over the file's rows, int8 activations over packed panels, f32
// SIMD, scalar reference) gives the same logits within the engine-core tolerance, on the
// synthetic models whose llama.cpp logits are known. The int16 families stay within 1e-5 of
// the scalar kernels' cosine; int8 rounds activations as llama.cpp does, so within 1e-4. Five
// tokens keep the forward pass on the decode-sized (<= 8 rows) kernels, where the int16 path is
// used.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/test_support.h"

namespace {

const std::string kBin = TOKENMILL_BINARY;
const std::string kSynthetic = std::string(TOKENMILL_SHARED_FIXTURES) + "/synthetic/";
constexpr size_t kVocab = 4096;
constexpr size_t kTokens = 5;

using tmill::testing::run_shell;

tmill::testing::CommandResult run_logits(const std::string& model, const std::string& tokens,
                                         const std::string& kernels, const std::string& out) {
  return run_shell(kBin + " logits -m " + model + " --tokens " + tokens + " --out " + out +
                   " -t 2 --kernels " + kernels + " 2>&1");
}

class KernelFamilies : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelFamilies, AgreeWithEachOtherAndLlamaCpp) {
  const std::string model = kSynthetic + "tiny-" + GetParam() + ".gguf";
  const auto ref = tmill::testing::read_f32_file(kSynthetic + "tiny-" + GetParam() + ".logits");
  ASSERT_GE(ref.size(), kTokens * kVocab);
  const std::string tokens = tmill::testing::token_list(kSynthetic + "tokens.csv", kTokens);
  std::vector<std::vector<float>> results;
  const std::vector<std::string> families = {"auto", "auto --no-repack", "f32", "int8", "scalar"};
  for (const std::string& kernels : families) {
    std::string tag = kernels;
    for (char& c : tag)
      if (c == ' ') c = '_';
    const std::string out = testing::TempDir() + "/tm_kernels_" + GetParam() + "_" + tag;
    const auto r = run_logits(model, tokens, kernels, out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    results.push_back(tmill::testing::read_f32_file(out));
    ASSERT_EQ(results.back().size(), kTokens * kVocab);
  }
  for (size_t row = 0; row < kTokens; ++row) {
    const float* want = ref.data() + row * kVocab;
    const float* scalar = results.back().data() + row * kVocab;
    for (size_t k = 0; k < results.size(); ++k) {
      const float* got = results[k].data() + row * kVocab;
      EXPECT_GT(tmill::testing::cosine(got, want, kVocab), 0.999)
          << "kernels " << families[k] << " row " << row;
      EXPECT_GT(tmill::testing::cosine(got, scalar, kVocab),
                families[k] == "int8" ? 0.9999 : 0.99999)
          << "kernels " << families[k] << " vs scalar, row " << row;
      EXPECT_EQ(tmill::testing::argmax(got, kVocab), tmill::testing::argmax(scalar, kVocab))
          << "kernels " << families[k] << " row " << row;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Synthetic, KernelFamilies,
                         ::testing::Values("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K",
                                           "Q6_K", "F16"));

TEST(KernelFamilies, UnknownFamilyIsACleanError) {
  const auto r = run_logits(kSynthetic + "tiny-Q4_1.gguf", "1,2", "avx9000",
                            testing::TempDir() + "/tm_kernels_bad");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--kernels"), std::string::npos) << r.output;
}

// On a real model, greedy generation (prompt through the prefill kernels, then 48 decode steps
// through the packed / unpacked int16, f32 and scalar decode kernels) gives the same text with
// every family of int16 precision or better (int8's agreement is measured against references
// in tests/model/reference_test.cpp).
TEST(KernelFamilies, ShippedModelGreedyTextIsIdentical) {
  const std::string model = tmill::testing::models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::ifstream(model).good()) {
    if (tmill::testing::models_required()) FAIL() << "missing " << model;
    GTEST_SKIP() << "shipped model not downloaded (scripts/fetch-models)";
  }
  std::string first;
  for (const std::string kernels : {"auto", "auto --no-repack", "f32", "scalar"}) {
    const auto r = run_shell(kBin + " run -m " + model +
                             " -p 'The three most useful sorting algorithms are' -n 48 --temp 0 "
                             "-t 2 --kernels " +
                             kernels + " 2>/dev/null");
    ASSERT_EQ(r.exit_code, 0) << kernels;
    const std::string& text = r.output;
    ASSERT_GT(text.size(), 60u) << kernels;
    if (first.empty()) first = text;
    EXPECT_EQ(text, first) << "kernels " << kernels;
  }
}

}  // namespace
