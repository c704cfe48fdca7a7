// The tokenizer's input: a plain description of a vocabulary, independent of where it came
// from. load_vocab() fills it from GGUF metadata; tests and tools can build one by hand.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/expected.h"

namespace tmill::gguf {
class File;
}

namespace tmill::tok {

// Token types with GGUF's numeric values (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

enum class ModelKind {
  Bpe,  // tokenizer.ggml.model = "gpt2": byte-level BPE with ranked merges
  Spm,  // tokenizer.ggml.model = "llama": SentencePiece-style, score-ranked merges, byte fallback
};

struct Vocab {
  ModelKind model = ModelKind::Bpe;
  std::string pre;  // tokenizer.ggml.pre; empty means "default"
  std::vector<std::string> tokens;
  std::vector<float> scores;        // empty (all 0) or one per token
  std::vector<TokenType> types;     // empty (all Normal) or one per token
  std::vector<std::string> merges;  // BPE only: "left right", index = rank

  // Special ids; -1 when the model has none.
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  int32_t pad = -1;
  int32_t eot = -1;
  int32_t eom = -1;

  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: prepend a space to text at the start / after a special

  // general.name, lower-cased; some models need per-token behaviour GGUF does not record
  // (e.g. Phi-3's special tokens swallow the whitespace that follows them).
  std::string model_name;
};

// Reads tokenizer.ggml.* metadata. Errors name the key that is missing or malformed.
// Unsupported tokenizer models (bert/WordPiece, t5/Unigram, rwkv, ...) are errors.
Expected<Vocab> load_vocab(const gguf::File& file);

}  // namespace tmill::tok
