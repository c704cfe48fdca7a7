// AMX-INT8 tiles for the int16 packed-panel kernels (matmul_packed.h, layout kInt16Pairs), on
// CPUs with Intel AMX (Sapphire Rapids and later).
//
// Why: prefill and batched decode multiply many tokens by the same weights, so they are bound by
// integer multiply-adds, not by reading weights. One AMX tile instruction does 16 x 16 x 64
// int8 multiply-adds; measured on a 2-vCPU Sapphire Rapids VM, ~6.6 TOP/s per thread against
// ~0.47 TOP/s for vpdpwssd (the int16 kernels' instruction).
//
// How the results stay bit-identical to the int16 kernels: those define each row's result from
// exact int32 sums Σ code·x per block of 32 (then fixed float steps). AMX has no int16 inputs,
// so each int16 activation code x is split exactly as x = 256·hi + lo (hi: signed byte, lo:
// unsigned byte) and a block's sum is 256·Σ code·hi + Σ code·lo, both exact int32 tile products
// (the weights' codes as unsigned bytes). The float steps after the sums are the int16 kernels'
// (packed_panel.h, panel_tokens), in the same order. So AMX changes speed only: not the logits,
// not batch invariance, and tokens may go through AMX or the VNNI kernels in any mix.
//
// Tiles, per panel (16 weight rows) and tile of 16 tokens, per block of 32 elements:
//   A (tokens): 16 rows x 32 bytes, the hi (or lo) bytes of 16 tokens' codes for the block, read
//     in place from the split activations [token][n_in] (row stride n_in);
//   B (weights): 8 rows x 64 bytes, row g holding for each weight row r its four codes at
//     activation positions 4g .. 4g + 3 (the unpack order of int16_activations.h), built once
//     per panel from the packed record's nibbles;
//   C: 16 tokens x 16 weight rows of int32.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/int16_activations.h"
#include "core/dtype.h"

namespace tmill::cpu::detail {

// Whether AMX-INT8 can run here: the CPU reports AVX-512 VNNI, AMX-TILE and AMX-INT8, and Linux
// granted this process the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM; asked once, on
// first call).
bool cpu_has_amx();

// Process-wide switch (on by default; `--no-amx` turns it off to measure its gain). amx_enabled()
// is the switch and cpu_has_amx(). Not meant to be toggled while kernels run on other threads.
bool amx_enabled();
void set_amx_enabled(bool on);

// Tokens per tile: the AMX path takes whole tiles; the rest go through the VNNI kernels.
inline constexpr int64_t kAmxTokens = 16;
// Fewest tokens worth AMX: each call first rebuilds its panels' B tiles, which one tile of
// tokens does not repay (kernels_bench, one thread, Sapphire Rapids: 16 tokens 5-18% slower
// than the VNNI kernels, 64 tokens 22-32% faster, Q4_1 576x1536 and Q4_K 2048x640).
inline constexpr int64_t kAmxMinTokens = 32;

// The packed formats the AMX path multiplies.
bool amx_covers(DType type);

// The int16 codes of tokens [0, n_tokens) split into their high (signed) and low (unsigned)
// bytes, code = 256·hi + lo, [token][n_in] each, in the codes' own order.
struct SplitActivations {
  std::vector<int8_t> hi;
  std::vector<uint8_t> lo;
};
SplitActivations& thread_split_activations();
void split_activations(const QuantizedActivations& a, int64_t n_tokens, SplitActivations& s);

// y[t][o] for tokens t in [0, n_tiles · 16) and rows o in [row_begin, row_end) (multiples of 16)
// of a tensor packed in the int16 layout, type covered by amx_covers, from the activations `a`
// and their split `s`. Call only when amx_enabled().
void matmul_tiles_amx(DType type, const uint8_t* packed, int64_t n_in,
                      const QuantizedActivations& a, const SplitActivations& s, int64_t n_tiles,
                      float* y, int64_t y_stride, int64_t row_begin, int64_t row_end);

}  // namespace tmill::cpu::detail
