// libFuzzer entry for the SentencePiece-style tokenizer. The vocab is llama.cpp's llama-spm
// fixture (LLaMA's 32k SentencePiece vocab with <0xNN> byte fallback;
// $TOKENMILL_FUZZ_SPM_VOCAB overrides), built twice: as is (add_space_prefix, like LLaMA) and
// without the space prefix (like Gemma). Input: byte 0 picks the variant and flags, the rest
// is the text (any bytes, invalid UTF-8 included).
// Beyond "no crash, no hang, no sanitizer report" it checks:
//  - ids are inside the vocab, and streaming detokenization equals sanitize_utf8(decode);
//  - the round trip is lossless up to SentencePiece's one by-design loss: byte fallback
//    covers every byte, so decode(encode(s)) == s with each literal U+2581 read as a space;
//  - parsing special tokens changes nothing for text without special-token strings, and
//    the BOS/EOS flags only add the model's BOS/EOS around the same ids.
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

constexpr const char* kTarget = "fuzz_tokenizer_spm";

std::vector<std::unique_ptr<Tokenizer>>& tokenizers() {
  static std::vector<std::unique_ptr<Tokenizer>> all;
  return all;
}

// The text of every token that parse_special may match (control and unknown tokens).
std::vector<std::string>& special_texts() {
  static std::vector<std::string> all;
  return all;
}

bool mentions_special(std::string_view text) {
  for (const std::string& s : special_texts()) {
    if (text.find(s) != std::string_view::npos) return true;
  }
  return false;
}

std::string spaces_for_u2581(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.substr(i, 3) == "\xE2\x96\x81") {
      out.push_back(' ');
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const tmill::tok::Vocab base =
      tmill::fuzz::load_vocab_or_die(kTarget, "TOKENMILL_FUZZ_SPM_VOCAB", TOKENMILL_FUZZ_SPM_VOCAB);
  if (base.model != tmill::tok::ModelKind::Spm) {
    std::fprintf(stderr, "%s: the vocab is not SentencePiece-style\n", kTarget);
    std::exit(2);
  }
  for (bool prefix : {true, false}) {
    tmill::tok::Vocab v = base;
    v.add_space_prefix = prefix;
    auto tok = Tokenizer::from_vocab(std::move(v));
    if (!tok.ok()) {
      std::fprintf(stderr, "%s: %s\n", kTarget, tok.error().message.c_str());
      std::exit(2);
    }
    tokenizers().push_back(std::make_unique<Tokenizer>(std::move(tok.value())));
  }
  const Tokenizer& tok = *tokenizers().front();
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const auto type = tok.token_type(id);
    if (type == tmill::tok::TokenType::Control || type == tmill::tok::TokenType::Unknown) {
      if (!tok.token_piece(id).empty()) special_texts().push_back(tok.token_piece(id));
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const Tokenizer& tok = *tokenizers()[selector & 1];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::vector<int32_t> ids = tok.encode(text, false, false);
  tmill::fuzz::check_ids_and_stream(kTarget, tok, text, ids);
  if (tok.decode(ids) != spaces_for_u2581(text)) {
    die(kTarget, "decode(encode(s)) != s (U+2581 as space)", text, tmill::fuzz::show_ids(ids));
  }

  if (selector & 0x80) {
    const std::vector<int32_t> special = tok.encode(text, false, true);
    tmill::fuzz::check_ids_and_stream(kTarget, tok, text, special);
    if (!mentions_special(text) && special != ids) {
      die(kTarget, "parse_special changed text without specials", text,
          tmill::fuzz::show_ids(special));
    }
  }
  if (selector & 0x40) tmill::fuzz::check_add_special(kTarget, tok, text, ids);
  return 0;
}
