// A batch of tokens from one or more sequences, each at its own position.
#pragma once

#include <cstdint>
#include <vector>

namespace tmill::model {

struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> seqs;
  std::vector<uint8_t> want_logits;  // 1: produce this token's logits row

  void add(int32_t token, int32_t pos, int32_t seq, bool logits) {
    tokens.push_back(token);
    positions.push_back(pos);
    seqs.push_back(seq);
    want_logits.push_back(logits ? 1 : 0);
  }
  size_t size() const { return tokens.size(); }
  size_t n_logits() const {
    size_t n = 0;
    for (uint8_t w : want_logits) n += w;
    return n;
  }
  void clear() {
    tokens.clear();
    positions.clear();
    seqs.clear();
    want_logits.clear();
  }
};

}  // namespace tmill::model
