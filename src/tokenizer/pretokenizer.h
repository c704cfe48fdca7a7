// Pre-tokenization for byte-level BPE: split text into words before merging, with the regex
// sequence the model was trained with (selected by tokenizer.ggml.pre). Each regex in a
// sequence splits every piece left by the previous one; both the matches and the text
// between them become pieces (Hugging Face's "Isolated" split behaviour).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/expected.h"

namespace tmill::tok {

class PreTokenizer {
 public:
  // `name` is tokenizer.ggml.pre; empty means "default". Unknown names are an error that
  // lists the supported ones (guessing a regex would silently produce wrong token ids).
  static Expected<PreTokenizer> create(std::string_view name);

  // Splits text into words (views into `text`, in order, covering it exactly). Bytes that
  // are not valid UTF-8 become one-byte words of their own; regexes see only valid runs.
  // Thread-safe: scratch state is per thread.
  void split(std::string_view text, std::vector<std::string_view>& words) const;

  // Llama-3 style vocabs: a word that is itself a token is emitted whole, without merging.
  bool ignore_merges() const { return ignore_merges_; }
  const std::string& name() const { return name_; }

  struct Regex;  // compiled PCRE2 pattern (opaque: PCRE2 stays out of this header)

 private:
  std::string name_;
  bool ignore_merges_ = false;
  std::vector<std::shared_ptr<const Regex>> regexes_;
};

// Every accepted tokenizer.ggml.pre name.
std::vector<std::string_view> supported_pre_tokenizers();

}  // namespace tmill::tok
