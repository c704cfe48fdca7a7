// Text <-> token ids for the two vocabulary families GGUF models ship:
//  - byte-level BPE (tokenizer.ggml.model = "gpt2"): regex pre-tokenization, ranked merges;
//  - SentencePiece-style (tokenizer.ggml.model = "llama"): score-ranked merges over the text
//    with spaces written as U+2581, unknown characters as <0xNN> byte tokens.
// Output matches llama.cpp / Hugging Face on llama.cpp's tokenizer test vectors.
//
// A Tokenizer is immutable after construction and cheap to copy (shared state); encode and
// decode may run concurrently from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/expected.h"
#include "tokenizer/vocab.h"

namespace tmill::gguf {
class File;
}

namespace tmill::tok {

class Tokenizer {
 public:
  static Expected<Tokenizer> from_gguf(const gguf::File& file);
  // Validates the vocab (sizes, ids, pre-tokenizer name) and builds the lookup tables.
  static Expected<Tokenizer> from_vocab(Vocab vocab);

  // add_special: prepend BOS / append EOS per the model's add_bos/add_eos flags.
  // parse_special: control/user-defined token strings written in the text become single ids.
  // User-defined tokens are always matched as whole tokens, as Hugging Face does.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The token's text as bytes (byte-level mapping undone, U+2581 as space, <0xNN> as its
  // byte); control tokens give their literal text. Empty for ids outside the vocab.
  std::string token_text(int32_t id) const;
  // The raw vocabulary string of the token (no decoding). Empty for ids outside the vocab.
  const std::string& token_piece(int32_t id) const;

  // Concatenated token texts. Control and unknown tokens are skipped unless render_special;
  // for SPM vocabs with add_space_prefix the space the encoder added at the start is removed.
  // The result is raw bytes (may be invalid UTF-8, e.g. a cut-off byte sequence); use
  // StreamDecoder or sanitize_utf8 for text a client will see.
  std::string decode(std::span<const int32_t> ids) const { return decode(ids, false); }
  std::string decode(std::span<const int32_t> ids, bool render_special) const;

  int32_t n_vocab() const;
  int32_t bos() const;  // -1 if none
  int32_t eos() const;
  int32_t eot() const;
  int32_t unk() const;
  int32_t pad() const;
  bool add_bos() const;
  bool add_eos() const;
  bool add_space_prefix() const;  // SPM only; always false for BPE
  ModelKind model() const;
  const std::string& pre_tokenizer() const;  // "" for SPM

  // End of generation: EOS, EOT, EOM and tokens such as <|im_end|>, <end_of_turn>,
  // <|eot_id|>, <|endoftext|> found by name.
  bool is_eog(int32_t id) const;
  const std::vector<int32_t>& eog_ids() const;
  TokenType token_type(int32_t id) const;  // Undefined for ids outside the vocab
  bool is_control(int32_t id) const;
  // The id whose vocabulary string is exactly `piece`, or -1.
  int32_t find_token(std::string_view piece) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Streaming detokenization: feed ids one at a time, get text that is complete UTF-8 so far.
// Bytes of an incomplete character are held back until the next push; bytes that can never
// form a character come out as U+FFFD. flush() returns whatever is held (as U+FFFD).
// Control tokens produce no text. By default no leading space is stripped, as fits
// continuing a prompt; strip_leading_space=true reproduces Tokenizer::decode exactly.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool strip_leading_space = false);
  std::string push(int32_t id);
  std::string flush();

 private:
  Tokenizer tokenizer_;
  std::string pending_;  // at most 3 bytes of an unfinished character
  bool strip_space_;
};

}  // namespace tmill::tok
