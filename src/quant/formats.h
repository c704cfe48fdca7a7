// Tensor formats: dequantize, dot product against f32 activations, and quantize, for every
// weight type GGUF models ship with. Block layouts are bit-exact with GGUF (see blocks.h).
//
// These are the plain scalar reference implementations. SIMD kernels in backend/cpu are
// tested against them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tmill::quant {

// Supported weight formats: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K.
bool is_supported(DType type);

// dst[0..n) = dequantized src row. n must be a multiple of the block size.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// sum_i w[i] * x[i] where w is a row of `type`, x is f32. n a multiple of the block size.
float dot_row(DType type, const void* w, const float* x, int64_t n);

// Quantize n floats into `type` blocks at dst (row_bytes(type, n) bytes). Used by tests and the
// quantizer. The legacy formats round exactly like ggml's reference quantizers; the K-quants use
// an importance-weighted least-squares scale search (quantize_kquants.cpp) whose round-trip
// error is at or below llama.cpp's without an importance matrix.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace tmill::quant
