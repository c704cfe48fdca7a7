#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/utf8.h"

namespace tmill::tok {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Per-thread scratch vectors above this many elements are released after use.
constexpr size_t kKeepScratch = size_t{1} << 16;

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Tokens that end a turn or a document in common chat formats. GGUF files record at most
// EOS/EOT/EOM ids, so models with several end markers (ChatML's <|im_end|> next to
// <|endoftext|>, Gemma's <end_of_turn> next to <eos>) are recognised by name.
constexpr std::array<std::string_view, 13> kEogNames = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<|eom_id|>",
    "<end_of_utterance>",
    "<|return|>",
    "<|call|>",
    "<｜end▁of▁sentence｜>",  // DeepSeek (full-width bars, U+2581 spaces)
};

// Longest-match lookup of special token strings, as a byte trie. Matching walks at most the
// longest special token's length from each position, and a first-byte table skips
// positions that cannot start one, so text without specials costs one table load per byte.
class SpecialMatcher {
 public:
  void add(std::string_view text, int32_t id) {
    if (text.empty()) return;
    int32_t node = 0;
    if (terminal_.empty()) terminal_.push_back(-1);
    for (unsigned char c : text) {
      const uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        const auto child = static_cast<int32_t>(terminal_.size());
        terminal_.push_back(-1);
        it = edges_.emplace(key, child).first;
      }
      node = it->second;
    }
    if (terminal_[node] < 0) terminal_[node] = id;  // duplicate strings: the first id wins
    first_[static_cast<unsigned char>(text[0])] = true;
  }

  bool can_start(unsigned char c) const { return first_[c]; }

  // Longest token at text[pos] that `eligible` accepts: {id, length} or {-1, 0}.
  template <class Eligible>
  std::pair<int32_t, size_t> match(std::string_view text, size_t pos, Eligible eligible) const {
    std::pair<int32_t, size_t> best{-1, 0};
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]);
      const auto it = edges_.find(key);
      if (it == edges_.end()) break;
      node = it->second;
      const int32_t id = terminal_[node];
      if (id >= 0 && eligible(id)) best = {id, i + 1 - pos};
    }
    return best;
  }

 private:
  std::vector<int32_t> terminal_;                // per node: token id ending here, or -1
  std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> child node
  std::array<bool, 256> first_{};
};

// Exact-match index from token string to id: open addressing, linear probing. Each slot
// holds the id and 32 bits of the string's hash, so probing rarely touches the strings
// themselves (std::unordered_map spent most of a 262k-token vocab's load chasing nodes).
class TokenIndex {
 public:
  void build(const std::vector<std::string>& tokens) {
    tokens_ = &tokens;
    size_t cap = 16;
    while (cap < tokens.size() * 2) cap <<= 1;
    mask_ = cap - 1;
    slots_.assign(cap, kEmpty);
    // Insert in order of home slot (a counting sort on the hash's top bits) so the table is
    // filled front to back: random-order inserts into a multi-megabyte table were dominated
    // by cache misses. Equal strings share a home and keep id order, so the first id wins.
    std::vector<uint64_t> hashes(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) hashes[i] = hash(tokens[i]);
    constexpr int kBucketBits = 12;
    int shift = 0;
    while ((mask_ >> shift) >= (size_t{1} << kBucketBits)) ++shift;
    std::vector<uint32_t> start((size_t{1} << kBucketBits) + 1, 0);
    for (uint64_t h : hashes) ++start[((h & mask_) >> shift) + 1];
    for (size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
    std::vector<uint32_t> order(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      order[start[(hashes[i] & mask_) >> shift]++] = static_cast<uint32_t>(i);
    }
    for (uint32_t i : order) {
      const std::string& t = tokens[i];
      if (t.empty()) continue;  // an empty token can never be matched in text
      const uint64_t h = hashes[i];
      const uint64_t tag = h >> 32;
      size_t pos = h & mask_;
      while (true) {
        const uint64_t slot = slots_[pos];
        if (slot == kEmpty) {
          slots_[pos] = (tag << 32) | i;
          break;
        }
        if ((slot >> 32) == tag && tokens[slot & 0xFFFFFFFFu] == t) {
          if (i < (slot & 0xFFFFFFFFu)) slots_[pos] = (tag << 32) | i;  // keep the first id
          break;
        }
        pos = (pos + 1) & mask_;
      }
    }
  }

  int32_t find(std::string_view s) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash(s);
    const uint64_t tag = h >> 32;
    size_t pos = h & mask_;
    while (true) {
      const uint64_t slot = slots_[pos];
      if (slot == kEmpty) return -1;
      if ((slot >> 32) == tag && (*tokens_)[slot & 0xFFFFFFFFu] == s) {
        return static_cast<int32_t>(slot & 0xFFFFFFFFu);
      }
      pos = (pos + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are below 2^31, so never this

  static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
  }
  static uint64_t hash(std::string_view s) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (s.size() * 0xC2B2AE3D27D4EB4FULL);
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t k;
      std::memcpy(&k, s.data() + i, 8);
      h = (h ^ mix(k)) * 0x9E3779B97F4A7C15ULL;
    }
    uint64_t k = 0;
    std::memcpy(&k, s.data() + i, s.size() - i);
    h = (h ^ mix(k)) * 0x9E3779B97F4A7C15ULL;
    return mix(h);
  }

