// matmul_rows dispatch and the portable scalar kernels (the AVX2 ones, and how they block the
// work, are in matmul_avx2.cpp).
//
// Scalar strategy: dequantize each weight row once into the caller's scratch with the reference
// dequantizer, then take its dot product with every token row while it sits in L1.
#include "backend/cpu/matmul.h"

#include <atomic>
#include <cstdint>
#include <vector>

#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/matmul_int16.h"
#include "core/check.h"
#include "quant/formats.h"

namespace tmill::cpu {
namespace {

std::atomic<bool> g_simd{detail::cpu_has_avx2()};
std::atomic<bool> g_int16{true};
std::atomic<bool> g_invariant{true};

// The AVX2 prefill path needs more than the one row of scratch the API hands us; this buffer
// lives per thread, grown once to the largest size seen, and is aligned to a cache line so the
// packed panel's vector loads never straddle lines.
float* prefill_buffer(int64_t n_floats) {
  constexpr size_t kAlignFloats = 64 / sizeof(float);
  thread_local std::vector<float> buffer;
  const size_t need = static_cast<size_t>(n_floats) + kAlignFloats;
  if (buffer.size() < need) buffer.resize(need);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(buffer.data());
  const size_t skip = (64 - addr % 64) % 64 / sizeof(float);
  return buffer.data() + skip;
}

// Eight independent partial sums: shorter dependency chains, and a fixed summation order
// that does not depend on how the compiler vectorizes.
float dot_scalar(const float* w, const float* x, int64_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += w[i + k] * x[i + k];
  float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; ++i) total += w[i] * x[i];
  return total;
}

void matmul_rows_scalar(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in,
                        const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                        int64_t row_begin, int64_t row_end, float* scratch) {
  for (int64_t o = row_begin; o < row_end; ++o) {
    // F32 rows are copied too: the weights may not be float-aligned.
    quant::dequantize_row(type, W + static_cast<size_t>(o) * w_row_bytes, scratch, n_in);
    for (int64_t t = 0; t < n_tokens; ++t)
      y[t * y_stride + o] = dot_scalar(scratch, x + t * n_in, n_in);
  }
}

}  // namespace

void matmul_rows(DType type, const uint8_t* W, size_t w_row_bytes, int64_t n_in, const float* x,
                 int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end,
                 float* scratch) {
  TM_CHECK(quant::is_supported(type), "matmul_rows: unsupported weight format");
  TM_CHECK(row_bytes(type, n_in).has_value() && *row_bytes(type, n_in) <= w_row_bytes,
           "matmul_rows: n_in does not fit the weight rows");
  TM_CHECK(row_begin <= row_end && n_tokens >= 0, "matmul_rows: bad ranges");
  if (row_begin == row_end || n_tokens == 0) return;
  if (g_simd.load(std::memory_order_relaxed) && g_invariant.load(std::memory_order_relaxed)) {
    if (detail::int16_supports(type) && g_int16.load(std::memory_order_relaxed)) {
      detail::matmul_rows_int16_invariant(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride,
                                          row_begin, row_end);
      return;
    }
    detail::matmul_rows_f32_invariant(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride,
                                      row_begin, row_end,
                                      prefill_buffer(detail::avx2_buffer_floats(n_in)));
    return;
  }
  if (g_simd.load(std::memory_order_relaxed)) {
    if (n_tokens <= detail::kInt16MaxTokens && detail::int16_supports(type) &&
        g_int16.load(std::memory_order_relaxed)) {
      detail::matmul_rows_int16(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride, row_begin,
                                row_end);
      return;
    }
    // Prefill-sized batches: the batch-invariant int16 panels (VNNI where the CPU has it) are
    // also the fastest multi-token kernel for the formats they cover (bench: pp128 on SmolLM2
    // Q4_1 856 vs 554 tokens/s through the f32 path).
    if (detail::int16_supports(type) && g_int16.load(std::memory_order_relaxed)) {
      detail::matmul_rows_int16_invariant(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride,
                                          row_begin, row_end);
      return;
    }
    float* buffer = n_tokens > 1 ? prefill_buffer(detail::avx2_buffer_floats(n_in)) : nullptr;
    detail::matmul_rows_avx2(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride, row_begin,
                             row_end, scratch, buffer);
    return;
  }
  matmul_rows_scalar(type, W, w_row_bytes, n_in, x, n_tokens, y, y_stride, row_begin, row_end,
                     scratch);
}

void dequantize_row(DType type, const uint8_t* src, float* dst, int64_t n) {
  TM_CHECK(quant::is_supported(type), "dequantize_row: unsupported format");
  TM_CHECK(row_bytes(type, n).has_value(), "dequantize_row: n is not a multiple of the block");
  if (g_simd.load(std::memory_order_relaxed) && detail::dequantize_row_avx2(type, src, dst, n))
    return;
  quant::dequantize_row(type, src, dst, n);
}

bool simd_enabled() { return g_simd.load(std::memory_order_relaxed); }

void set_simd_enabled(bool on) {
  g_simd.store(on && detail::cpu_has_avx2(), std::memory_order_relaxed);
}

bool int16_activations_enabled() { return g_int16.load(std::memory_order_relaxed); }

void set_int16_activations(bool on) { g_int16.store(on, std::memory_order_relaxed); }

bool batch_invariant() { return g_invariant.load(std::memory_order_relaxed); }

void set_batch_invariant(bool on) { g_invariant.store(on, std::memory_order_relaxed); }

}  // namespace tmill::cpu
