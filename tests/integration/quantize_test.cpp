// `tokenmill quantize` end to end: quantize the tiny F32 llama model of ../shared/fixtures to
// Q8_0 and Q4_K_M, check the output loads (`inspect`), has the expected tensor types and
// metadata, and gives logits close to the F32 model's; bad invocations fail clearly.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/test_support.h"

namespace {

const std::string kBin = TOKENMILL_BINARY;
const std::string kSynthetic = std::string(TOKENMILL_SHARED_FIXTURES) + "/synthetic/";
const std::string kF32 = kSynthetic + "tiny-F32.gguf";

using Result = tmill::testing::CommandResult;  // output: stdout and stderr

Result tokenmill(const std::string& args) {
  return tmill::testing::run_shell(kBin + " " + args + " 2>&1");
}

std::vector<float> logits_of(const std::string& model) {
  const std::string out = tmill::testing::unique_temp_path("tm_quantize_logits", ".bin");
  const Result r =
      tokenmill("logits -m " + model + " --tokens " +
                tmill::testing::token_list(kSynthetic + "tokens.csv") + " --out " + out + " -t 2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return tmill::testing::read_f32_file(out);
}

// The type column of `inspect`'s tensor table for `name`.
std::string type_in(const std::string& inspect_output, const std::string& name) {
  const size_t at = inspect_output.find("  " + name + " ");
  if (at == std::string::npos) return "";
  const size_t start = inspect_output.find_first_not_of(' ', at + 2 + name.size());
  return inspect_output.substr(start, inspect_output.find(' ', start) - start);
}

// The last word of `inspect`'s metadata line for `key`.
std::string metadata_value(const std::string& inspect_output, const std::string& key) {
  const size_t at = inspect_output.find("  " + key + " ");
  if (at == std::string::npos) return "";
  const std::string line = inspect_output.substr(at, inspect_output.find('\n', at) - at);
  return line.substr(line.find_last_of(' ') + 1);
}

struct Case {
  const char* type;
  double min_cosine;   // per position, against the F32 model's logits
  double mean_cosine;  // over the 64 positions
  const char* attn_q_type;
  const char* attn_v1_type;  // the last of 2 layers: use_more_bits -> Q6_K in Q4_K_M
  const char* embd_type;     // tied output: Q6_K unless the type is Q8_0
  const char* file_type;
};

class Quantize : public ::testing::TestWithParam<Case> {};

TEST_P(Quantize, OutputLoadsAndLogitsStayClose) {
  const Case& c = GetParam();
  const std::string out = testing::TempDir() + "/tm_quantize_" + c.type + ".gguf";
  std::remove(out.c_str());
  const Result q = tokenmill("quantize " + kF32 + " " + out + " " + c.type + " -t 2");
  ASSERT_EQ(q.exit_code, 0) << q.output;
  EXPECT_NE(q.output.find("[  20/  20]"), std::string::npos) << q.output;      // per-tensor lines
  EXPECT_NE(q.output.find("bits per weight"), std::string::npos) << q.output;  // summary

  const Result info = tokenmill("inspect " + out);
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_EQ(type_in(info.output, "blk.1.attn_q.weight"), c.attn_q_type) << info.output;
  EXPECT_EQ(type_in(info.output, "blk.1.attn_v.weight"), c.attn_v1_type) << info.output;
  EXPECT_EQ(type_in(info.output, "token_embd.weight"), c.embd_type) << info.output;
  EXPECT_EQ(type_in(info.output, "blk.0.attn_norm.weight"), "F32") << info.output;
  EXPECT_EQ(metadata_value(info.output, "general.file_type"), c.file_type) << info.output;
  EXPECT_EQ(metadata_value(info.output, "general.quantization_version"), "2") << info.output;
  EXPECT_NE(info.output.find("tokenizer.ggml.tokens"), std::string::npos);  // metadata copied

  const auto ref = logits_of(kF32);
  const auto got = logits_of(out);
  ASSERT_EQ(ref.size(), got.size());
  ASSERT_EQ(ref.size(), size_t{64} * 4096);
  double worst = 1.0, mean = 0.0;
  for (size_t row = 0; row < 64; ++row) {
    const double cos = tmill::testing::cosine(&ref[row * 4096], &got[row * 4096], 4096);
    worst = std::min(worst, cos);
    mean += cos / 64.0;
  }
  RecordProperty("min_cosine", std::to_string(worst));
  EXPECT_GE(worst, c.min_cosine) << c.type;
  EXPECT_GE(mean, c.mean_cosine) << c.type;
  std::remove(out.c_str());
}

// Measured on this random-weight model (min / mean cosine over positions): Q8_0 0.99985 /
// 0.99993, Q4_K_M 0.98978 / 0.99428; llama-quantize's own Q4_K_M file gives 0.98998 / 0.99432
// and its Q8_0 file is byte-identical in its tensors. Bounds leave a margin below ours.
INSTANTIATE_TEST_SUITE_P(
    Mixes, Quantize,
    ::testing::Values(Case{"Q8_0", 0.9995, 0.9998, "Q8_0", "Q8_0", "Q8_0", "7"},
                      Case{"Q4_K_M", 0.985, 0.992, "Q4_K", "Q6_K", "Q6_K", "15"}),
    [](const auto& p) { return std::string(p.param.type); });

TEST(QuantizeErrors, BadInvocationsFailWithClearMessages) {
  const std::string out = tmill::testing::unique_temp_path("tm_quantize_bad", ".gguf");
  Result r = tokenmill("quantize " + kF32 + " " + out + " Q4_K_X");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown quantization type 'Q4_K_X'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Q4_K_M"), std::string::npos) << r.output;  // lists the valid ones

  r = tokenmill("quantize /nonexistent/model.gguf " + out + " Q8_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/model.gguf"), std::string::npos) << r.output;

  r = tokenmill("quantize " + kF32 + " /nonexistent-dir/out.gguf Q8_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot write output '/nonexistent-dir/out.gguf'"), std::string::npos)
      << r.output;

  // An already quantized model is refused unless asked for.
  r = tokenmill("quantize " + kSynthetic + "tiny-Q4_0.gguf " + out + " Q4_K_M");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already quantized (Q4_0)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--allow-requantize"), std::string::npos) << r.output;
  r = tokenmill("quantize " + kSynthetic + "tiny-Q4_0.gguf " + out + " Q8_0 --allow-requantize");
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // Not a GGUF file.
  r = tokenmill("quantize " + kSynthetic + "tokens.csv " + out + " Q8_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("error:"), std::string::npos) << r.output;

  // Missing arguments: CLI usage error, non-zero.
  r = tokenmill("quantize " + kF32);
  EXPECT_NE(r.exit_code, 0);
  std::remove(out.c_str());
}

}  // namespace
