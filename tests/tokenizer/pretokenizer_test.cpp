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

// \s is Unicode's White_Space, as in Hugging Face and llama.cpp: PCRE2's own \s also takes
// U+180E (a format character since Unicode 6.3), which the corpus caught.
TEST(PreTokenizer, WhitespaceIsUnicodeWhiteSpace) {
  auto pre = PreTokenizer::create("gpt-2");
  ASSERT_TRUE(pre.ok()) << pre.error().message;
  std::vector<std::string_view> words;
  pre->split(" \u202A\u180E \u3000", words);
  EXPECT_EQ(std::vector<std::string>(words.begin(), words.end()),
            (std::vector<std::string>{" \u202A\u180E", " \u3000"}));
  // Every White_Space character splits a word; none of the near misses do.
  for (const char* ws : {"\t", "\v", "\f", "\u0085", "\u00A0", "\u1680", "\u2000", "\u200A",
                         "\u2028", "\u2029", "\u202F", "\u205F", "\u3000"}) {
    pre->split(std::string("ab") + ws + "cd", words);
    EXPECT_EQ(words.size(), 3u) << ws;
  }
  for (const char* not_ws : {"\u180E", "\u200B", "\uFEFF", "\u001C", "\u2060"}) {
    pre->split(std::string("ab") + not_ws, words);
    EXPECT_EQ(words.size(), 2u) << not_ws;
  }
}

}  // namespace
}  // namespace tmill::tok