  const std::vector<std::string>* tokens_ = nullptr;
  std::vector<uint64_t> slots_;
  size_t mask_ = 0;
};

struct Fragment {
  int32_t token;          // >= 0: a special token matched in the text
  std::string_view text;  // otherwise: plain text to tokenize
};

struct Merge {
  int32_t rank;
  int32_t result;
};

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// (left id, right id) -> merge: open addressing with linear probing in one flat array, a
// power-of-two size and a multiplicative hash. The BPE merge loop does one lookup per
// candidate pair; std::unordered_map's division by a prime bucket count and node chasing
// were most of encode's time.
class MergeTable {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    int bits = 4;
    while (cap < n * 2) {
      cap <<= 1;
      ++bits;
    }
    shift_ = 64 - bits;
    mask_ = cap - 1;
    slots_.assign(cap, Slot{kEmpty, {0, 0}});
  }

  // Keeps the first merge inserted for a pair (the lowest rank, as merges come in rank order).
  void insert(uint64_t key, Merge merge) {
    if (slots_.empty()) reserve(1);
    if ((size_ + 1) * 2 > slots_.size()) grow();
    size_t pos = home(key);
    while (slots_[pos].key != kEmpty) {
      if (slots_[pos].key == key) return;
      pos = (pos + 1) & mask_;
    }
    slots_[pos] = {key, merge};
    ++size_;
  }

  const Merge* find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    for (size_t pos = home(key);; pos = (pos + 1) & mask_) {
      const Slot& s = slots_[pos];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // the key of (-1, -1), never inserted
  struct Slot {
    uint64_t key;
    Merge merge;
  };

  size_t home(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_);
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(old.size());  // doubles: the capacity is at least twice the argument
    size_ = 0;
    for (const Slot& s : old) {
      if (s.key != kEmpty) insert(s.key, s.merge);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
  int shift_ = 60;
};

// "<0xNN>" -> NN, or -1.
int parse_byte_token(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return -1;
    }
    value = value * 16 + d;
  }
  return value;
}

// Undo GPT-2's byte-to-code-point mapping. A code point outside the mapping (a vocab
// entry no byte-level trainer could produce) is kept as its UTF-8 text.
std::string gpt2_decode(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  const auto* p = reinterpret_cast<const uint8_t*>(piece.data());
  size_t i = 0;
  while (i < piece.size()) {
    const Utf8Scan scan = scan_utf8(p + i, piece.size() - i);
    if (scan.kind != Utf8Kind::Valid) {
      out.append(piece.data() + i, scan.length);
      i += scan.length;
      continue;
    }
    const int b = gpt2_codepoint_to_byte(decode_utf8(p + i, scan.length));
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(piece.data() + i, scan.length);
    }
    i += scan.length;
  }
  return out;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  Vocab vocab;
  int32_t n = 0;
  TokenIndex index;                // over vocab.tokens
  std::vector<std::string> texts;  // token_text() per id
  std::vector<uint8_t> lstrip, rstrip;
  std::vector<uint8_t> eog_flag;
  std::vector<int32_t> eog;
  SpecialMatcher special;

  // BPE
  std::optional<PreTokenizer> pre;
  MergeTable merges;  // (left id, right id) -> rank, merged id
  // BPE: id of each byte's GPT-2 character; SPM: id of its <0xNN> byte-fallback token.
  std::array<int32_t, 256> byte_token{};
  // SPM: tokens the merge loop may form (not control/unknown/unused/byte pieces).
  std::vector<uint8_t> mergeable;

  int32_t find(std::string_view piece) const { return index.find(piece); }
  TokenType type(int32_t id) const { return vocab.types[static_cast<size_t>(id)]; }
  bool hidden(int32_t id) const {  // not rendered by decode unless asked for
    const TokenType t = type(id);
    return t == TokenType::Control || t == TokenType::Unknown || t == TokenType::Unused;
  }

  void split_special(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  void bpe_word(std::string_view word, std::vector<int32_t>& out) const;
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const;
};

