// Helpers shared by the GGUF reader, writer and describe(); not part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gguf/gguf.h"

namespace tmill::gguf::detail {

inline constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kWriteVersion = 3;
// GGUF's default when general.alignment is absent.
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";
// Arrays nested deeper than this are rejected: real files use at most one level, and the
// cap keeps recursion (reader, writer, describe) bounded on hostile input.
inline constexpr int kMaxArrayDepth = 8;
inline constexpr int kMaxDims = 4;

inline bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Value type ids 0..12 are defined by the format; anything else is rejected.
inline bool is_known_value_type(uint32_t id) {
  return id <= static_cast<uint32_t>(ValueType::FLOAT64);
}

// Bytes one item of `t` occupies at least, as an array element. Used to reject counts
// the remaining file could not possibly hold before anything is allocated.
uint64_t min_encoded_size(ValueType t);

// Fixed encoded size of a scalar numeric/bool type; nullopt for STRING and ARRAY.
std::optional<uint64_t> fixed_size(ValueType t);

bool is_integer_type(ValueType t);
bool is_signed_integer_type(ValueType t);

// Quoted with `q`, escaped (control bytes and invalid UTF-8 as \xNN) and truncated to about
// `max_bytes` of source text, with "..." when cut. Safe for any byte string, so names and
// strings read from a hostile file can go into messages and describe() output.
std::string quote(std::string_view s, size_t max_bytes = 80, char q = '"');

// A key or tensor name as error messages show it: 'name', bounded.
inline std::string name_for_error(std::string_view s) { return quote(s, 96, '\''); }

}  // namespace tmill::gguf::detail
