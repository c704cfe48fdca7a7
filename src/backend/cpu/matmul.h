// CPU matrix-vector / matrix-matrix products against weights stored in any supported tensor
// format (quant/formats.h), plus the fast row dequantizer they use.
//
// Kernels: AVX2+FMA+F16C when the running CPU has them (checked once at run time; the build
// itself uses no -march flags), otherwise portable scalar code. With AVX2, decode-sized
// products of the common quantized formats use integer dot products on int16-quantized
// activations (matmul_int16.h); prefill uses packed f32 panels (matmul_avx2.cpp). All are
// tested against the scalar reference in quant/formats.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tmill::cpu {

// y[t][o] = sum_i W[o][i] * x[t][i] for t < n_tokens, o in [row_begin, row_end).
// W: rows of `type` (row stride w_row_bytes; any byte alignment), x: f32 [n_tokens][n_in]
// (row stride n_in), y: f32 [n_tokens][y_stride]. scratch: >= n_in floats owned by the
// calling thread. `type` must satisfy quant::is_supported and n_in must be a multiple of its
// block size. Thread-safe for disjoint row ranges (each thread with its own scratch).
void matmul_rows(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in, const float* x,
                 int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end,
                 float* scratch /* >= n_in floats */);

// Same result as quant::dequantize_row (bit-identical except for NaN payloads in f16 values),
// using SIMD where available. For embedding lookups and other row-wise dequantization.
void dequantize_row(DType type, const uint8_t* src, float* dst, int64_t n);

// Whether the SIMD kernels are in use. set_simd_enabled(false) forces the scalar kernels
// (tests use it to cover both paths); set_simd_enabled(true) re-enables SIMD only if the CPU
// supports it. Not meant to be toggled while kernels run on other threads.
bool simd_enabled();
void set_simd_enabled(bool on);

// Whether decode-sized products (<= 8 token rows) of the formats matmul_int16.h covers use the
// int16-activation kernels (default) rather than the f32 ones. Only matters with SIMD on.
bool int16_activations_enabled();
void set_int16_activations(bool on);

// Batch invariance (default on): every output row y[t] depends only on x[t] and W, bit for
// bit — not on n_tokens, t's place in the batch, or the row range (thread split). The serving
// engine needs it for reproducible greedy outputs under continuous batching and prefix caching.
// With AVX2, int16 formats then use one numeric definition for every token count
// (matmul_int16.cpp, "Batch-invariant kernels"), the others one f32 definition
// (matmul_avx2.cpp); the scalar kernels are invariant by construction. Off restores the older
// token-count-dependent dispatch (decode int16 / f32 panels), for measurement.
bool batch_invariant();
void set_batch_invariant(bool on);

}  // namespace tmill::cpu
