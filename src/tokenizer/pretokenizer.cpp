#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <initializer_list>
#include <string>

#include "tokenizer/utf8.h"

namespace tmill::tok {

// ---- the regexes -----------------------------------------------------------------------
// These are the split patterns from the models' Hugging Face tokenizer.json files (PCRE2
// understands their \p{..} classes, lookahead and (?i:...) as written), plus the
// multi-stage sequences llama.cpp uses to emulate pre-tokenizers that are not one regex
// (digit isolation, punctuation runs), so ids match the published GGUF test vectors.
namespace {

// GPT-2 (also the ByteLevel pre-tokenizer's default pattern).
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kPoro = R"( ?[^(\s|.,!?…。，、।۔،)]+)";

// DeepSeek LLM: letters of the cased scripts (written as code points), ASCII/full-width
// punctuation, trailing whitespace, CJK/Hangul runs, digit runs.
constexpr const char* kDeepseekLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
    R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})"
    R"(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
    R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D})"
    R"(\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3})"
    R"(\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
    R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D})"
    R"(\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184})"
    R"(\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D})"
    R"(\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF})"
    R"(\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F})"
    R"(\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})"
    R"(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
constexpr const char* kDeepseekPunct =
    R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
constexpr const char* kCjk = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";

struct PreSpec {
  std::initializer_list<std::string_view> names;
  std::initializer_list<const char*> regexes;
  bool ignore_merges;
};

const std::array<PreSpec, 14>& pre_specs() {
  static const std::array<PreSpec, 14> specs = {{
      // llama.cpp's fallback for BPE files without a pre-tokenizer name.
      {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", R"([0-9][0-9][0-9])"}, false},
      {{"gpt-2", "gpt2", "gpt-neox", "mpt", "olmo", "phi-2", "jais", "exaone4"}, {kGpt2}, false},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"}, {kLlama3}, true},
      {{"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, {kLlama3}, false},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {kQwen2}, false},
      {{"starcoder", "refact", "smollm", "command-r", "codeshell", "exaone", "minerva-7b"},
       {R"(\p{N})", kGpt2},
       false},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, R"([0-9][0-9][0-9])"}, false},
      {{"deepseek-llm"},
       {R"([\r\n])", kDeepseekLetters, kDeepseekPunct, R"(\s+$)", kCjk, R"(\p{N}+)"},
       false},
      {{"deepseek-coder"}, {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"}, false},
      {{"gpt-4o", "llama4"}, {kGpt4o}, false},
      {{"tekken"}, {kTekken}, true},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {kPoro}, false},
      {{"viking"}, {kPoro, R"(\p{N})"}, false},
      {{"chameleon"},
       {R"(<sentinel:[0-9]+>)", R"((IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z)", R"(([\t\n]|    |  ))",
        R"(\p{N})", R"([\p{P}!-/:-@\[-`{-~])", kGpt2},
       false},
  }};
  return specs;
}

}  // namespace

// ---- PCRE2 plumbing --------------------------------------------------------------------

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Regex() { pcre2_code_free(code); }
};

