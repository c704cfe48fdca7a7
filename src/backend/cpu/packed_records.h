// The record frame shared by both packed-panel code layouts (matmul_packed.h): which bytes of a
// 16-row record hold the scales and where the codes start, and the packing of one record with
// a layout's own code placement.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cpu/matmul_avx2.h"
#include "core/dtype.h"
#include "quant/blocks.h"

namespace tmill::cpu::detail::packed {

using quant::kQK;
using quant::kQK_K;

// A packed tensor is [panel][unit] records; a unit is one block of 32 (legacy formats) or one
// super-block of 256 (K formats). Record layouts, 16 rows each (f16 and int8 arrays [16]):
//   Q4_0:  d | codes (nibbles, 256 B)                            288 B = 16 x 18, as the file
//   Q4_1:  d | m | codes (nibbles)                               320 B = 16 x 20
//   Q5_0:  d | high-bit masks (64 B) | codes (nibbles)           352 B = 16 x 22
//   Q8_0:  d | codes (bytes, 512 B)                              544 B = 16 x 34
//   Q4_K:  d | dmin | sc[8] | m[8] (u8) | 8 x codes (nibbles)   2368 B = 16 x 148 (file: 144)
//   Q6_K:  d | sc[16] (i8) | 8 x codes (six bits)              3360 B = 16 x 210, as the file
// How the codes sit inside their areas is the layout's business (int16 pairs: matmul_packed.cpp;
// int8 quads: matmul_packed_int8.cpp); both use these sizes.
inline constexpr size_t kF16Bytes = 2 * kPanelRows;
inline constexpr size_t kHighBitBytes = 8 * 8;
inline constexpr size_t kNibbleBytes = kQK * kPanelRows / 2;
inline constexpr size_t kByteCodes = kQK * kPanelRows;
inline constexpr size_t kSixBitBytes = kQK * kPanelRows * 6 / 8;

constexpr bool is_k(DType type) { return type == DType::Q4_K || type == DType::Q6_K; }
constexpr int64_t unit_elems(DType type) { return is_k(type) ? kQK_K : kQK; }
constexpr size_t codes_offset(DType type) {
  switch (type) {
    case DType::Q4_1:
      return 2 * kF16Bytes;
    case DType::Q5_0:
      return kF16Bytes + kHighBitBytes;
    case DType::Q4_K:
      return 2 * kF16Bytes + 2 * 8 * kPanelRows;
    case DType::Q6_K:
      return kF16Bytes + 16 * kPanelRows;
    default:
      return kF16Bytes;
  }
}
constexpr size_t block_codes_bytes(DType type) {
  return type == DType::Q8_0 ? kByteCodes : type == DType::Q6_K ? kSixBitBytes : kNibbleBytes;
}
constexpr size_t record_bytes(DType type) {
  return codes_offset(type) + block_codes_bytes(type) * static_cast<size_t>(unit_elems(type) / kQK);
}

// A layout's placement of row r's 32 codes c[k] (by element k of the block) into one block's
// areas. Nibble formats get codes 0..31 (Q5_0's bit 4 goes to high_bits, which may be null for
// the 4-bit formats), Q8_0 the int8 codes as bytes, Q6_K the codes 0..63.
struct CodePlacement {
  void (*nibbles)(uint8_t* area, int r, const uint8_t* c);
  void (*high_bits)(uint8_t* masks, int r, const uint8_t* c);
  void (*bytes)(uint8_t* area, int r, const uint8_t* c);
  void (*six_bits)(uint8_t* area, int r, const uint8_t* c);
};

// The 32 codes of one legacy block, by element, as stored (Q4: 0..15, Q5_0: 0..31, Q8_0: int8
// as bytes).
void legacy_codes(DType type, const uint8_t* block, uint8_t* c);

// One record: unit u of rows [o0, o0 + 16) of W (rows w_row_bytes apart), codes placed by
// `place`.
void pack_record(DType type, const uint8_t* W, size_t w_row_bytes, int64_t o0, int64_t u,
                 uint8_t* rec, const CodePlacement& place);

}  // namespace tmill::cpu::detail::packed
