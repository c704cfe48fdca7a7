// Dispatch by type, the plain float formats (F32/F16/BF16), and the generic dot product.
#include "quant/formats.h"

#include <cstring>

#include "core/check.h"
#include "core/half.h"
#include "quant/formats_internal.h"

namespace tmill::quant {
namespace {

struct Ops {
  void (*dequantize)(const void* src, float* dst, int64_t n);
  void (*quantize)(const float* src, void* dst, int64_t n);
};

void dequantize_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void quantize_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

// 16-bit formats are read byte-wise (little-endian) since rows need not be 2-byte aligned.
uint16_t load_u16(const void* src, int64_t i) {
  const uint8_t* p = static_cast<const uint8_t*>(src) + 2 * i;
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
void store_u16(void* dst, int64_t i, uint16_t v) {
  uint8_t* p = static_cast<uint8_t*>(dst) + 2 * i;
  p[0] = static_cast<uint8_t>(v & 0xff);
  p[1] = static_cast<uint8_t>(v >> 8);
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(src, i));
}
void quantize_f16(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_u16(dst, i, f32_to_f16(src[i]));
}
void dequantize_bf16(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src, i));
}
void quantize_bf16(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_u16(dst, i, f32_to_bf16(src[i]));
}

const Ops* ops_for(DType type) {
  static constexpr Ops kF32{dequantize_f32, quantize_f32};
  static constexpr Ops kF16{dequantize_f16, quantize_f16};
  static constexpr Ops kBF16{dequantize_bf16, quantize_bf16};
  static constexpr Ops kQ4_0{detail::dequantize_q4_0, detail::quantize_q4_0};
  static constexpr Ops kQ4_1{detail::dequantize_q4_1, detail::quantize_q4_1};
  static constexpr Ops kQ5_0{detail::dequantize_q5_0, detail::quantize_q5_0};
  static constexpr Ops kQ5_1{detail::dequantize_q5_1, detail::quantize_q5_1};
  static constexpr Ops kQ8_0{detail::dequantize_q8_0, detail::quantize_q8_0};
  static constexpr Ops kQ2_K{detail::dequantize_q2_k, detail::quantize_q2_k};
  static constexpr Ops kQ3_K{detail::dequantize_q3_k, detail::quantize_q3_k};
  static constexpr Ops kQ4_K{detail::dequantize_q4_k, detail::quantize_q4_k};
  static constexpr Ops kQ5_K{detail::dequantize_q5_k, detail::quantize_q5_k};
  static constexpr Ops kQ6_K{detail::dequantize_q6_k, detail::quantize_q6_k};
  switch (type) {
    case DType::F32:
      return &kF32;
    case DType::F16:
      return &kF16;
    case DType::BF16:
      return &kBF16;
    case DType::Q4_0:
      return &kQ4_0;
    case DType::Q4_1:
      return &kQ4_1;
    case DType::Q5_0:
      return &kQ5_0;
    case DType::Q5_1:
      return &kQ5_1;
    case DType::Q8_0:
      return &kQ8_0;
    case DType::Q2_K:
      return &kQ2_K;
    case DType::Q3_K:
      return &kQ3_K;
    case DType::Q4_K:
      return &kQ4_K;
    case DType::Q5_K:
      return &kQ5_K;
    case DType::Q6_K:
      return &kQ6_K;
    default:
      return nullptr;
  }
}

// Callers check is_supported() and row_bytes() when a type or shape comes from a file, so a
// bad type or length here is a programming error.
const Ops& checked_ops(DType type, int64_t n) {
  const Ops* ops = ops_for(type);
  TM_CHECK(ops != nullptr, "unsupported tensor format");
  TM_CHECK(row_bytes(type, n).has_value(), "row length is not a multiple of the block size");
  return *ops;
}

}  // namespace

bool is_supported(DType type) { return ops_for(type) != nullptr; }

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  checked_ops(type, n).dequantize(src, dst, n);
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  checked_ops(type, n).quantize(src, dst, n);
}

// Dequantizes 256 elements at a time (a multiple of every block size) into a stack buffer.
// Each chunk is summed in float and the chunks in double, so a long row's result stays within
// a few float ulps of the exact sum of the dequantized products.
float dot_row(DType type, const void* w, const float* x, int64_t n) {
  const Ops& ops = checked_ops(type, n);
  constexpr int64_t kChunk = 256;
  const DTypeInfo& ti = info(type);
  const size_t chunk_bytes = static_cast<size_t>(kChunk / ti.block_size * ti.block_bytes);
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  float buf[kChunk];
  double total = 0.0;
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t len = n - i < kChunk ? n - i : kChunk;
    ops.dequantize(wb + static_cast<size_t>(i / kChunk) * chunk_bytes, buf, len);
    float sum = 0.0f;
    for (int64_t j = 0; j < len; ++j) sum += buf[j] * x[i + j];
    total += sum;
  }
  return static_cast<float>(total);
}

}  // namespace tmill::quant