namespace {

// Per-thread match state: match data and a JIT stack larger than PCRE2's 32 KiB default,
// so long whitespace or letter runs do not hit the JIT stack limit.
struct MatchScratch {
  pcre2_match_data* data = pcre2_match_data_create(64, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  MatchScratch() {
    if (context != nullptr && jit_stack != nullptr) {
      pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

// Unicode's White_Space property, which Hugging Face's regex engine (Oniguruma) and llama.cpp
// use for \s. PCRE2 10.42's \s (with UCP) also matches U+180E MONGOLIAN VOWEL SEPARATOR, a
// format character since Unicode 6.3, which split " \u202A\u180E" differently.
constexpr std::string_view kWhiteSpace =
    R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

// The pattern with every \s and \S written as that explicit class (inside a character class
// only \s occurs in our patterns; it becomes the bare list).
std::string with_unicode_whitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (e == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

Expected<std::shared_ptr<const PreTokenizer::Regex>> compile(const char* source) {
  const std::string pattern = with_unicode_whitespace(source);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    return fail("pre-tokenizer regex failed to compile at offset ", static_cast<size_t>(offset),
                ": ", reinterpret_cast<const char*>(message));
  }
  auto regex = std::make_shared<PreTokenizer::Regex>();
  regex->code = code;
  // JIT is an optimisation: without it (unsupported CPU, no executable memory) the
  // interpreter gives identical matches.
  regex->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return std::shared_ptr<const PreTokenizer::Regex>(std::move(regex));
}

struct Piece {
  size_t begin;
  size_t end;
  bool opaque;  // an invalid UTF-8 byte: no regex may look at it
};

// Splits text[p.begin, p.end) by one regex, appending matches and the gaps between them.
void split_piece(const PreTokenizer::Regex& regex, std::string_view text, const Piece& p,
                 std::vector<Piece>& out) {
  MatchScratch& s = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + p.begin);
  const size_t length = p.end - p.begin;
  size_t last = 0;  // end of what has been emitted, relative to p.begin
  size_t pos = 0;
  while (pos < length && s.data != nullptr) {
    int rc = pcre2_match(regex.code, subject, length, pos, PCRE2_NO_UTF_CHECK, s.data, s.context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_MATCHLIMIT) {
      // Retry with the interpreter, which keeps its backtracking state on the heap.
      rc = pcre2_match(regex.code, subject, length, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s.data,
                       s.context);
    }
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) break;  // resource limit: rest stays one piece
    if (rc == PCRE2_ERROR_NOMATCH) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
    const size_t m0 = ov[0], m1 = ov[1];
    if (m0 > last) out.push_back({p.begin + last, p.begin + m0, false});
    if (m1 > m0) {
      out.push_back({p.begin + m0, p.begin + m1, false});
      last = pos = m1;
    } else {
      // An empty match is a split point; step one character to make progress.
      last = m0;
      pos = m0 + utf8_symbol_length(std::string_view(text.data() + p.begin, length), m0);
    }
  }
  if (last < length) out.push_back({p.begin + last, p.end, false});
}

}  // namespace

Expected<PreTokenizer> PreTokenizer::create(std::string_view name) {
  const std::string_view key = name.empty() ? std::string_view("default") : name;
  for (const PreSpec& spec : pre_specs()) {
    for (std::string_view n : spec.names) {
      if (n != key) continue;
      PreTokenizer pre;
      pre.name_ = std::string(key);
      pre.ignore_merges_ = spec.ignore_merges;
      for (const char* pattern : spec.regexes) {
        TM_ASSIGN(auto regex, compile(pattern));
        pre.regexes_.push_back(std::move(regex));
      }
      return pre;
    }
  }
  std::string list;
  for (std::string_view n : supported_pre_tokenizers()) {
    if (!list.empty()) list += ", ";
    list += n;
  }
  return fail("unsupported pre-tokenizer '", name, "' (tokenizer.ggml.pre); supported: ", list);
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& words) const {
  words.clear();
  thread_local std::vector<Piece> pieces, next;
  pieces.clear();
  // Stage 0: maximal valid UTF-8 runs; every invalid byte alone and opaque.
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  size_t run = 0, i = 0;
  while (i < text.size()) {
    const Utf8Scan scan = scan_utf8(bytes + i, text.size() - i);
    if (scan.kind == Utf8Kind::Valid) {
      i += scan.length;
      continue;
    }
    if (i > run) pieces.push_back({run, i, false});
    pieces.push_back({i, i + 1, true});
    run = ++i;
  }
  if (text.size() > run) pieces.push_back({run, text.size(), false});

  for (const auto& regex : regexes_) {
    next.clear();
    for (const Piece& p : pieces) {
      if (p.opaque) {
        next.push_back(p);
      } else {
        split_piece(*regex, text, p, next);
      }
    }
    pieces.swap(next);
  }
  words.reserve(pieces.size());
  for (const Piece& p : pieces) words.push_back(text.substr(p.begin, p.end - p.begin));
}

std::vector<std::string_view> supported_pre_tokenizers() {
  std::vector<std::string_view> names;
  for (const PreSpec& spec : pre_specs()) {
    for (std::string_view n : spec.names) names.push_back(n);
  }
  return names;
}

}  // namespace tmill::tok
