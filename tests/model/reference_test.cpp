// The shipped models against two references, on the same ~26 prompts per model:
//
// 1. An exact float64 forward pass (tools/f64-reference.py; weights dequantized by the
//    independent gguf-py package). The bar applies here: top-1 agreement >= 98% of
//    prompt positions, greedy continuations identical up to the first near-tie (top-2 gap
//    < 0.05 in the reference), and all 64 tokens identical for all but 2 prompts.
// 2. llama.cpp (tools/llamacpp-reference). llama.cpp's quantized-activation arithmetic deviates
//    from exact by ~0.1 logit (std) on these models, so even the exact float64 forward agrees
//    with its top-1 only ~96% of the time; the floor here is calibrated to that (>= 94%), and
//    the greedy comparison is reported, not asserted.
//
// With --kernels int8 (int8 activations for packed weights, llama.cpp's precision) the exact
// bar does not apply: that family is held to llama.cpp's own distance from exact (its top-1
// agreement with float64 is ~95-96% here) with the same 94% floor, against both references.
//
// The models come from scripts/fetch-models. Without them the tests are skipped, unless
// TOKENMILL_REQUIRE_MODELS=1 (set by scripts/test), where a missing model fails.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "backend/device.h"
#include "common/test_support.h"
#include "model/model.h"

namespace tmill::model {
namespace {

using tmill::testing::models_dir;
using tmill::testing::models_required;

int32_t argmax(const float* a, int32_t n) {
  return static_cast<int32_t>(tmill::testing::argmax(a, static_cast<size_t>(n)));
}

struct Agreement {
  size_t positions = 0, top1 = 0;
  int prompts = 0, full_matches = 0;
  std::vector<std::string> diverged;  // prompts whose greedy run diverged before a near-tie

