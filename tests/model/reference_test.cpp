// The shipped models against llama.cpp (fixtures made by tools/llamacpp-reference/gen-fixtures.py):
// top-1 agreement over every prompt position, and greedy continuations identical up to the first
// near-tie in llama.cpp's logits.
//
// The models come from scripts/fetch-models. Without them the test is skipped, unless
// TOKENMILL_REQUIRE_MODELS=1 (set by scripts/test), where a missing model fails.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backend/device.h"
#include "model/model.h"

namespace tmill::model {
namespace {

std::string models_dir() {
  if (const char* env = std::getenv("TOKENMILL_MODELS"); env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.cache/tokenmill/models";
}

bool models_required() {
  const char* env = std::getenv("TOKENMILL_REQUIRE_MODELS");
  return env != nullptr && std::string(env) == "1";
}

int32_t argmax(const float* a, int32_t n) {
  return static_cast<int32_t>(std::max_element(a, a + n) - a);
}

class ReferenceModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceModel, AgreesWithLlamaCpp) {
  const std::string fixture_path =
      std::string(TOKENMILL_TEST_FIXTURES) + "/reference/" + GetParam() + ".json";
  std::ifstream in(fixture_path);
  ASSERT_TRUE(in.good()) << "missing fixture " << fixture_path;
  const nlohmann::json fx = nlohmann::json::parse(in);
  const std::string model_path = models_dir() + "/" + fx["file"].get<std::string>();
  struct stat st {};
  if (::stat(model_path.c_str(), &st) != 0) {
    if (models_required())
      FAIL() << "model not found: " << model_path << " (run scripts/fetch-models)";
    GTEST_SKIP() << "model not found: " << model_path << " (run scripts/fetch-models)";
  }
  backend::DeviceOptions opts;
  opts.n_threads = 2;
  auto dev = backend::create_device("cpu", opts);
  ASSERT_TRUE(dev.ok());
  auto file = gguf::File::open(model_path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto loaded = Model::load(std::move(file).value(), **dev);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  Model& m = **loaded;
  const int32_t n_vocab = m.hparams().n_vocab;

  size_t positions = 0, top1 = 0;
  int full_matches = 0, n_prompts = 0;
  for (const auto& p : fx["prompts"]) {
    ++n_prompts;
    const auto tokens = p["tokens"].get<std::vector<int32_t>>();
    const auto greedy = p["greedy"].get<std::vector<int32_t>>();
    const auto gaps = p["greedy_gap"].get<std::vector<double>>();
    const int32_t n = static_cast<int32_t>(tokens.size());
    auto kv = m.create_kv_cache(n + static_cast<int32_t>(greedy.size()) + 1);
    ASSERT_TRUE(kv.ok());
    ASSERT_TRUE((*kv)->reserve(0, n + static_cast<int32_t>(greedy.size()) + 1).ok());
    Batch b;
    for (int32_t i = 0; i < n; ++i) b.add(tokens[static_cast<size_t>(i)], i, 0, true);
    std::vector<float> logits(static_cast<size_t>(n) * static_cast<size_t>(n_vocab));
    Status s = m.forward(b, **kv, logits);
    ASSERT_TRUE(s.ok()) << s.error().message;
    const auto& top = p["top"];
    ASSERT_EQ(top.size(), static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
      ++positions;
      const int32_t ref = top[static_cast<size_t>(i)][0][0].get<int32_t>();
      top1 += argmax(logits.data() + static_cast<size_t>(i) * static_cast<size_t>(n_vocab),
                     n_vocab) == ref;
    }
    // Greedy continuation: compare until llama.cpp's own choice was a near-tie.
    std::vector<float> row(logits.end() - n_vocab, logits.end());
    size_t matched = 0;
    bool diverged_before_tie = false;
    for (size_t g = 0; g < greedy.size(); ++g) {
      const int32_t next = argmax(row.data(), n_vocab);
      if (gaps[g] < 0.05) break;  // near-tie: the comparison ends here
      if (next != greedy[g]) {
        diverged_before_tie = true;
        break;
      }
      ++matched;
      b.clear();
      b.add(next, n + static_cast<int32_t>(g), 0, true);
      ASSERT_TRUE(m.forward(b, **kv, row).ok());
    }
    EXPECT_FALSE(diverged_before_tie)
        << "prompt '" << p["name"].get<std::string>() << "': greedy diverged at step " << matched
        << " before any near-tie";
    full_matches += matched == greedy.size();
  }
  const double rate = static_cast<double>(top1) / static_cast<double>(positions);
  std::printf(
      "[ %s ] top-1 agreement %.2f%% over %zu positions; greedy identical in full for %d/%d "
      "prompts\n",
      GetParam().c_str(), 100 * rate, positions, full_matches, n_prompts);
  EXPECT_GE(n_prompts, 20);
  EXPECT_GE(rate, 0.98);
  EXPECT_GE(full_matches, n_prompts - 2);
}

INSTANTIATE_TEST_SUITE_P(ShippedModels, ReferenceModel,
                         ::testing::Values("smollm2-135m", "gemma3-270m"));

}  // namespace
}  // namespace tmill::model
