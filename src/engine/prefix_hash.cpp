#include "engine/prefix_hash.h"

#include <xxhash.h>

#include <cstring>

namespace tmill::engine {

uint64_t prefix_salt(std::string_view tenant) {
  // A fixed non-zero seed for the default tenant keeps keys distinct from an unsalted hash.
  return XXH3_64bits_withSeed(tenant.data(), tenant.size(), 0x746d696c6c6b7621ULL);
}

BlockKey block_key(std::span<const int32_t> tokens, int32_t index, int32_t block_size,
                   uint64_t parent_hash, uint64_t salt) {
  BlockKey key;
  key.parent = parent_hash;
  const auto begin = tokens.begin() + static_cast<ptrdiff_t>(index) * block_size;
  key.tokens.assign(begin, begin + block_size);
  // Hashed bytes: the parent's chain hash, then the block's tokens.
  std::vector<unsigned char> bytes(sizeof parent_hash + key.tokens.size() * sizeof(int32_t));
  std::memcpy(bytes.data(), &parent_hash, sizeof parent_hash);
  std::memcpy(bytes.data() + sizeof parent_hash, key.tokens.data(),
              key.tokens.size() * sizeof(int32_t));
  key.hash = XXH3_64bits_withSeed(bytes.data(), bytes.size(), salt);
  return key;
}

std::vector<BlockKey> block_keys(std::span<const int32_t> tokens, int32_t n_blocks,
                                 int32_t block_size, uint64_t salt) {
  std::vector<BlockKey> keys;
  keys.reserve(static_cast<size_t>(n_blocks));
  uint64_t parent = 0;
  for (int32_t i = 0; i < n_blocks; ++i) {
    keys.push_back(block_key(tokens, i, block_size, parent, salt));
    parent = keys.back().hash;
  }
  return keys;
}

}  // namespace tmill::engine
