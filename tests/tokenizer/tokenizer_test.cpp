// Unit tests on hand-built vocabularies: merge order, byte fallback, special tokens,
// streaming, UTF-8 handling, malformed input and metadata errors.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "gguf/gguf.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace tmill::tok {
namespace {

// ---- helpers ----------------------------------------------------------------------------

std::string gpt2_char(uint8_t b) {
  std::string s;
  append_utf8(s, byte_to_gpt2_codepoint(b));
  return s;
}

// Byte-level BPE vocab: the 256 byte characters, then the merge results, then specials.
Vocab bpe_vocab(const std::vector<std::string>& merges,
                const std::vector<std::string>& controls = {},
                const std::vector<std::string>& user_defined = {}) {
  Vocab v;
  v.model = ModelKind::Bpe;
  v.pre = "gpt-2";
  for (int b = 0; b < 256; ++b) v.tokens.push_back(gpt2_char(static_cast<uint8_t>(b)));
  for (const std::string& m : merges) {
    const size_t space = m.find(' ');
    v.tokens.push_back(m.substr(0, space) + m.substr(space + 1));
    v.merges.push_back(m);
  }
  v.types.assign(v.tokens.size(), TokenType::Normal);
  for (const std::string& c : controls) {
    v.tokens.push_back(c);
    v.types.push_back(TokenType::Control);
  }
  for (const std::string& u : user_defined) {
    v.tokens.push_back(u);
    v.types.push_back(TokenType::UserDefined);
  }
  return v;
}

Tokenizer make(Vocab v) {
  auto t = Tokenizer::from_vocab(std::move(v));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return std::move(t.value());
}

// SPM vocab: <unk> <s> </s>, 256 byte tokens, then (piece, score) pairs.
Vocab spm_vocab(const std::vector<std::pair<std::string, float>>& pieces) {
  Vocab v;
  v.model = ModelKind::Spm;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
  v.scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.tokens.push_back(name);
    v.types.push_back(TokenType::Byte);
    v.scores.push_back(0);
  }
  for (const auto& [piece, score] : pieces) {
    v.tokens.push_back(piece);
    v.types.push_back(TokenType::Normal);
    v.scores.push_back(score);
  }
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  v.add_space_prefix = true;
  return v;
}

std::vector<std::string> pieces(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(t.token_piece(id));
  return out;
}

using Strings = std::vector<std::string>;

// ---- UTF-8 --------------------------------------------------------------------------------

