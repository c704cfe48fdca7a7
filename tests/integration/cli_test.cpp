// The tokenmill binary's command-line contracts: logits file format, inspect, and clear errors
// with a non-zero exit code for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/test_support.h"

namespace {

const std::string kBin = TOKENMILL_BINARY;
const std::string kSynthetic = std::string(TOKENMILL_SHARED_FIXTURES) + "/synthetic/";

using Result = tmill::testing::CommandResult;  // output: stdout, and stderr unless discarded

enum class Stderr { Merge, Discard };

// Runs `env tokenmill args` in a shell; `env` is a prefix of VAR=value assignments.
Result run(const std::string& args, const std::string& env = "",
           Stderr stderr_mode = Stderr::Merge) {
  return tmill::testing::run_shell(env + (env.empty() ? "" : " ") + kBin + " " + args +
                                   (stderr_mode == Stderr::Merge ? " 2>&1" : " 2>/dev/null"));
}

TEST(Cli, LogitsWritesRowMajorFloat32MatchingLlamaCpp) {
  const std::string tokens = tmill::testing::token_list(kSynthetic + "tokens.csv");
  const std::string out = tmill::testing::unique_temp_path("tm_logits", ".bin");
  Result r = run("logits -m " + kSynthetic + "tiny-F16.gguf --tokens " + tokens + " --out " + out +
                 " -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ours = tmill::testing::read_f32_file(out);
  const auto ref = tmill::testing::read_f32_file(kSynthetic + "tiny-F16.logits");
  ASSERT_EQ(ours.size(), ref.size());  // 64 x 4096
  for (size_t row = 0; row < 64; ++row) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < 4096; ++i) {
      const double a = ours[row * 4096 + i], b = ref[row * 4096 + i];
      ab += a * b;
      aa += a * a;
      bb += b * b;
    }
    EXPECT_GT(ab / std::sqrt(aa * bb), 0.9999) << "row " << row;
  }
}

TEST(Cli, LogitsRejectsBadTokenLists) {
  const std::string model = kSynthetic + "tiny-F32.gguf";
  Result r = run("logits -m " + model + " --tokens 1,x,3 --out /dev/null");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("'x' is not a token id"), std::string::npos) << r.output;
  r = run("logits -m " + model + " --tokens 1,99999 --out /dev/null");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("outside the vocabulary"), std::string::npos) << r.output;
}

TEST(Cli, InspectPrintsMetadataAndTensors) {
  Result r = run("inspect " + kSynthetic + "tiny-Q4_K.gguf");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("general.architecture"), std::string::npos);
  EXPECT_NE(r.output.find("blk.1.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.output.find("Q4_K"), std::string::npos);
}

TEST(Cli, MissingShippedModelSaysHowToFetchIt) {
  const Result r = run("run -m gemma3-270m -p hi", "TOKENMILL_MODELS=/nonexistent");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("scripts/fetch-models gemma3-270m"), std::string::npos) << r.output;
}

TEST(Cli, UnknownModelPathAndCorruptFilesAreCleanErrors) {
  Result r = run("run -m /nonexistent/model.gguf -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no such model file"), std::string::npos) << r.output;
  const std::string bad = tmill::testing::unique_temp_path("tm_bad", ".gguf");
  {
    std::ofstream f(bad, std::ios::binary);
    f << "GGUF\x03\x00\x00\x00garbage";
  }
  r = run("inspect " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("gguf:"), std::string::npos) << r.output;
}

