// Content keys for KV blocks: block i's hash covers the salt, every token of blocks 0..i, and
// nothing else, so equal keys mean equal prefixes (the pool also compares the tokens).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/block_pool.h"

namespace tmill::engine {

// Seed derived from a tenant name; different tenants never share cached blocks.
uint64_t prefix_salt(std::string_view tenant);

// Keys of the first `n_blocks` full blocks of `tokens` (needs n_blocks * block_size tokens).
std::vector<BlockKey> block_keys(std::span<const int32_t> tokens, int32_t n_blocks,
                                 int32_t block_size, uint64_t salt);

// The key of block `index` given the previous block's chain hash.
BlockKey block_key(std::span<const int32_t> tokens, int32_t index, int32_t block_size,
                   uint64_t parent_hash, uint64_t salt);

}  // namespace tmill::engine
