// PCRE2 pre-tokenization against Hugging Face's (Oniguruma) splits of the same patterns,
// committed by tools/gen-tokenizer-fixtures.py; covers llama3/qwen2/gpt-4o, which have no
// llama.cpp vocab vectors, and the engines' handling of \s, \p{..} and lookahead.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tokenizer/pretokenizer.h"

namespace tmill::tok {
namespace {

TEST(PreTokenizerReference, MatchesHuggingFaceSplits) {
  const std::string path = std::string(TOKENMILL_TEST_FIXTURES) + "/tokenizer/pretokenize.jsonl";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing " << path;
  std::map<std::string, PreTokenizer> pres;
  std::map<std::string, std::pair<int, int>> counts;  // name -> (passed, total)
  std::string line;
  std::vector<std::string_view> words;
  while (std::getline(in, line)) {
    const auto row = nlohmann::json::parse(line);
    const std::string name = row.at("pre");
    const std::string text = row.at("text");
    const auto want = row.at("words").get<std::vector<std::string>>();
    auto it = pres.find(name);
    if (it == pres.end()) {
      auto pre = PreTokenizer::create(name);
      ASSERT_TRUE(pre.ok()) << pre.error().message;
      it = pres.emplace(name, std::move(pre.value())).first;
    }
    it->second.split(text, words);
    const std::vector<std::string> got(words.begin(), words.end());
    auto& [passed, total] = counts[name];
    ++total;
    if (got == want) {
      ++passed;
    } else {
      std::string g, w;
      for (const auto& s : got) g += "[" + s + "]";
      for (const auto& s : want) w += "[" + s + "]";
      ADD_FAILURE() << name << ": '" << text << "'\n  expected " << w << "\n  got      " << g;
    }
  }
  ASSERT_FALSE(counts.empty());
  for (const auto& [name, c] : counts) {
    std::printf("[ pre      ] %s: %d/%d\n", name.c_str(), c.first, c.second);
  }
}

}  // namespace
}  // namespace tmill::tok
