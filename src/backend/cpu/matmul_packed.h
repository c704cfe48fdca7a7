// Weights repacked once at load into 16-row panels, for the AVX-512 VNNI int16 kernels.
//
// Why: the batch-invariant int16 kernels (matmul_int16.cpp) read a GGUF tensor row by row, so
// every call gathers each 16-row panel's scales and transposes its codes before any multiply,
// and at one token the scale gathers stall on DRAM (kernels_bench, SmolLM2's 576x1536 Q4_1
// read from DRAM: 136 us for one token vs 61 us for the row-wise decode kernel; 376 us for 16
// tokens). Doing the interleave once at load leaves the per-step kernels a linear stream of
// loads, widenings and vpdpwssd.
//
// A record holds, for 16 rows and one block of 32 (K formats: one super-block of 256), the
// scales, then the codes arranged so one 256-bit load widened to 16-bit lanes yields, per row,
// the int32 pairs the activations are broadcast against (record layouts and sizes per format
// are listed in matmul_packed.cpp; legacy formats and Q6_K keep the file's size, Q4_K +2.8%):
//   nibble codes (Q4_0, Q4_1, Q5_0, each Q4_K sub-block): 8 groups of 32 bytes; group g,
//     row r: bytes (A, B) with A = n[e(4g)] | n[e(4g+2)] << 4, B = n[e(4g+1)] | n[e(4g+3)] << 4
//     (n = low 4 bits), so the low nibbles of (A, B) are activation pair 2g and the high
//     nibbles pair 2g+1; Q5_0's fifth bits: per group two 32-bit lane masks (pairs 2g and
//     2g+1), bit 2r / 2r+1 = row r's first / second code's bit 4;
//   byte codes (Q8_0): 16 pairs of 32 bytes; pair p, row r: bytes c[e(2p)], c[e(2p+1)];
//   six-bit codes (each Q6_K block of 32, codes 0..63): 2 triples of three 64-byte vectors;
//     in triple m, 16-bit lane 2r + s of the three vectors, read as one 48-bit number, holds
//     c[e(2p+s)] of pairs p = 8m .. 8m+7 at bits 6(p - 8m) .. +5; the kernel subtracts the 32
//     as 32·Σx per half-block.
// c[k] is the row's code for element k of the block and e(s) the element at position s of the
// activations' unpack order (int16_activations.h). Records are [panel][block].
//
// Results are bit-identical to matmul_rows_int16_invariant (the batch-invariant definition in
// matmul_int16.cpp: exact int32 sub-block sums, then the same float operations in the same
// order per row), so packed and unpacked weights, and the serving engine's batch invariance,
// agree bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tmill::cpu::detail {

// Panels are kPanelRows (16, matmul_avx2.h) rows.

// How the codes sit in a record, which decides the activations' precision:
//   kInt16Pairs: the layout above, for int16 activations and vpdpwssd (the default: logits as
//     close to exact arithmetic as the f32 kernels);
//   kInt8Quads: four codes of a row per 32-bit lane, for int8 activations and vpdpbusd (twice
//     the multiply-adds per instruction; activations rounded to 8 bits per block of 32 as
//     llama.cpp rounds them; see matmul_packed_int8.h). `--kernels int8`.
// Both keep the record sizes; a tensor is packed and multiplied with one layout.
enum class PackedCodes { kInt16Pairs, kInt8Quads };

// Software prefetch of the packed weight stream, ahead of the kernels' loads (the first token
// group over each panel issues it; later groups find the panel in cache):
//   kOff: none, the hardware prefetchers only;
//   kNear: each record's lines kNearPrefetchBytes ahead, into L1. For weights streamed from
//     DRAM: the L2 streamer does most of the work, this covers its ramp at every matrix and
//     panel range (Llama-3.2-1B shape, Q4_K_M, tg64 +5%);
//   kFar: kNear plus the lines kFarPrefetchBytes ahead, into L2. For weights that stay in a
//     large last-level cache between tokens (SmolLM2 in a 480 MiB L3, tg128 ~2x): that
//     stream is latency-bound, and the streamer alone keeps too few lines in flight. From DRAM
//     it costs instead (1B shape tg64 -8%): the extra misses hold the core's fill buffers.
// Prefetches change no result.
enum class WeightPrefetch { kOff, kNear, kFar };
inline constexpr int64_t kNearPrefetchBytes = 1024;
inline constexpr int64_t kFarPrefetchBytes = 8192;

// What CpuDevice picks for --weight-prefetch auto, for a product of `n_tokens` tokens with a
// model whose packed weights are `packed_bytes` in all and a last-level cache of `cache_bytes`
// (0 = unknown):
//   kFar when the weights fit in a quarter of the cache. A quarter: the cache is shared with the
//     KV cache, activations and other processes (Gemma 3 270M, ~half of the Xeon's 480 MiB L3,
//     gained nothing from kFar);
//   kFar when several tokens share each panel (batched decode, prefill chunks): each panel then
//     costs more compute per byte, the L2 streamer falls behind, and the lines 8 KiB ahead
//     arrive in time (Zen 5, 32 MiB L3, weights from DRAM: batch16 SmolLM2 +11%, Gemma 3 +20%,
//     Llama-3.2-1B shape +4% over kNear; the Xeon's 1B shape: unchanged);
//   kNear otherwise: single-token decode from DRAM, where kFar's extra misses hold the fill
//     buffers the demand loads need (Xeon, 1B shape tg64 -3% against kNear).
WeightPrefetch automatic_weight_prefetch(size_t packed_bytes, size_t cache_bytes, int64_t n_tokens);

// Whether a weight [n_out][n_in] of `type` can be packed on this CPU: Q4_0, Q4_1, Q5_0, Q8_0,
// Q4_K or Q6_K, n_out a multiple of 16 (n_in is whole blocks), and AVX-512 VNNI present.
bool packed_supported(DType type, int64_t n_out, int64_t n_in);

// Bytes of the packed copy.
size_t packed_bytes(DType type, int64_t n_out, int64_t n_in);

// Packs rows [row_begin, row_end) (multiples of 16) of W (rows w_row_bytes apart) into `out`,
// which holds the whole tensor's packed copy. Callers may pack disjoint ranges in parallel.
void pack_rows(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in, int64_t row_begin,
               int64_t row_end, uint8_t* out, PackedCodes layout = PackedCodes::kInt16Pairs);

// y[t][o] for o in [row_begin, row_end) (multiples of 16), from the packed copy `packed` (packed
// with the same layout). The activations are quantized into this thread's buffers first.
// `same_input`: the caller promises that x's memory has not changed since this thread's
// previous call, and that no other matmul ran on this thread in between; if that call
// quantized the same x (pointer, shape, layout), its quantization is used again. A product
// split into many row chunks (CpuDevice::matmul_many) so quantizes its input once per thread.
// `prefetch`: see WeightPrefetch.
void matmul_rows_packed(DType type, const uint8_t* packed, int64_t n_in, const float* x,
                        int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                        int64_t row_end, PackedCodes layout = PackedCodes::kInt16Pairs,
                        bool same_input = false, WeightPrefetch prefetch = WeightPrefetch::kNear);

}  // namespace tmill::cpu::detail