Expected<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  TM_ASSIGN(Vocab vocab, load_vocab(file));
  return from_vocab(std::move(vocab));
}

Expected<Tokenizer> Tokenizer::from_vocab(Vocab vocab) {
  auto impl = std::make_shared<Impl>();
  const size_t n = vocab.tokens.size();
  if (n == 0) return fail("vocabulary has no tokens");
  if (n > static_cast<size_t>(INT32_MAX)) return fail("vocabulary too large: ", n);
  if (!vocab.scores.empty() && vocab.scores.size() < n) {
    return fail("vocabulary has ", vocab.scores.size(), " scores for ", n, " tokens");
  }
  if (!vocab.types.empty() && vocab.types.size() < n) {
    return fail("vocabulary has ", vocab.types.size(), " token types for ", n, " tokens");
  }
  vocab.scores.resize(n, 0.0f);
  vocab.types.resize(n, TokenType::Normal);
  for (int32_t* id : {&vocab.bos, &vocab.eos, &vocab.unk, &vocab.pad, &vocab.eot, &vocab.eom}) {
    if (*id < 0 || static_cast<size_t>(*id) >= n) *id = -1;
  }
  if (vocab.model == ModelKind::Bpe) vocab.add_space_prefix = false;
  impl->vocab = std::move(vocab);
  Vocab& v = impl->vocab;
  impl->n = static_cast<int32_t>(n);

  impl->index.build(v.tokens);

  // End-of-generation set; such tokens are control tokens even where a converter forgot.
  impl->eog_flag.assign(n, 0);
  auto mark_eog = [&](int32_t id) {
    if (id < 0) return;
    impl->eog_flag[static_cast<size_t>(id)] = 1;
    TokenType& t = v.types[static_cast<size_t>(id)];
    if (t == TokenType::Normal || t == TokenType::Undefined || t == TokenType::UserDefined) {
      t = TokenType::Control;
    }
  };
  // gpt-oss style vocabs end a message with <|end|> but a generation with <|return|>/<|call|>.
  const bool end_is_not_eog = impl->find("<|return|>") >= 0 && impl->find("<|call|>") >= 0;
  for (std::string_view name : kEogNames) {
    if (name == "<|end|>" && end_is_not_eog) continue;
    mark_eog(impl->find(name));
  }
  mark_eog(v.eos);
  mark_eog(v.eot);
  mark_eog(v.eom);
  for (size_t i = 0; i < n; ++i) {
    if (impl->eog_flag[i]) impl->eog.push_back(static_cast<int32_t>(i));
  }

  // Per-token whitespace stripping around special tokens. GGUF does not store Hugging
  // Face's lstrip/rstrip flags; Phi-3's special tokens (except these three) swallow the
  // whitespace after them, which llama.cpp also recovers from the model name.
  impl->lstrip.assign(n, 0);
  impl->rstrip.assign(n, 0);
  if (v.model_name.find("phi-3") != std::string::npos ||
      v.model_name.find("phi3") != std::string::npos) {
    for (size_t i = 0; i < n; ++i) {
      const TokenType t = v.types[i];
      if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) {
        impl->rstrip[i] = 1;
      }
    }
    for (std::string_view keep : {"<unk>", "<s>", "<|endoftext|>"}) {
      const int32_t id = impl->find(keep);
      if (id >= 0) impl->rstrip[static_cast<size_t>(id)] = 0;
    }
  }

  for (size_t i = 0; i < n; ++i) {
    const TokenType t = v.types[i];
    if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) {
      impl->special.add(v.tokens[i], static_cast<int32_t>(i));
    }
  }

  // Decoded text of every token, computed once so decode is a concatenation.
  impl->texts.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& piece = v.tokens[i];
    switch (v.types[i]) {
      case TokenType::Control:
      case TokenType::Unknown:
      case TokenType::UserDefined:
      case TokenType::Unused:
        impl->texts[i] = piece;
        break;
      case TokenType::Byte: {
        const int b = parse_byte_token(piece);
        impl->texts[i] = b >= 0 ? std::string(1, static_cast<char>(b)) : piece;
        break;
      }
      case TokenType::Normal:
      case TokenType::Undefined:
        impl->texts[i] =
            v.model == ModelKind::Bpe ? gpt2_decode(piece) : replace_all(piece, kSpmSpace, " ");
        break;
    }
  }

  impl->byte_token.fill(-1);
  if (v.model == ModelKind::Bpe) {
    TM_ASSIGN(PreTokenizer pre, PreTokenizer::create(v.pre));
    impl->pre.emplace(std::move(pre));
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      append_utf8(ch, byte_to_gpt2_codepoint(static_cast<uint8_t>(b)));
      impl->byte_token[static_cast<size_t>(b)] = impl->find(ch);
    }
    // Merges by id. A merge whose parts or result are not tokens can never fire in a
    // well-formed vocab; skipping it keeps every merged symbol a real token.
    impl->merges.reserve(v.merges.size());
    std::string joined;
    for (size_t rank = 0; rank < v.merges.size(); ++rank) {
      const std::string& m = v.merges[rank];
      const size_t space = m.find(' ', 1);
      if (space == std::string::npos) continue;
      const std::string_view left(m.data(), space);
      const std::string_view right(m.data() + space + 1, m.size() - space - 1);
      const int32_t l = impl->find(left), r = impl->find(right);
      if (l < 0 || r < 0) continue;
      joined.assign(left);
      joined.append(right);
      const int32_t result = impl->find(joined);
      if (result < 0) continue;
      impl->merges.insert(pair_key(l, r), Merge{static_cast<int32_t>(rank), result});
    }
  } else {
    for (int b = 0; b < 256; ++b) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const char name[] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
      int32_t id = impl->find(std::string_view(name, sizeof name));
      if (id < 0) id = impl->find(std::string(1, static_cast<char>(b)));
      impl->byte_token[static_cast<size_t>(b)] = id;
    }
    impl->mergeable.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const TokenType t = v.types[i];
      impl->mergeable[i] =
          t == TokenType::Normal || t == TokenType::Undefined || t == TokenType::UserDefined;
    }
  }
  return Tokenizer(std::move(impl));
}

