// llama.cpp's tokenizer test vectors (shared/fixtures/tokenizer): each .inp string must
// encode to exactly the ids in the matching .out line (no BOS/EOS, no special parsing).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace tmill::tok {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// .inp: strings separated by "\n__ggml_vocab_test__\n" (the file also ends with one);
// .out: one line of space-separated ids per string.
std::vector<Case> read_cases(const std::string& base) {
  const std::string inp = read_all(base + ".inp");
  const std::string out = read_all(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  while (true) {
    const size_t hit = inp.find(sep, pos);
    if (hit == std::string::npos) break;
    texts.push_back(inp.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  std::vector<Case> cases;
  std::istringstream lines(out);
  std::string line;
  for (const std::string& text : texts) {
    if (!std::getline(lines, line)) break;
    Case c{text, {}};
    std::istringstream ids(line);
    int32_t id;
    while (ids >> id) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  return cases;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

class VocabVectors : public ::testing::TestWithParam<const char*> {};

// Also: byte-level BPE and byte-fallback SPM lose nothing, so decoding the ids gives the
// text back (decode removes the space SPM's add_space_prefix put in front).
TEST_P(VocabVectors, EncodesExactlyAndRoundTrips) {
  const std::string base =
      std::string(TOKENMILL_SHARED_FIXTURES) + "/tokenizer/ggml-vocab-" + GetParam() + ".gguf";
  auto file = gguf::File::open(base);
  if (!file.ok()) GTEST_SKIP() << "fixture not readable: " << file.error().message;
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  const std::vector<Case> cases = read_cases(base);
  ASSERT_GE(cases.size(), 40u);
  int passed = 0;
  for (const Case& c : cases) {
    const std::vector<int32_t> got = tok->encode(c.text, false, false);
    if (got == c.ids) {
      ++passed;
    } else {
      ADD_FAILURE() << GetParam() << ": '" << c.text << "'\n  expected " << show(c.ids)
                    << "\n  got      " << show(got);
    }
    EXPECT_EQ(tok->decode(got), c.text) << GetParam();
    EXPECT_EQ(tok->decode(tok->encode(c.text, true, false)), c.text) << GetParam();
  }
  std::printf("[ vectors  ] %s: %d/%zu\n", GetParam(), passed, cases.size());
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "starcoder", "falcon",
                                           "mpt", "refact", "deepseek-llm", "deepseek-coder"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace tmill::tok
