// AVX2+FMA+F16C kernels behind matmul.h. Call only when cpu_has_avx2() is true: the functions
// are compiled for those instructions regardless of the build's target flags.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tmill::cpu::detail {

// The running CPU supports AVX2, FMA and F16C.
bool cpu_has_avx2();

// The running CPU supports AVX-512 F/BW/VL and VNNI (the int16 panel kernels' fast variant).
bool cpu_has_avx512_vnni();

// Bit-identical to quant::dequantize_row (except NaN payloads of f16 values). Returns false,
// writing nothing, for types without an AVX2 dequantizer (the caller uses the reference).
bool dequantize_row_avx2(DType type, const uint8_t* src, float* dst, int64_t n);

// Rows dequantized and packed together for prefill (see matmul_avx2.cpp).
inline constexpr int64_t kPanelRows = 16;

// Floats of the per-thread buffer matmul_rows_avx2 needs for prefill.
inline int64_t avx2_buffer_floats(int64_t n_in) { return 2 * kPanelRows * n_in; }

// matmul_rows; `buffer` (avx2_buffer_floats(n_in) floats, 32-byte aligned) must be given when
// n_tokens > 1 and may be null otherwise.
void matmul_rows_avx2(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                      const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end, float* scratch, float* buffer);

// The batch-invariant f32 kernel (see matmul_avx2.cpp): each row's result is the same for any
// n_tokens and row range. `buffer`: avx2_buffer_floats(n_in) floats.
void matmul_rows_f32_invariant(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                               const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                               int64_t row_begin, int64_t row_end, float* buffer);

}  // namespace tmill::cpu::detail