// ---- encoding ----------------------------------------------------------------------------

void Tokenizer::Impl::split_special(std::string_view text, bool parse_special,
                                    std::vector<Fragment>& out) const {
  auto eligible = [&](int32_t id) {
    const TokenType t = type(id);
    return t == TokenType::UserDefined ||
           (parse_special && (t == TokenType::Control || t == TokenType::Unknown));
  };
  size_t start = 0, i = 0;
  while (i < text.size()) {
    if (!special.can_start(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    const auto [id, len] = special.match(text, i, eligible);
    if (id < 0) {
      ++i;
      continue;
    }
    size_t end = i;
    if (lstrip[static_cast<size_t>(id)]) {
      while (end > start && is_ascii_space(text[end - 1])) --end;
    }
    if (end > start) out.push_back({-1, text.substr(start, end - start)});
    out.push_back({id, {}});
    i += len;
    if (rstrip[static_cast<size_t>(id)]) {
      while (i < text.size() && is_ascii_space(text[i])) ++i;
    }
    start = i;
  }
  if (start < text.size()) out.push_back({-1, text.substr(start)});
}

void Tokenizer::Impl::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<std::string_view> words;
  pre->split(text, words);
  for (std::string_view word : words) bpe_word(word, out);
}

// Byte-level BPE on one pre-tokenized word: start from one symbol per byte, then apply the
// lowest-ranked applicable merge (leftmost on ties) until none applies. A heap holds the
// candidate pairs; entries made stale by an earlier merge are recognised and skipped, so a
// word of n bytes costs O(n log n).
void Tokenizer::Impl::bpe_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (pre->ignore_merges()) {
    std::string encoded;
    for (unsigned char c : word) append_utf8(encoded, byte_to_gpt2_codepoint(c));
    const int32_t id = find(encoded);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (word.size() == 1) {
    const int32_t id = byte_token[static_cast<unsigned char>(word[0])];
    if (id >= 0) out.push_back(id);
    return;
  }

  struct Symbol {
    int32_t id;  // -1: a byte with no token (cannot merge, emitted as nothing)
    int32_t prev, next;
    bool alive;
  };
  struct Pair {
    int32_t rank, left, right, left_id, right_id, result;
  };
  auto later = [](const Pair& a, const Pair& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Pair> heap;
  symbols.clear();
  heap.clear();
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_token[static_cast<unsigned char>(word[static_cast<size_t>(i)])], i - 1,
                       i + 1 < n ? i + 1 : -1, true});
  }
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t l = symbols[left].id, r = symbols[right].id;
    if (l < 0 || r < 0) return;
    const Merge* m = merges.find(pair_key(l, r));
    if (m == nullptr) return;
    heap.push_back({m->rank, left, right, l, r, m->result});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Pair p = heap.back();
    heap.pop_back();
    Symbol& left = symbols[p.left];
    Symbol& right = symbols[p.right];
    if (!left.alive || !right.alive || left.next != p.right || left.id != p.left_id ||
        right.id != p.right_id) {
      continue;
    }
    left.id = p.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = p.left;
    right.alive = false;
    consider(left.prev, p.left);
    consider(p.left, left.next);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    if (symbols[i].id >= 0) out.push_back(symbols[i].id);
  }
  if (symbols.capacity() > kKeepScratch) {  // do not pin a huge input's scratch to the thread
    symbols = {};
    heap = {};
  }
}

