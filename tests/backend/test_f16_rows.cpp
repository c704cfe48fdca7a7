// The KV cache's f32 -> f16 row conversion (F16C) against core/half.h's scalar rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backend/cpu/f16_rows.h"
#include "backend/cpu/matmul.h"
#include "core/half.h"

namespace tmill::cpu {
namespace {

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// Values that stress the rounding: halfway cases (even and odd), the subnormal range and its
// underflow edge, the overflow edge, infinities, zeros, plus random values over many
// magnitudes. 1003 values, so the scalar tail after the 8-wide loop runs too.
std::vector<float> hard_values() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.0f,
                          65504.0f,
                          65519.99f,
                          65520.0f,
                          -65520.0f,
                          1e9f,
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::denorm_min(),
                          5.96e-8f,
                          2.98e-8f,
                          2.99e-8f,
                          6.1e-5f,
                          6.09e-5f};
  // 1 + k * 2^-11 (halfway between f16 neighbours for odd k) and the same in the subnormals.
  for (uint32_t k = 1; k < 64; ++k) {
    v.push_back(from_bits(0x3f800000u + (k << 12)));
    v.push_back(from_bits(0x33800000u + (k << 12)));
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> exponent(-30.0f, 17.0f);
  std::normal_distribution<float> mantissa(0.0f, 1.0f);
  while (v.size() < 1003) v.push_back(mantissa(rng) * std::exp2(exponent(rng)));
  return v;
}

TEST(F16Rows, MatchesScalarRoundingOnBothPaths) {
  const std::vector<float> x = hard_values();
  const bool simd = simd_enabled();
  for (bool use_simd : {true, false}) {
    set_simd_enabled(use_simd);
    std::vector<uint16_t> y(x.size());
    f32_to_f16_row(x.data(), y.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(y[i], f32_to_f16(x[i]))
          << "x = " << x[i] << " (index " << i << ", simd " << use_simd << ")";
  }
  set_simd_enabled(simd);
}

TEST(F16Rows, NanStaysNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x(16, nan);
  std::vector<uint16_t> y(x.size());
  f32_to_f16_row(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (uint16_t h : y) EXPECT_TRUE(std::isnan(f16_to_f32(h)));
}

}  // namespace
}  // namespace tmill::cpu
