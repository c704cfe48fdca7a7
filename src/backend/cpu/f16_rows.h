// f32 -> f16 conversion of a row (the KV cache's store path), round to nearest even as
// core/half.h's f32_to_f16, with F16C when the SIMD kernels are on. Bit-identical to f32_to_f16
// for every non-NaN input (NaN stays NaN; the payload may differ).
#pragma once

#include <cstdint>

namespace tmill::cpu {

void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);

}  // namespace tmill::cpu