// SentencePiece-style BPE on one text fragment (spaces already written as U+2581): start
// from one symbol per character, repeatedly merge the adjacent pair whose concatenation is
// the highest-scoring token (leftmost on ties); characters that end up in no token are
// emitted as <0xNN> byte tokens.
void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
  struct Symbol {
    uint32_t start, len;
    int32_t prev, next;
  };
  struct Pair {
    float score;
    int32_t left, right;
    uint32_t len;
  };
  auto worse = [](const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Pair> heap;
  symbols.clear();
  heap.clear();
  for (size_t pos = 0; pos < text.size();) {
    const auto len = static_cast<uint32_t>(utf8_symbol_length(text, pos));
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(pos), len, index - 1, -1});
    if (index > 0) symbols[index - 1].next = index;
    pos += len;
  }
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t len = symbols[left].len + symbols[right].len;
    const int32_t id = find(text.substr(symbols[left].start, len));
    if (id < 0 || !mergeable[static_cast<size_t>(id)]) return;
    heap.push_back({vocab.scores[static_cast<size_t>(id)], left, right, len});
    std::push_heap(heap.begin(), heap.end(), worse);
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i, i + 1);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    const Pair p = heap.back();
    heap.pop_back();
    Symbol& left = symbols[p.left];
    Symbol& right = symbols[p.right];
    // A merged-away symbol has len 0; a grown one no longer adds up to the pair's length.
    if (left.len == 0 || right.len == 0 || left.next != p.right || left.len + right.len != p.len) {
      continue;
    }
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = p.left;
    consider(left.prev, p.left);
    consider(p.left, left.next);
  }
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].start, symbols[i].len);
    const int32_t id = find(piece);
    if (id >= 0 && mergeable[static_cast<size_t>(id)]) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : piece) {
      const int32_t b = byte_token[c] >= 0 ? byte_token[c] : vocab.unk;
      if (b >= 0) out.push_back(b);
    }
  }
  if (symbols.capacity() > kKeepScratch) {
    symbols = {};
    heap = {};
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const Impl& im = *impl_;
  const Vocab& v = im.vocab;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && v.add_bos && v.bos >= 0) out.push_back(v.bos);

  thread_local std::vector<Fragment> fragments;
  fragments.clear();
  im.split_special(text, parse_special, fragments);
  // SPM: the leading space SentencePiece adds to a text also goes after each special token,
  // which llama.cpp does as well.
  bool after_special = true;
  std::string buffer;
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    if (v.model == ModelKind::Bpe) {
      im.encode_bpe(f.text, out);
    } else {
      buffer.clear();
      if (v.add_space_prefix && after_special) buffer.append(kSpmSpace);
      for (char c : f.text) {
        if (c == ' ') {
          buffer.append(kSpmSpace);
        } else {
          buffer.push_back(c);
        }
      }
      im.encode_spm(buffer, out);
    }
    after_special = false;
  }
  if (add_special && v.add_eos && v.eos >= 0) out.push_back(v.eos);
  return out;
}

