// Tensor formats against gguf-py's independent numpy implementation (fixtures from
// tools/gen-quant-fixtures.py), plus dot products, quantization error, and half conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/half.h"
#include "quant/blocks.h"
#include "quant/fixture_io.h"
#include "quant/formats.h"

namespace tmill::quant {
namespace {

using testing::all_format_names;
using testing::gaussian;
using testing::load_quant_fixture;
using testing::QuantFixture;

DType type_of(const std::string& name) { return *dtype_from_name(name); }

// Distance in representable floats between a and b (same sign assumed for non-zero pairs;
// +0 and -0 are 0 apart).
int64_t ulp_distance(float a, float b) {
  if (a == b) return 0;
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

TEST(Formats, SupportedSetAndBlockSizes) {
  for (const auto& name : all_format_names()) EXPECT_TRUE(is_supported(type_of(name))) << name;
  EXPECT_FALSE(is_supported(DType::Q8_1));
  EXPECT_FALSE(is_supported(DType::Q8_K));
  EXPECT_FALSE(is_supported(DType::I32));
  // blocks.h must agree with core/dtype.cpp's table.
  EXPECT_EQ(sizeof(BlockQ4_0), static_cast<size_t>(info(DType::Q4_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ4_1), static_cast<size_t>(info(DType::Q4_1).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_0), static_cast<size_t>(info(DType::Q5_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_1), static_cast<size_t>(info(DType::Q5_1).block_bytes));
  EXPECT_EQ(sizeof(BlockQ8_0), static_cast<size_t>(info(DType::Q8_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ2_K), static_cast<size_t>(info(DType::Q2_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ3_K), static_cast<size_t>(info(DType::Q3_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ4_K), static_cast<size_t>(info(DType::Q4_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_K), static_cast<size_t>(info(DType::Q5_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ6_K), static_cast<size_t>(info(DType::Q6_K).block_bytes));
  EXPECT_EQ(info(DType::Q4_0).block_size, kQK);
  EXPECT_EQ(info(DType::Q6_K).block_size, kQK_K);
}

TEST(Formats, KScalePackingRoundTrips) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 100; ++trial) {
    uint8_t sc[8], m[8], packed[12], sc2[8], m2[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = static_cast<uint8_t>(rng() % 64);
      m[j] = static_cast<uint8_t>(rng() % 64);
    }
    pack_k_scales(sc, m, packed);
    unpack_k_scales(packed, sc2, m2);
    for (int j = 0; j < 8; ++j) {
      EXPECT_EQ(sc[j], sc2[j]);
      EXPECT_EQ(m[j], m2[j]);
    }
    int8_t s3[16], s3b[16];
    for (int j = 0; j < 16; ++j) s3[j] = static_cast<int8_t>(static_cast<int>(rng() % 64) - 32);
    pack_q3_k_scales(s3, packed);
    unpack_q3_k_scales(packed, s3b);
    for (int j = 0; j < 16; ++j) EXPECT_EQ(s3[j], s3b[j]);
  }
}

class PerFormat : public ::testing::TestWithParam<std::string> {};

// Our dequantization equals gguf-py's on pseudo-random blocks, bit for bit (1 ulp allowed
// where float evaluation order could differ; in practice both evaluate the same operations).
// The rows are also read from an odd address: blocks are packed, unaligned data.
TEST_P(PerFormat, DequantizeMatchesReference) {
  const auto f = load_quant_fixture("dequant_" + GetParam() + ".bin");
  ASSERT_TRUE(f.has_value()) << "missing or bad fixture for " << GetParam();
  ASSERT_EQ(f->type, type_of(GetParam()));
  std::vector<uint8_t> shifted(f->bytes.size() + 1);
  std::memcpy(shifted.data() + 1, f->bytes.data(), f->bytes.size());
  std::vector<float> out(static_cast<size_t>(f->n_per_row));
  int64_t exact = 0;
  for (int64_t r = 0; r < f->n_rows; ++r) {
    dequantize_row(f->type, shifted.data() + 1 + r * f->row_bytes, out.data(), f->n_per_row);
    for (int64_t i = 0; i < f->n_per_row; ++i) {
      const float want = f->floats[static_cast<size_t>(r * f->n_per_row + i)];
      ASSERT_LE(ulp_distance(out[static_cast<size_t>(i)], want), 1)
          << GetParam() << " row " << r << " element " << i << ": " << out[static_cast<size_t>(i)]
          << " vs " << want;
      exact += out[static_cast<size_t>(i)] == want;
    }
  }
  EXPECT_EQ(exact, f->n_rows * f->n_per_row) << "all within 1 ulp, but not all bit-exact";
}

// dot_row equals the sum of dequantized weights times x (relative to sum |w x|).
TEST_P(PerFormat, DotMatchesDequantizedSum) {
  auto f = load_quant_fixture("dequant_" + GetParam() + ".bin");
  ASSERT_TRUE(f.has_value());
  if (f->type == DType::BF16) {
    // The BF16 fixture spans the whole exponent range, whose products overflow float; use
    // ordinary values.
    const auto v = gaussian(f->n_rows * f->n_per_row, 13);
    for (int64_t r = 0; r < f->n_rows; ++r)
      quantize_row(DType::BF16, v.data() + r * f->n_per_row, f->bytes.data() + r * f->row_bytes,
                   f->n_per_row);
  }
  const auto x = gaussian(f->n_per_row, 11);
  std::vector<float> w(static_cast<size_t>(f->n_per_row));
  for (int64_t r = 0; r < f->n_rows; ++r) {
    const uint8_t* row = f->bytes.data() + r * f->row_bytes;
    dequantize_row(f->type, row, w.data(), f->n_per_row);
    double ref = 0.0, mag = 0.0;
    for (size_t i = 0; i < w.size(); ++i) {
      ref += static_cast<double>(w[i]) * x[i];
      mag += std::fabs(static_cast<double>(w[i]) * x[i]);
    }
    const float got = dot_row(f->type, row, x.data(), f->n_per_row);
    EXPECT_LE(std::fabs(got - ref), 1e-5 * mag + 1e-30) << GetParam() << " row " << r;
  }
  // A partial row of a few blocks too.
  const int64_t bs = info(f->type).block_size;
  const int64_t n = bs * 3 <= f->n_per_row ? bs * 3 : bs;
  dequantize_row(f->type, f->bytes.data(), w.data(), n);
  double ref = 0.0, mag = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    ref += static_cast<double>(w[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)];
    mag += std::fabs(static_cast<double>(w[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)]);
  }
  EXPECT_LE(std::fabs(dot_row(f->type, f->bytes.data(), x.data(), n) - ref), 1e-5 * mag + 1e-30);
}

INSTANTIATE_TEST_SUITE_P(All, PerFormat, ::testing::ValuesIn(all_format_names()),
                         [](const auto& p) { return p.param; });

// The legacy formats (and F16/BF16) quantize exactly like gguf-py / ggml's reference
// round-to-nearest, byte for byte.
class QuantizeExact : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizeExact, MatchesReferenceBytes) {
  const auto f = load_quant_fixture("quant_" + GetParam() + ".bin");
  ASSERT_TRUE(f.has_value()) << "missing or bad fixture for " << GetParam();
  std::vector<uint8_t> out(f->row_bytes);
  for (int64_t r = 0; r < f->n_rows; ++r) {
    quantize_row(f->type, f->floats.data() + r * f->n_per_row, out.data(), f->n_per_row);
    const uint8_t* want = f->bytes.data() + r * f->row_bytes;
    for (size_t i = 0; i < f->row_bytes; ++i)
      ASSERT_EQ(out[i], want[i]) << GetParam() << " row " << r << " byte " << i << " (block "
                                 << i / static_cast<size_t>(info(f->type).block_bytes) << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Legacy, QuantizeExact,
                         ::testing::Values("F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"),
                         [](const auto& p) { return p.param; });

// quantize -> dequantize error relative to the signal, on gaussian data, per format.
struct ErrorBound {
  const char* name;
  double max_rel_rms;
};

class QuantizeError : public ::testing::TestWithParam<ErrorBound> {};

TEST_P(QuantizeError, WithinBound) {
  const DType type = type_of(GetParam().name);
  constexpr int64_t n = 4096;
  for (float sigma : {1.0f, 0.02f, 300.0f}) {
    const auto x = gaussian(n, 5, sigma);
    std::vector<uint8_t> q(*row_bytes(type, n));
    std::vector<float> y(static_cast<size_t>(n));
    quantize_row(type, x.data(), q.data(), n);
    dequantize_row(type, q.data(), y.data(), n);
    double err = 0.0, sig = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double e = static_cast<double>(y[static_cast<size_t>(i)]) - x[static_cast<size_t>(i)];
      err += e * e;
      sig += static_cast<double>(x[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)];
    }
    const double rel = std::sqrt(err / sig);
    EXPECT_LT(rel, GetParam().max_rel_rms) << GetParam().name << " sigma " << sigma;
    RecordProperty(std::string("rel_rms_") + std::to_string(sigma), std::to_string(rel));
  }
}

// Gaussian data; bounds are a margin above what the quantizers achieve (the K-quant scale
// search is described in src/quant/kquants.cpp).
INSTANTIATE_TEST_SUITE_P(All, QuantizeError,
                         ::testing::Values(ErrorBound{"F32", 1e-9}, ErrorBound{"F16", 3e-4},
                                           ErrorBound{"BF16", 2.5e-3}, ErrorBound{"Q8_0", 0.008},
                                           ErrorBound{"Q4_0", 0.10}, ErrorBound{"Q4_1", 0.10},
                                           ErrorBound{"Q5_0", 0.05}, ErrorBound{"Q5_1", 0.05},
                                           ErrorBound{"Q2_K", 0.32}, ErrorBound{"Q3_K", 0.18},
                                           ErrorBound{"Q4_K", 0.09}, ErrorBound{"Q5_K", 0.05},
                                           ErrorBound{"Q6_K", 0.025}),
                         [](const auto& p) { return std::string(p.param.name); });

// Quantizing zeros, constants and non-finite data never crashes and zeros stay zeros.
TEST(Formats, QuantizeDegenerateInputs) {
  constexpr int64_t n = 512;
  for (const auto& name : all_format_names()) {
    const DType type = type_of(name);
    std::vector<uint8_t> q(*row_bytes(type, n));
    std::vector<float> y(n);
    const std::vector<float> zeros(n, 0.0f);
    quantize_row(type, zeros.data(), q.data(), n);
    dequantize_row(type, q.data(), y.data(), n);
    for (float v : y) ASSERT_EQ(v, 0.0f) << name;
    const std::vector<float> constant(n, -1.5f);
    quantize_row(type, constant.data(), q.data(), n);
    dequantize_row(type, q.data(), y.data(), n);
    for (float v : y) ASSERT_NEAR(v, -1.5f, 0.05f) << name;
    std::vector<float> bad = gaussian(n, 3);
    bad[3] = NAN;
    bad[40] = INFINITY;
    bad[300] = -INFINITY;
    quantize_row(type, bad.data(), q.data(), n);  // must not trap; result unspecified
    dequantize_row(type, q.data(), y.data(), n);
  }
}

TEST(Half, F16RoundTripsEveryFiniteValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(Half, BF16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
  }
}

TEST(Half, RowFormatsRoundToNearestEven) {
  const float x[4] = {1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f, 65520.0f, 1e-8f};
  uint16_t h[4];
  quantize_row(DType::F16, x, h, 4);
  EXPECT_EQ(h[0], 0x3c00);  // halfway, rounds to even (down)
  EXPECT_EQ(h[1], 0x3c02);  // halfway, rounds to even (up)
  EXPECT_EQ(h[2], 0x7c00);  // overflows to infinity
  EXPECT_EQ(h[3], 0x0000);  // below half the smallest subnormal
}

}  // namespace
}  // namespace tmill::quant
