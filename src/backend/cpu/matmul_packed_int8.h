// The int8 packed-panel kernels (PackedCodes::kInt8Quads, matmul_packed.h): activations rounded
// to int8 per block of 32 (int8_activations.h), weights' codes multiplied as unsigned bytes
// against them with vpdpbusd, 64 multiply-adds per instruction where the int16 kernels'
// vpdpwssd does 32. Same record frame and sizes as the int16 layout (packed_records.h).
//
// Code areas, per block of 32 elements; a vector is 64 bytes, 16-row lane r its bytes
// 4r .. 4r+3, byte j of it below:
//   nibbles (Q4_0, Q4_1, Q5_0, each Q4_K sub-block), 4 vectors: vector v, byte j: low nibble
//     c[4v + j], high nibble c[16 + 4v + j] (the GGUF Q4 block's own pairing, so a Q4_0/Q4_1
//     row's lane is 4 bytes of its qs);
//   Q5_0's bit 4, 64 B: per vector v two 64-bit byte masks (low, then high codes), bit 4r + j =
//     row r's code's bit 4;
//   bytes (Q8_0), 8 vectors: vector v, byte j: c[4v + j] + 128 (the int8 code as unsigned);
//   six bits (Q6_K, codes 0..63), 4 nibble vectors as above holding the low 4 bits, then two
//     vectors of high bits: vector u, byte j, bits 2k, 2k+1: bits 4-5 of c[16u + 4k + j].
// c[k] is the row's code for element k. The codes' offsets (-8, -16, -128, -32 per 16) come off
// the integer sums as offset · Σ activation codes.
//
// Per row and token the result is defined by matmul_rows_int8_reference (scalar): exact int32
// sums per block, then the same float operations in the same order as the int16 definition
// (matmul_int16.cpp). The kernels match it bit for bit for every token count and row range, so
// the serving engine's batch invariance holds with them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cpu/matmul_packed.h"
#include "backend/cpu/packed_records.h"
#include "core/dtype.h"

namespace tmill::cpu::detail {

namespace packed {
extern const CodePlacement kInt8Quads;
}

// matmul_rows_packed for PackedCodes::kInt8Quads; quantize = false uses the activations this
// thread's previous call quantized.
void matmul_rows_packed_int8(DType type, const uint8_t* packed, int64_t n_in, const float* x,
                             int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                             int64_t row_end, bool quantize = true,
                             WeightPrefetch prefetch = WeightPrefetch::kNear);

// The definition the int8 kernels match, from the file's rows W (any rows): scalar sums and
// float steps, over the activations quantize_activations_int8 gives (so it too needs AVX-512).
void matmul_rows_int8_reference(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                                const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                                int64_t row_begin, int64_t row_end);

}  // namespace tmill::cpu::detail
