#include "backend/cpu/packed_records.h"

#include <cstring>

#include "core/dtype.h"

namespace tmill::cpu::detail::packed {

void legacy_codes(DType type, const uint8_t* block, uint8_t* c) {
  if (type == DType::Q8_0) {
    std::memcpy(c, block + 2, kQK);
    return;
  }
  const uint8_t* qs = block + (type == DType::Q4_0 ? 2 : type == DType::Q4_1 ? 4 : 6);
  for (int k = 0; k < kQK / 2; ++k) {
    c[k] = qs[k] & 0x0f;
    c[k + kQK / 2] = qs[k] >> 4;
  }
  if (type == DType::Q5_0) {
    uint32_t qh;
    std::memcpy(&qh, block + 2, sizeof qh);
    for (int k = 0; k < kQK; ++k) c[k] |= static_cast<uint8_t>((qh >> k & 1) << 4);
  }
}

void pack_record(DType type, const uint8_t* W, size_t w_row_bytes, int64_t o0, int64_t u,
                 uint8_t* rec, const CodePlacement& place) {
  std::memset(rec, 0, codes_offset(type));
  uint8_t* codes = rec + codes_offset(type);
  for (int r = 0; r < kPanelRows; ++r) {
    const uint8_t* src = W + static_cast<size_t>(o0 + r) * w_row_bytes +
                         static_cast<size_t>(u * info(type).block_bytes);
    uint8_t c[kQK];
    switch (type) {
      case DType::Q4_K: {
        const auto blk = quant::load_block<quant::BlockQ4_K>(src, 0);
        std::memcpy(rec + 2 * r, &blk.d, 2);
        std::memcpy(rec + kF16Bytes + 2 * r, &blk.dmin, 2);
        uint8_t sc[8], mins[8];
        quant::unpack_k_scales(blk.scales, sc, mins);
        for (int j = 0; j < 8; ++j) {
          rec[2 * kF16Bytes + kPanelRows * j + r] = sc[j];
          rec[2 * kF16Bytes + kPanelRows * (8 + j) + r] = mins[j];
          // Sub-block j: the low (j even) or high (j odd) nibbles of qs[32 (j / 2) ..].
          for (int k = 0; k < kQK; ++k) {
            const uint8_t byte = blk.qs[32 * (j / 2) + k];
            c[k] = j % 2 ? byte >> 4 : byte & 15;
          }
          place.nibbles(codes + kNibbleBytes * j, r, c);
        }
        break;
      }
      case DType::Q6_K: {
        const auto blk = quant::load_block<quant::BlockQ6_K>(src, 0);
        std::memcpy(rec + 2 * r, &blk.d, 2);
        for (int s = 0; s < 16; ++s)
          rec[kF16Bytes + kPanelRows * s + r] = static_cast<uint8_t>(blk.scales[s]);
        int8_t q[kQK_K];
        quant::q6_k_codes(blk, q);
        for (int j = 0; j < 8; ++j) {
          for (int k = 0; k < kQK; ++k) c[k] = static_cast<uint8_t>(q[kQK * j + k] + 32);
          place.six_bits(codes + kSixBitBytes * static_cast<size_t>(j), r, c);
        }
        break;
      }
      default:
        std::memcpy(rec + 2 * r, src, 2);                                           // d
        if (type == DType::Q4_1) std::memcpy(rec + kF16Bytes + 2 * r, src + 2, 2);  // m
        legacy_codes(type, src, c);
        if (type == DType::Q8_0) {
          place.bytes(codes, r, c);
        } else {
          place.nibbles(codes, r, c);
          if (type == DType::Q5_0) place.high_bits(rec + kF16Bytes, r, c);
        }
        break;
    }
  }
}

}  // namespace tmill::cpu::detail::packed
