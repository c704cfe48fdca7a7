// load_vocab: tokenizer.ggml.* metadata -> Vocab. Defaults follow what llama.cpp assumes
// for files that omit a key, so GGUF files converted by older scripts still load the same.
#include <algorithm>
#include <cctype>

#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

namespace tmill::tok {
namespace {

constexpr const char* kModel = "tokenizer.ggml.model";
constexpr const char* kPre = "tokenizer.ggml.pre";
constexpr const char* kTokens = "tokenizer.ggml.tokens";
constexpr const char* kScores = "tokenizer.ggml.scores";
constexpr const char* kTypes = "tokenizer.ggml.token_type";
constexpr const char* kMerges = "tokenizer.ggml.merges";

// Pre-tokenizers whose models expect a BOS although older converters did not record it.
bool pre_defaults_to_bos(std::string_view pre) {
  return pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
         pre == "pixtral" || pre == "tekken" || pre == "chameleon";
}

// An optional special-token id: absent keeps `fallback`; present but outside the vocab is
// ignored as well (a broken id must not turn into an out-of-range token later).
int32_t special_id(const gguf::File& file, std::string_view key, int32_t fallback,
                   size_t n_tokens) {
  if (fallback >= 0 && static_cast<size_t>(fallback) >= n_tokens) fallback = -1;
  const auto v = file.get_int(key);
  if (!v || *v < 0 || static_cast<uint64_t>(*v) >= n_tokens) return fallback;
  return static_cast<int32_t>(*v);
}

}  // namespace

Expected<Vocab> load_vocab(const gguf::File& file) {
  Vocab vocab;

  const std::string* model = file.get_string(kModel);
  if (model == nullptr)
    return fail("GGUF has no string '", kModel, "': not a model with a vocabulary");
  if (*model == "gpt2") {
    vocab.model = ModelKind::Bpe;
  } else if (*model == "llama") {
    vocab.model = ModelKind::Spm;
  } else if (*model == "bert") {
    return fail("tokenizer model 'bert' (WordPiece) is not supported; supported: gpt2, llama");
  } else if (*model == "t5") {
    return fail("tokenizer model 't5' (Unigram) is not supported; supported: gpt2, llama");
  } else {
    return fail("tokenizer model '", *model, "' is not supported; supported: gpt2, llama");
  }
  if (const std::string* pre = file.get_string(kPre)) vocab.pre = *pre;

  const gguf::Array* tokens = file.get_array(kTokens);
  const auto* token_strings =
      tokens != nullptr ? std::get_if<std::vector<std::string>>(&tokens->items) : nullptr;
  if (token_strings == nullptr) return fail("GGUF has no string array '", kTokens, "'");
  if (token_strings->empty()) return fail("'", kTokens, "' is empty");
  if (token_strings->size() > static_cast<size_t>(INT32_MAX)) {
    return fail("'", kTokens, "' has too many entries: ", token_strings->size());
  }
  vocab.tokens = *token_strings;
  const size_t n = vocab.tokens.size();

  if (file.find(kScores) != nullptr) {
    const gguf::Array* scores = file.get_array(kScores);
    if (scores == nullptr || scores->size() < n) {
      return fail("'", kScores, "' must be a numeric array with one entry per token (", n, ")");
    }
    vocab.scores.resize(n);
    if (const auto* f = std::get_if<std::vector<double>>(&scores->items)) {
      for (size_t i = 0; i < n; ++i) vocab.scores[i] = static_cast<float>((*f)[i]);
    } else if (const auto* iv = std::get_if<std::vector<int64_t>>(&scores->items)) {
      for (size_t i = 0; i < n; ++i) vocab.scores[i] = static_cast<float>((*iv)[i]);
    } else {
      return fail("'", kScores, "' must be a float or integer array");
    }
  }

  if (file.find(kTypes) != nullptr) {
    const gguf::Array* types = file.get_array(kTypes);
    const auto* tv = types != nullptr ? std::get_if<std::vector<int64_t>>(&types->items) : nullptr;
    if (tv == nullptr || tv->size() < n) {
      return fail("'", kTypes, "' must be an integer array with one entry per token (", n, ")");
    }
    vocab.types.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = (*tv)[i];
      // Unknown codes become Undefined (treated like Normal) rather than an error: newer
      // converters may add types, and the text of such a token is still usable.
      vocab.types[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::Undefined;
    }
  }

  if (vocab.model == ModelKind::Bpe) {
    const gguf::Array* merges = file.get_array(kMerges);
    const auto* mv =
        merges != nullptr ? std::get_if<std::vector<std::string>>(&merges->items) : nullptr;
    if (mv == nullptr) return fail("BPE vocabulary has no string array '", kMerges, "'");
    vocab.merges = *mv;
  }

  // Defaults when a key is absent: SentencePiece models conventionally use <unk>=0, <s>=1,
  // </s>=2 and want a BOS and a leading space; byte-level BPE models have no such convention.
  int32_t bos = -1, eos = -1, unk = -1;
  if (vocab.model == ModelKind::Spm) {
    bos = 1;
    eos = 2;
    unk = 0;
    vocab.add_bos = true;
    vocab.add_space_prefix = true;
  } else {
    vocab.add_bos = pre_defaults_to_bos(vocab.pre);
  }
  vocab.bos = special_id(file, "tokenizer.ggml.bos_token_id", bos, n);
  vocab.eos = special_id(file, "tokenizer.ggml.eos_token_id", eos, n);
  vocab.unk = special_id(file, "tokenizer.ggml.unknown_token_id", unk, n);
  vocab.pad = special_id(file, "tokenizer.ggml.padding_token_id", -1, n);
  vocab.eot = special_id(file, "tokenizer.ggml.eot_token_id", -1, n);
  vocab.eom = special_id(file, "tokenizer.ggml.eom_token_id", -1, n);

  if (auto v = file.get_bool("tokenizer.ggml.add_bos_token")) vocab.add_bos = *v;
  if (auto v = file.get_bool("tokenizer.ggml.add_eos_token")) vocab.add_eos = *v;
  if (auto v = file.get_bool("tokenizer.ggml.add_space_prefix")) vocab.add_space_prefix = *v;

  if (const std::string* name = file.get_string("general.name")) {
    vocab.model_name = *name;
    std::transform(vocab.model_name.begin(), vocab.model_name.end(), vocab.model_name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  return vocab;
}

}  // namespace tmill::tok
