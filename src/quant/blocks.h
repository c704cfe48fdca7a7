// Packed block structs, bit-exact with GGUF's (ggml's) storage of each quantized type.
//
// Every struct is made only of uint8_t/int8_t arrays and uint16_t fields in the order the
// file stores them, so it has no padding and sizeof equals the on-disk block size (checked
// against core/dtype.cpp's table below and in tests). Half-precision scales are kept as raw
// IEEE f16 bits (convert with core/half.h).
//
// Tensor data in a GGUF file is aligned only at the tensor's start and blocks follow each
// other with no padding (an 18-byte Q4_0 block can start at any even offset, and a caller may
// hand us any byte pointer), so code never dereferences a Block* into tensor data: it copies
// the block out with load_block() (a memcpy the compiler turns into plain loads) or reads
// bytes. All multi-byte fields are little-endian, as are the machines we target.
//
// Element order inside a block ("element i" = i-th float of the dequantized block):
//   Q4_0/Q4_1: qs[j] low nibble = element j, high nibble = element j + 16 (j < 16).
//   Q5_0/Q5_1: as Q4 for the low 4 bits; bit i of the little-endian uint32 qh is bit 4 of
//              element i.
//   Q8_0:      qs[i] = element i.
//   K-quants (256 elements) are described next to each struct.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tmill::quant {

inline constexpr int kQK = 32;     // elements per block of the legacy formats
inline constexpr int kQK_K = 256;  // elements per super-block of the K-quants

// x = d * (q - 8), q in [0, 15].
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// x = d * q + m, q in [0, 15].
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};

// x = d * (q - 16), q in [0, 31].
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = d * q + m, q in [0, 31].
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = d * q, q in [-128, 127].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};

// Q2_K: 16 sub-blocks of 16 elements; x = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4),
// q in [0, 3]. The 256 elements are two halves of 128; half h uses qs[32h .. 32h + 32), and
// within a half, element 32*k + l (k < 4, l < 32) is bits 2k..2k+1 of qs[32h + l], in
// sub-block s = 8h + 2k + l / 16.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// Q3_K: 16 sub-blocks of 16; x = d * (scale[s] - 32) * q, q in [-4, 3]. Element layout as
// Q2_K for the 2 low bits of q + 4 (qs); bit m of hmask[l] (m = 4h + k) is the third bit, so
// q = low2 - (hmask bit set ? 0 : 4). The 16 6-bit scales are packed in 12 bytes:
//   scales[0..7]:  low 4 bits of scale s in byte s % 8, low nibble for s < 8, high for s >= 8
//   scales[8..11]: high 2 bits of scale s at bits 2*(s / 4) of byte 8 + s % 4
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// Q4_K: 8 sub-blocks of 32; x = d * sc[s] * q - dmin * m[s], q in [0, 15]. Chunk c (64
// elements, c < 4) uses qs[32c .. 32c + 32): low nibbles are sub-block 2c, high nibbles
// sub-block 2c + 1. The 6-bit sc/m pairs are packed in 12 bytes (see unpack_k_scales).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// Q5_K: as Q4_K with a fifth bit: element l of chunk c's low half has bit 2c of qh[l] as its
// bit 4, the high half bit 2c + 1. q in [0, 31].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// Q6_K: 16 sub-blocks of 16; x = d * scales[s] * (q - 32), q in [0, 63]. Half h (128
// elements) uses ql[64h .. 64h + 64), qh[32h .. 32h + 32), scales[8h .. 8h + 8). For l < 32,
// the four elements l, l + 32, l + 64, l + 96 of the half take their low 4 bits from
//   ql[l] & 15, ql[l + 32] & 15, ql[l] >> 4, ql[l + 32] >> 4
// and their high 2 bits from bits 0-1, 2-3, 4-5, 6-7 of qh[l]; element e of the half is in
// sub-block 8h + e / 16.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// Sizes must match core/dtype.cpp's table (block_bytes); tests also compare at run time.
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// Copy block `i` out of a packed row (any alignment).
template <class Block>
inline Block load_block(const void* row, int64_t i) {
  Block b;
  std::memcpy(&b, static_cast<const uint8_t*>(row) + static_cast<size_t>(i) * sizeof(Block),
              sizeof(Block));
  return b;
}

template <class Block>
inline void store_block(void* row, int64_t i, const Block& b) {
  std::memcpy(static_cast<uint8_t*>(row) + static_cast<size_t>(i) * sizeof(Block), &b,
              sizeof(Block));
}

// Q4_K/Q5_K: eight 6-bit scales sc[j] and mins m[j] packed in 12 bytes:
//   bytes 0..3:  sc[0..3] in bits 0-5; bits 6-7 are bits 4-5 of sc[4..7]
//   bytes 4..7:  m[0..3]  in bits 0-5; bits 6-7 are bits 4-5 of m[4..7]
//   bytes 8..11: low nibble = bits 0-3 of sc[4..7], high nibble = bits 0-3 of m[4..7]
inline void unpack_k_scales(const uint8_t packed[12], uint8_t sc[8], uint8_t m[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = packed[j] & 63;
    m[j] = packed[j + 4] & 63;
    sc[j + 4] = static_cast<uint8_t>((packed[j + 8] & 15) | ((packed[j] >> 6) << 4));
    m[j + 4] = static_cast<uint8_t>((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
  }
}

inline void pack_k_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t packed[12]) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    packed[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    packed[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

// Q6_K: the 256 codes of a super-block minus 32 (in [-32, 31]), by element; layout at
// BlockQ6_K. Element e is in sub-block e / 16.
inline void q6_k_codes(const BlockQ6_K& b, int8_t q[kQK_K]) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    int8_t* out = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<int8_t>(((ql[l] & 15) | (qh[l] & 3) << 4) - 32);
      out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4) - 32);
      out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4) - 32);
      out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4) - 32);
    }
  }
}

// Q3_K: sixteen 6-bit scales (stored biased by +32) packed in 12 bytes; layout at BlockQ3_K.
inline void unpack_q3_k_scales(const uint8_t packed[12], int8_t scale[16]) {
  for (int s = 0; s < 16; ++s) {
    const int low = (s < 8 ? packed[s] : packed[s - 8] >> 4) & 15;
    const int high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
    scale[s] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

inline void pack_q3_k_scales(const int8_t scale[16], uint8_t packed[12]) {
  std::memset(packed, 0, 12);
  for (int s = 0; s < 16; ++s) {
    const int biased = (scale[s] + 32) & 63;
    packed[s % 8] = static_cast<uint8_t>(packed[s % 8] | ((biased & 15) << (s < 8 ? 0 : 4)));
    packed[8 + s % 4] = static_cast<uint8_t>(packed[8 + s % 4] | ((biased >> 4) << (2 * (s / 4))));
  }
}

}  // namespace tmill::quant