Utf8Scan scan(std::string_view s) {
  return scan_utf8(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(Utf8, ClassifiesWellFormedAndIllFormedSequences) {
  EXPECT_EQ(scan("a").kind, Utf8Kind::Valid);
  EXPECT_EQ(scan("\xC3\xA9").length, 2u);
  EXPECT_EQ(scan("\xE2\x82\xAC").length, 3u);
  EXPECT_EQ(scan("\xF0\x9F\xA6\x99").length, 4u);
  EXPECT_EQ(scan("\xE2\x82").kind, Utf8Kind::Incomplete);
  EXPECT_EQ(scan("\xF0\x9F").kind, Utf8Kind::Incomplete);
  // Overlong, surrogate, above U+10FFFF, stray continuation, bad lead bytes.
  for (std::string_view bad : {"\xC0\x80", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                               "\x80", "\xFF", "\xF5\x80"}) {
    EXPECT_EQ(scan(bad).kind, Utf8Kind::Invalid) << bad.size();
  }
  EXPECT_EQ(scan("\xE2\x82x").length, 2u);  // maximal subpart: the two valid-so-far bytes
}

TEST(Utf8, SanitizeReplacesEachIllFormedSubpart) {
  EXPECT_EQ(sanitize_utf8("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(sanitize_utf8("a\xFF"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(sanitize_utf8("\xE2\x82x"),
            "\xEF\xBF\xBD"
            "x");
  EXPECT_EQ(sanitize_utf8("\xF0\x9F"), "\xEF\xBF\xBD");
}

TEST(Utf8, Gpt2ByteMapIsABijection) {
  EXPECT_EQ(byte_to_gpt2_codepoint(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(byte_to_gpt2_codepoint('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(byte_to_gpt2_codepoint('a'), static_cast<uint32_t>('a'));
  std::vector<bool> seen(512, false);
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = byte_to_gpt2_codepoint(static_cast<uint8_t>(b));
    ASSERT_LT(cp, 512u);
    EXPECT_FALSE(seen[cp]);
    seen[cp] = true;
    EXPECT_EQ(gpt2_codepoint_to_byte(cp), b);
  }
  EXPECT_EQ(gpt2_codepoint_to_byte(0x4E00), -1);
}

// ---- pre-tokenizers ---------------------------------------------------------------------

TEST(PreTokenizer, UnknownNameListsSupportedOnes) {
  auto pre = PreTokenizer::create("no-such-pre");
  ASSERT_FALSE(pre.ok());
  EXPECT_NE(pre.error().message.find("no-such-pre"), std::string::npos);
  EXPECT_NE(pre.error().message.find("smollm"), std::string::npos);
  EXPECT_NE(pre.error().message.find("llama3"), std::string::npos);
  auto empty = PreTokenizer::create("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->name(), "default");
}

TEST(PreTokenizer, EverySupportedNameCompiles) {
  for (std::string_view name : supported_pre_tokenizers()) {
    auto pre = PreTokenizer::create(name);
    EXPECT_TRUE(pre.ok()) << name << ": " << (pre.ok() ? "" : pre.error().message);
  }
}

std::vector<std::string> split(std::string_view pre_name, std::string_view text) {
  auto pre = PreTokenizer::create(pre_name);
  EXPECT_TRUE(pre.ok());
  std::vector<std::string_view> words;
  pre->split(text, words);
  return {words.begin(), words.end()};
}

TEST(PreTokenizer, SplitsLikeTheModels) {
  EXPECT_EQ(split("gpt-2", "Hello world, it's 2024!  ok"),
            (Strings{"Hello", " world", ",", " it", "'s", " 2024", "!", " ", " ok"}));
  EXPECT_EQ(split("smollm", "ab 123"), (Strings{"ab", " ", "1", "2", "3"}));
  EXPECT_EQ(split("llama3", "I'M 12345\n\n x"),
            (Strings{"I", "'M", " ", "123", "45", "\n\n", " x"}));
  EXPECT_EQ(split("qwen2", "a12"), (Strings{"a", "1", "2"}));
}

TEST(PreTokenizer, InvalidUtf8BytesStandAlone) {
  const std::string text =
      "ab\xFF"
      "cd \xC3";
  const auto words = split("gpt-2", text);
  std::string joined;
  for (const auto& w : words) joined += w;
  EXPECT_EQ(joined, text);
  EXPECT_EQ(words, (Strings{"ab", "\xFF", "cd", " ", "\xC3"}));
}

// ---- byte-level BPE ---------------------------------------------------------------------

TEST(Bpe, AppliesMergesByRankLeftmostFirst) {
  const std::string G = gpt2_char(' ');
  auto t = make(bpe_vocab({"b c", "a b", "a a", G + " a"}));
  // "b c" outranks "a b": abc -> a + bc.
  EXPECT_EQ(pieces(t, t.encode("abc", false, false)), (Strings{"a", "bc"}));
  // Equal ranks: the leftmost pair merges first.
  EXPECT_EQ(pieces(t, t.encode("aaa", false, false)), (Strings{"aa", "a"}));
  EXPECT_EQ(pieces(t, t.encode("aaaa", false, false)), (Strings{"aa", "aa"}));
  EXPECT_EQ(pieces(t, t.encode(" a", false, false)), (Strings{G + "a"}));
  EXPECT_EQ(t.decode(t.encode("abc aaa", false, false)), "abc aaa");
}

TEST(Bpe, RoundTripsArbitraryBytes) {
  auto t = make(bpe_vocab({"a b"}));
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(t.decode(t.encode(s, false, false)), s);
  }
}

TEST(Bpe, LongWordsAndRunsStayFast) {
  auto t = make(bpe_vocab({"a a", "aa aa", "aaaa aaaa"}));
  for (const std::string& s :
       {std::string(200000, 'a'), std::string(200000, ' '), "x" + std::string(100000, ' ') + "y"}) {
    const double t0 = now_seconds();
    const auto ids = t.encode(s, false, false);
    EXPECT_LT(now_seconds() - t0, 2.0);  // quadratic behaviour would take minutes
    EXPECT_EQ(t.decode(ids), s);
  }
}

TEST(Bpe, MissingMergesAndUnknownPreAreHandled) {
  Vocab v = bpe_vocab({"a b"});
  v.merges.push_back("zz qq");    // parts are not tokens: ignored
  v.merges.push_back("nospace");  // malformed: ignored
  EXPECT_TRUE(Tokenizer::from_vocab(v).ok());
  v.pre = "martian";
  auto bad = Tokenizer::from_vocab(v);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("martian"), std::string::npos);
}

// ---- special tokens -----------------------------------------------------------------------

TEST(Special, ParsedOnlyWhenAsked) {
  Vocab v = bpe_vocab({}, {"<|im_start|>", "<|im_end|>", "<|im_end|>x"}, {"<tool>"});
  v.bos = 256 + 0;
  v.eos = 256 + 1;
  v.add_bos = true;
  auto t = make(v);
  const int32_t start = 256, end = 257, longer = 258, tool = 259;
  const auto parsed = t.encode("<|im_start|>hi<|im_end|>", false, true);
  EXPECT_EQ(parsed.front(), start);
  EXPECT_EQ(parsed.back(), end);
  EXPECT_EQ(parsed.size(), 4u);
  const auto raw = t.encode("<|im_start|>hi<|im_end|>", false, false);
  EXPECT_EQ(std::count(raw.begin(), raw.end(), start), 0);
  EXPECT_EQ(t.decode(raw), "<|im_start|>hi<|im_end|>");
  // Longest match wins; user-defined tokens are split out even without parse_special.
  EXPECT_EQ(t.encode("<|im_end|>x", false, true), (std::vector<int32_t>{longer}));
  EXPECT_EQ(t.encode("a<tool>b", false, false).at(1), tool);
  // add_special follows add_bos / add_eos.
  EXPECT_EQ(t.encode("hi", true, false).front(), start);
  EXPECT_EQ(t.encode("hi", true, false).back(), static_cast<int32_t>('i'));
  // Control tokens are hidden by decode unless asked for; token_text shows them.
  EXPECT_EQ(t.decode(parsed), "hi");
  EXPECT_EQ(t.decode(parsed, true), "<|im_start|>hi<|im_end|>");
  EXPECT_EQ(t.token_text(end), "<|im_end|>");
  EXPECT_TRUE(t.is_eog(end));  // by name, and as the EOS
  EXPECT_FALSE(t.is_eog(start));
}

TEST(Special, Phi3SpecialsSwallowFollowingWhitespace) {
  Vocab v = bpe_vocab({}, {"<|user|>", "<s>"});
  v.model_name = "phi3";
  auto t = make(v);
  EXPECT_EQ(t.encode("<|user|>  \nhi", false, true), t.encode("<|user|>hi", false, true));
  EXPECT_NE(t.encode("<s> hi", false, true), t.encode("<s>hi", false, true));
}

// ---- SentencePiece-style ----------------------------------------------------------------

const std::vector<std::pair<std::string, float>> kSpmPieces = {
    {"\xE2\x96\x81", -1},  // ▁
    {"h", -2},
    {"e", -2},
    {"l", -2},
    {"o", -2},
    {"w", -2},
    {"r", -2},
    {"d", -2},
    {"\xE2\x96\x81h", -3},  // ▁h
    {"ll", -3},
    {"\xE2\x96\x81he", -4},
    {"llo", -4},
    {"\xE2\x96\x81hello", -5},
    {"or", -3},
    {"\xE2\x96\x81w", -3},
    {"\xE2\x96\x81wor", -6},
};

TEST(Spm, MergesByScoreWithSpacePrefix) {
  auto t = make(spm_vocab(kSpmPieces));
  EXPECT_EQ(pieces(t, t.encode("hello", false, false)), (Strings{"\xE2\x96\x81hello"}));
  EXPECT_EQ(pieces(t, t.encode("hello world", false, false)),
            (Strings{"\xE2\x96\x81hello", "\xE2\x96\x81wor", "l", "d"}));
  EXPECT_EQ(t.encode("hello", true, false).front(), 1);
  EXPECT_EQ(t.decode(t.encode("hello world", true, false)), "hello world");
  EXPECT_EQ(t.decode(t.encode(" hello", false, false)), " hello");
}

TEST(Spm, FallsBackToBytes) {
  auto t = make(spm_vocab(kSpmPieces));
  const auto p = pieces(t, t.encode("h\xC3\xA9", false, false));
  EXPECT_EQ(p, (Strings{"\xE2\x96\x81h", "<0xC3>", "<0xA9>"}));
  // Invalid UTF-8 goes through the byte tokens unchanged.
  const std::string junk = "o\xFF\xC3 l";
  EXPECT_EQ(t.decode(t.encode(junk, false, false)), junk);
}

TEST(Spm, NoSpacePrefixWhenDisabled) {
  Vocab v = spm_vocab(kSpmPieces);
  v.add_space_prefix = false;
  auto t = make(v);
  EXPECT_EQ(pieces(t, t.encode("hello", false, false)), (Strings{"h", "e", "llo"}));
  EXPECT_EQ(t.decode(t.encode(" hello", false, false)), " hello");
}

TEST(Spm, ControlPiecesAreNotFormedFromText) {
  auto t = make(spm_vocab({{"<", -1}, {">", -1}, {"s", -1}, {"<s", -1}}));
  const auto ids = t.encode("<s>", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 0);
  EXPECT_EQ(t.encode("<s>", false, true).at(0), 1);
}

// ---- streaming --------------------------------------------------------------------------

TEST(Stream, HoldsBackPartialCharacters) {
  auto t = make(spm_vocab(kSpmPieces));
  const int32_t byte0 = 3;  // <0x00>
  StreamDecoder s(t);
  EXPECT_EQ(s.push(byte0 + 0xE2), "");
  EXPECT_EQ(s.push(byte0 + 0x82), "");
  EXPECT_EQ(s.push(byte0 + 0xAC), "\xE2\x82\xAC");  // €
  EXPECT_EQ(s.push(byte0 + 0xFF), "\xEF\xBF\xBD");  // never valid: replaced at once
  EXPECT_EQ(s.push(byte0 + 0xF0), "");
  EXPECT_EQ(s.push(byte0 + 0x9F), "");
  EXPECT_EQ(s.push(byte0 + 'a'),
            "\xEF\xBF\xBD"
            "a");  // a broken sequence, then the next character
  EXPECT_EQ(s.push(byte0 + 0xC3), "");
  EXPECT_EQ(s.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(s.flush(), "");
  EXPECT_EQ(s.push(1), "");   // control token: no text
  EXPECT_EQ(s.push(-5), "");  // out of range: ignored
}

TEST(Stream, MatchesDecodeWhenStrippingLikeIt) {
  auto t = make(spm_vocab(kSpmPieces));
  const auto ids = t.encode("hello world h\xC3\xA9", true, false);
  StreamDecoder strip(t, true), keep(t);
  std::string a, b;
  for (int32_t id : ids) {
    a += strip.push(id);
    b += keep.push(id);
  }
  a += strip.flush();
  b += keep.flush();
  EXPECT_EQ(a, t.decode(ids));
  EXPECT_EQ(b, " " + t.decode(ids));  // continuation text keeps the word's leading space
}

// ---- robustness -------------------------------------------------------------------------

TEST(Robustness, BadIdsAndEmptyInput) {
  auto t = make(spm_vocab(kSpmPieces));
  EXPECT_TRUE(t.encode("", false, true).empty());
  EXPECT_EQ(t.encode("", true, false), (std::vector<int32_t>{1}));
  const int32_t bad[] = {-1, 1 << 30, t.n_vocab()};
  EXPECT_EQ(t.decode(bad), "");
  EXPECT_EQ(t.token_text(-1), "");
  EXPECT_EQ(t.token_piece(1 << 30), "");
  EXPECT_FALSE(t.is_eog(-1));
  EXPECT_EQ(t.token_type(99999999), TokenType::Undefined);
}

TEST(Robustness, VocabValidation) {
  EXPECT_FALSE(Tokenizer::from_vocab(Vocab{}).ok());
  Vocab v = spm_vocab(kSpmPieces);
  v.scores.resize(3);
  EXPECT_FALSE(Tokenizer::from_vocab(v).ok());
  v = spm_vocab(kSpmPieces);
  v.bos = 1 << 30;  // out of range: dropped, not trusted
  auto t = Tokenizer::from_vocab(v);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->bos(), -1);
  EXPECT_EQ(t->encode("h", true, false).front(), t->find_token("\xE2\x96\x81h"));
}

// ---- GGUF metadata ----------------------------------------------------------------------

Expected<Vocab> vocab_from(const gguf::Writer& w, std::vector<uint8_t>& storage) {
  storage = w.to_bytes();
  TM_ASSIGN(gguf::File file, gguf::File::parse(storage));
  return load_vocab(file);
}

TEST(LoadVocab, ReadsMetadataWithDefaults) {
  gguf::Writer w;
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.add_float32_array("tokenizer.ggml.scores", {0, 0, 0, -1});
  w.add_int32_array("tokenizer.ggml.token_type", {2, 3, 3, 1});
  w.add_string("general.name", "Phi-3 Mini");
  std::vector<uint8_t> bytes;
  auto v = vocab_from(w, bytes);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->model, ModelKind::Spm);
  EXPECT_EQ(v->bos, 1);
  EXPECT_EQ(v->eos, 2);
  EXPECT_EQ(v->unk, 0);
  EXPECT_TRUE(v->add_bos);
  EXPECT_TRUE(v->add_space_prefix);
  EXPECT_EQ(v->types[1], TokenType::Control);
  EXPECT_FLOAT_EQ(v->scores[3], -1.0f);
  EXPECT_EQ(v->model_name, "phi-3 mini");
}

TEST(LoadVocab, ExplicitKeysOverrideDefaults) {
  gguf::Writer w;
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "llama-bpe");
  w.add_string_array("tokenizer.ggml.tokens", {"a", "b", "ab"});
  w.add_string_array("tokenizer.ggml.merges", {"a b"});
  w.add_uint32("tokenizer.ggml.bos_token_id", 2);
  w.add_uint32("tokenizer.ggml.eos_token_id", 99);  // out of range: ignored
  w.add_bool("tokenizer.ggml.add_eos_token", true);
  std::vector<uint8_t> bytes;
  auto v = vocab_from(w, bytes);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->model, ModelKind::Bpe);
  EXPECT_EQ(v->bos, 2);
  EXPECT_EQ(v->eos, -1);
  EXPECT_TRUE(v->add_bos);  // llama-bpe vocabs want a BOS
  EXPECT_TRUE(v->add_eos);
  EXPECT_EQ(v->merges.size(), 1u);
}

TEST(LoadVocab, RejectsMissingOrUnsupported) {
  std::vector<uint8_t> bytes;
  {
    gguf::Writer w;
    w.add_string_array("tokenizer.ggml.tokens", {"a"});
    auto v = vocab_from(w, bytes);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("tokenizer.ggml.model"), std::string::npos);
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "bert");
    w.add_string_array("tokenizer.ggml.tokens", {"a"});
    auto v = vocab_from(w, bytes);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("WordPiece"), std::string::npos);
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string_array("tokenizer.ggml.tokens", {"a"});
    auto v = vocab_from(w, bytes);  // no merges
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("merges"), std::string::npos);
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_int32_array("tokenizer.ggml.tokens", {1, 2});
    EXPECT_FALSE(vocab_from(w, bytes).ok());
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", {"a", "b"});
    w.add_float32_array("tokenizer.ggml.scores", {1});
    EXPECT_FALSE(vocab_from(w, bytes).ok());
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string("tokenizer.ggml.pre", "martian");
    w.add_string_array("tokenizer.ggml.tokens", {"a"});
    w.add_string_array("tokenizer.ggml.merges", {});
    std::vector<uint8_t> storage = w.to_bytes();
    auto file = gguf::File::parse(storage);
    ASSERT_TRUE(file.ok());
    auto t = Tokenizer::from_gguf(*file);
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().message.find("supported"), std::string::npos);
  }
}

}  // namespace
}  // namespace tmill::tok
