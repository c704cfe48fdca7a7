// libFuzzer entry for the byte-level BPE tokenizer. The vocab is GPT-2's (vocab-only GGUF from
// llama.cpp's test fixtures; $TOKENMILL_FUZZ_BPE_VOCAB overrides), built once per
// pre-tokenizer so every regex sequence runs over the same merges. Input: byte 0 picks the
// pre-tokenizer and the flags, the rest is the text (any bytes, invalid UTF-8 included).
// Beyond "no crash, no hang, no sanitizer report" it checks:
//  - ids are inside the vocab, and streaming detokenization equals sanitize_utf8(decode);
//  - the round trip is lossless: GPT-2 has a token for each of the 256 bytes, so
//    decode(encode(s)) == s for every byte string, and with special tokens parsed,
//    decode(ids, render_special) == s as well;
//  - the BOS/EOS flags only add the model's BOS/EOS around the same ids.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer_fuzz_common.h"

namespace {

using tmill::fuzz::die;
using tmill::tok::Tokenizer;

constexpr const char* kTarget = "fuzz_tokenizer_bpe";

// One name per distinct regex sequence in pretokenizer.cpp.
constexpr const char* kPres[] = {"default", "gpt-2",     "llama3",       "dbrx",           "qwen2",
                                 "smollm",  "falcon",    "deepseek-llm", "deepseek-coder", "gpt-4o",
                                 "tekken",  "poro-chat", "viking",       "chameleon"};
constexpr size_t kNumPres = sizeof kPres / sizeof kPres[0];

std::vector<std::unique_ptr<Tokenizer>>& tokenizers() {
  static std::vector<std::unique_ptr<Tokenizer>> all;
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const tmill::tok::Vocab base =
      tmill::fuzz::load_vocab_or_die(kTarget, "TOKENMILL_FUZZ_BPE_VOCAB", TOKENMILL_FUZZ_BPE_VOCAB);
  if (base.model != tmill::tok::ModelKind::Bpe) {
    std::fprintf(stderr, "%s: the vocab is not BPE\n", kTarget);
    std::exit(2);
  }
  for (const char* pre : kPres) {
    tmill::tok::Vocab v = base;
    v.pre = pre;
    auto tok = Tokenizer::from_vocab(std::move(v));
    if (!tok.ok()) {
      std::fprintf(stderr, "%s: %s: %s\n", kTarget, pre, tok.error().message.c_str());
      std::exit(2);
    }
    tokenizers().push_back(std::make_unique<Tokenizer>(std::move(tok.value())));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const Tokenizer& tok = *tokenizers()[selector % kNumPres];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::vector<int32_t> ids = tok.encode(text, false, false);
  tmill::fuzz::check_ids_and_stream(kTarget, tok, text, ids);
  const std::string back = tok.decode(ids);
  if (back != text) die(kTarget, "decode(encode(s)) != s", text, tmill::fuzz::show_ids(ids));

  if (selector & 0x80) {
    const std::vector<int32_t> special = tok.encode(text, false, true);
    tmill::fuzz::check_ids_and_stream(kTarget, tok, text, special);
    if (tok.decode(special, true) != text) {
      die(kTarget, "decode(encode(s, parse_special), render_special) != s", text,
          tmill::fuzz::show_ids(special));
    }
  }
  if (selector & 0x40) tmill::fuzz::check_add_special(kTarget, tok, text, ids);
  return 0;
}