// ---- decoding and accessors --------------------------------------------------------------

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  const Impl& im = *impl_;
  std::string out;
  bool strip = im.vocab.add_space_prefix;
  for (int32_t id : ids) {
    if (id < 0 || id >= im.n) continue;
    if (!render_special && im.hidden(id)) continue;
    const std::string& text = im.texts[static_cast<size_t>(id)];
    if (text.empty()) continue;
    if (strip) {
      strip = false;
      if (text[0] == ' ') {
        out.append(text, 1, std::string::npos);
        continue;
      }
    }
    out.append(text);
  }
  return out;
}

std::string Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= impl_->n) return {};
  return impl_->texts[static_cast<size_t>(id)];
}

const std::string& Tokenizer::token_piece(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || id >= impl_->n) return kEmpty;
  return impl_->vocab.tokens[static_cast<size_t>(id)];
}

int32_t Tokenizer::n_vocab() const { return impl_->n; }
int32_t Tokenizer::bos() const { return impl_->vocab.bos; }
int32_t Tokenizer::eos() const { return impl_->vocab.eos; }
int32_t Tokenizer::eot() const { return impl_->vocab.eot; }
int32_t Tokenizer::unk() const { return impl_->vocab.unk; }
int32_t Tokenizer::pad() const { return impl_->vocab.pad; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }
bool Tokenizer::add_eos() const { return impl_->vocab.add_eos; }
bool Tokenizer::add_space_prefix() const { return impl_->vocab.add_space_prefix; }
ModelKind Tokenizer::model() const { return impl_->vocab.model; }

const std::string& Tokenizer::pre_tokenizer() const {
  static const std::string kNone;
  return impl_->pre ? impl_->pre->name() : kNone;
}

bool Tokenizer::is_eog(int32_t id) const {
  return id >= 0 && id < impl_->n && impl_->eog_flag[static_cast<size_t>(id)] != 0;
}

const std::vector<int32_t>& Tokenizer::eog_ids() const { return impl_->eog; }

TokenType Tokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= impl_->n) return TokenType::Undefined;
  return impl_->type(id);
}

bool Tokenizer::is_control(int32_t id) const { return token_type(id) == TokenType::Control; }

int32_t Tokenizer::find_token(std::string_view piece) const { return impl_->find(piece); }

// ---- streaming ---------------------------------------------------------------------------

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool strip_leading_space)
    : tokenizer_(tokenizer), strip_space_(strip_leading_space && tokenizer.add_space_prefix()) {}

std::string StreamDecoder::push(int32_t id) {
  const TokenType type = tokenizer_.token_type(id);
  if (type == TokenType::Control || type == TokenType::Unknown || type == TokenType::Unused) {
    return {};  // the same tokens decode() leaves out
  }
  std::string piece = tokenizer_.token_text(id);
  if (piece.empty()) return {};
  if (strip_space_) {
    strip_space_ = false;
    if (piece[0] == ' ') piece.erase(0, 1);
  }
  pending_ += piece;
  std::string out;
  const auto* p = reinterpret_cast<const uint8_t*>(pending_.data());
  size_t i = 0;
  while (i < pending_.size()) {
    const Utf8Scan scan = scan_utf8(p + i, pending_.size() - i);
    if (scan.kind == Utf8Kind::Incomplete) break;  // may complete with the next token
    if (scan.kind == Utf8Kind::Valid) {
      out.append(pending_, i, scan.length);
    } else {
      out.append("\xEF\xBF\xBD");
    }
    i += scan.length;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace tmill::tok