  double top1_rate() const { return static_cast<double>(top1) / static_cast<double>(positions); }
};

// What tokenmill produces for one prompt: argmax at every prompt position, and a greedy
// continuation of `steps` tokens (argmax, lowest id on ties, fed back one at a time). It does
// not depend on the reference, so it is computed once and compared with both fixtures.
struct OurRun {
  std::vector<int32_t> top1;
  std::vector<int32_t> greedy;
};

// One test's runs by prompt (a test loads one model with one kernel family).
using RunCache = std::map<std::vector<int32_t>, OurRun>;

OurRun run_prompt(Model& m, const std::vector<int32_t>& tokens, size_t steps, RunCache& cache) {
  const auto& key = tokens;
  if (auto it = cache.find(key); it != cache.end() && it->second.greedy.size() >= steps)
    return it->second;
  OurRun r;
  const int32_t n_vocab = m.hparams().n_vocab;
  const int32_t n = static_cast<int32_t>(tokens.size());
  const int32_t capacity = n + static_cast<int32_t>(steps) + 1;
  auto kv = m.create_kv_cache(capacity);
  EXPECT_TRUE(kv.ok());
  EXPECT_TRUE((*kv)->reserve(0, capacity).ok());
  Batch b;
  for (int32_t i = 0; i < n; ++i) b.add(tokens[static_cast<size_t>(i)], i, 0, true);
  std::vector<float> logits(static_cast<size_t>(n) * static_cast<size_t>(n_vocab));
  Status s = m.forward(b, **kv, logits);
  EXPECT_TRUE(s.ok()) << s.error().message;
  for (int32_t i = 0; i < n; ++i)
    r.top1.push_back(
        argmax(logits.data() + static_cast<size_t>(i) * static_cast<size_t>(n_vocab), n_vocab));
  std::vector<float> row(logits.end() - n_vocab, logits.end());
  for (size_t g = 0; g < steps; ++g) {
    const int32_t next = argmax(row.data(), n_vocab);
    r.greedy.push_back(next);
    if (g + 1 == steps) break;
    b.clear();
    b.add(next, n + static_cast<int32_t>(g), 0, true);
    EXPECT_TRUE(m.forward(b, **kv, row).ok());
  }
  cache[key] = r;
  return r;
}

// Compares top-1 per position and the greedy continuation with a fixture. The first greedy
// mismatch must not come before the reference's first near-tie (top-2 gap < near_tie); a prompt
// matches "in full" when all its greedy tokens are identical.
Agreement compare(Model& m, const nlohmann::json& fx, double near_tie, RunCache& cache) {
  Agreement a;
  for (const auto& p : fx["prompts"]) {
    ++a.prompts;
    const auto tokens = p["tokens"].get<std::vector<int32_t>>();
    const auto greedy = p["greedy"].get<std::vector<int32_t>>();
    const auto gaps = p["greedy_gap"].get<std::vector<double>>();
    const OurRun ours = run_prompt(m, tokens, greedy.size(), cache);
    const auto& top = p["top"];
    for (size_t i = 0; i < tokens.size(); ++i) {
      ++a.positions;
      a.top1 += ours.top1[i] == top[i][0][0].get<int32_t>();
    }
    size_t first_tie = greedy.size();
    for (size_t g = 0; g < greedy.size() && first_tie == greedy.size(); ++g)
      if (gaps[g] < near_tie) first_tie = g;
    size_t matched = 0;
    while (matched < greedy.size() && ours.greedy[matched] == greedy[matched]) ++matched;
    if (matched < first_tie) {
      a.diverged.push_back(p["name"].get<std::string>() + " (step " + std::to_string(matched) +
                           ", reference gap " + std::to_string(gaps[matched]) + ")");
    }
    a.full_matches += matched == greedy.size();
  }
  return a;
}

nlohmann::json load_fixture(const std::string& name) {
  const std::string path = std::string(TOKENMILL_TEST_FIXTURES) + "/reference/" + name;
  std::ifstream in(path);
  if (!in.good()) return nullptr;
  return nlohmann::json::parse(in);
}

// Parameter: "MODEL" (default kernels) or "MODEL/KERNELS".
class ShippedModel : public ::testing::TestWithParam<std::string> {
 protected:
  std::string model() const { return GetParam().substr(0, GetParam().find('/')); }
  std::string kernels() const {
    const size_t slash = GetParam().find('/');
    return slash == std::string::npos ? "auto" : GetParam().substr(slash + 1);
  }
};

// One test per model (ctest runs each test in its own process): tokenmill runs every prompt once
// and is compared with both references.
TEST_P(ShippedModel, MatchesReferences) {
  const nlohmann::json exact = load_fixture(model() + ".f64.json");
  const nlohmann::json llama = load_fixture(model() + ".json");
  ASSERT_FALSE(exact.is_null()) << "missing fixture " << model() << ".f64.json";
  ASSERT_FALSE(llama.is_null()) << "missing fixture " << model() << ".json";
  const std::string model_path = models_dir() + "/" + exact["file"].get<std::string>();
  struct stat st {};
  if (::stat(model_path.c_str(), &st) != 0) {
    if (models_required()) FAIL() << "model not found: " << model_path;
    GTEST_SKIP() << "model not found: " << model_path << " (run scripts/fetch-models)";
  }
  backend::DeviceOptions opts;
  opts.n_threads = 2;
  opts.kernels = kernels();
  auto dev = backend::create_device("cpu", opts);
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  auto file = gguf::File::open(model_path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto loaded = Model::load(std::move(file).value(), **dev);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  Model* m = loaded->get();

  RunCache runs;
  const Agreement a = compare(*m, exact, 0.05, runs);
  std::printf(
      "[ %s vs float64 ] top-1 %.2f%% of %zu positions; greedy identical in full for %d/%d; "
      "diverged before a 0.05 near-tie in %zu\n",
      GetParam().c_str(), 100 * a.top1_rate(), a.positions, a.full_matches, a.prompts,
      a.diverged.size());
  EXPECT_GE(a.prompts, 20);
  if (kernels() == "int8") {
    EXPECT_GE(a.top1_rate(), 0.94);
  } else {
    for (const auto& d : a.diverged) ADD_FAILURE() << "greedy diverged before a near-tie: " << d;
    EXPECT_GE(a.top1_rate(), 0.98);
    EXPECT_GE(a.full_matches, a.prompts - 2);
  }

  const Agreement l = compare(*m, llama, 0.05, runs);
  std::printf(
      "[ %s vs llama.cpp ] top-1 %.2f%% of %zu positions; greedy identical in full for "
      "%d/%d; diverged before a 0.05 near-tie in %zu\n",
      GetParam().c_str(), 100 * l.top1_rate(), l.positions, l.full_matches, l.prompts,
      l.diverged.size());
  EXPECT_GE(l.prompts, 20);
  EXPECT_GE(l.top1_rate(), 0.94);
}

INSTANTIATE_TEST_SUITE_P(Shipped, ShippedModel,
                         ::testing::Values("smollm2-135m", "gemma3-270m", "smollm2-135m/int8",
                                           "gemma3-270m/int8"),
                         [](const auto& p) {
                           std::string name = p.param;
                           for (char& c : name)
                             if (c == '-' || c == '/') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace tmill::model