TEST(Cli, BenchPrintsOneJsonObjectPerTest) {
  const Result r =
      run("bench -m " + kSynthetic + "tiny-Q8_0.gguf -p 16 -n 4 -r 2 --batch 1,3 -t 2 --json", "",
          Stderr::Discard);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> tests;
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    tests.push_back(j.at("test").get<std::string>());
    EXPECT_GT(j.at("tokens_per_s").get<double>(), 0.0);
    EXPECT_LE(j.at("min").get<double>(), j.at("tokens_per_s").get<double>());
    EXPECT_GE(j.at("max").get<double>(), j.at("tokens_per_s").get<double>());
    EXPECT_EQ(j.at("threads").get<int>(), 2);
    EXPECT_EQ(j.at("reps").get<int>(), 2);
    EXPECT_EQ(j.at("model").get<std::string>(), "tiny-Q8_0.gguf");
    if (tests.back() == "batch3") {
      EXPECT_EQ(j.at("batch").get<int>(), 3);
    }
  }
  EXPECT_EQ(tests, (std::vector<std::string>{"pp16", "tg4", "batch1", "batch3"}));
  // Decode only, lengths that are not whole KV blocks: the pool still fits every sequence.
  const Result decode_only =
      run("bench -m " + kSynthetic + "tiny-Q8_0.gguf -p 0 -n 20 -r 1 --batch 16 -t 2 --json", "",
          Stderr::Discard);
  EXPECT_EQ(decode_only.exit_code, 0) << decode_only.output;
  Result bad = run("bench -m " + kSynthetic + "tiny-Q8_0.gguf --batch 2,x");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("'x' is not a sequence count"), std::string::npos) << bad.output;
}

// --roofline: one bandwidth probe per tg repetition, and tg's fraction is a median of
// tokens/s x bytes per token / probe, so it lies between the extreme pairings.
TEST(Cli, BenchRooflineProbesBandwidthPerRepetition) {
  const Result r = run(
      "bench -m " + kSynthetic + "tiny-Q8_0.gguf -p 16 -n 8 -r 3 --batch '' -t 2 --json --roofline",
      "", Stderr::Discard);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  double tg_min = 0, tg_max = 0, pp = 0;
  bool found = false;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("test") == "tg8") {
      tg_min = j.at("min").get<double>();
      tg_max = j.at("max").get<double>();
    }
    if (j.at("test") == "pp16") pp = j.at("tokens_per_s").get<double>();
    if (j.at("test") != "roofline") continue;
    found = true;
    EXPECT_EQ(j.at("read_probes").get<int>(), 3);
    const double read_min = j.at("read_gb_per_s_min").get<double>() * 1e9;
    const double read_max = j.at("read_gb_per_s_max").get<double>() * 1e9;
    const double read = j.at("read_gb_per_s").get<double>() * 1e9;
    EXPECT_GT(read_min, 0.0);
    EXPECT_LE(read_min, read);
    EXPECT_LE(read, read_max);
    const double bytes = j.at("bytes_per_token").get<double>();
    const double fraction = j.at("tg_fraction_of_roofline").get<double>();
    EXPECT_GE(fraction, tg_min * bytes / read_max * 0.999);
    EXPECT_LE(fraction, tg_max * bytes / read_min * 1.001);
    // pp's fractions count the output matrix once per prompt, not once per prompt token.
    const double prompt_flops = j.at("prompt_flops_per_token").get<double>();
    EXPECT_GT(prompt_flops, 0.0);
    EXPECT_LT(prompt_flops, j.at("flops_per_token").get<double>());
    const double pp_flops = pp * prompt_flops;
    EXPECT_NEAR(j.at("pp_fraction_of_peak").get<double>(),
                pp_flops / (j.at("peak_gflops").get<double>() * 1e9), 1e-9);
    // With packed weights the products run on an integer dot product with its own peak.
    if (j.contains("matmul_instruction")) {
      EXPECT_NE(j.at("matmul_instruction").get<std::string>().find("dot product"),
                std::string::npos);
      EXPECT_NEAR(j.at("pp_fraction_of_matmul_peak").get<double>(),
                  pp_flops / (j.at("matmul_peak_gops").get<double>() * 1e9), 1e-9);
    }
  }
  EXPECT_TRUE(found) << r.output;
}

TEST(Cli, HelpListsCommands) {
  Result r = run("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd :
       {"run", "logits", "perplexity", "bench", "inspect", "tokenize", "detokenize"})
    EXPECT_NE(r.output.find(cmd), std::string::npos) << cmd;
}

}  // namespace
