// Quantize -> dequantize RMSE per format on seeded Gaussian rows, held to llama.cpp's level.
//
// The reference numbers are llama.cpp's own quantizers without an importance matrix
// (ggml_quantize_chunk of the pinned build in ~/.cache/tokenmill-ref, dequantized by gguf-py)
// on 256 rows x 4096 N(0, 1) values from numpy; see tools/compare-quant-rmse.py. The legacy
// formats quantize byte-for-byte like llama.cpp, so they match exactly; the K-quants use our
// own search (src/quant/quantize_kquants.cpp) and must not be worse. A 1% margin covers the
// different random sample (std::mt19937 here): the RMSE over 1M values varies by ~0.1%.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "quant/formats.h"

namespace tmill::quant {
namespace {

struct Reference {
  const char* name;
  double llamacpp_rmse;  // measured, sigma = 1
};

double round_trip_rmse(DType type, float sigma, uint32_t seed) {
  constexpr int64_t rows = 256, n = 4096;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  std::vector<uint8_t> q(*row_bytes(type, n));
  double err = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : x) v = dist(rng);
    quantize_row(type, x.data(), q.data(), n);
    dequantize_row(type, q.data(), y.data(), n);
    for (size_t i = 0; i < x.size(); ++i) {
      const double e = static_cast<double>(y[i]) - x[i];
      err += e * e;
    }
  }
  return std::sqrt(err / static_cast<double>(rows * n));
}

class QuantizeRmse : public ::testing::TestWithParam<Reference> {};

TEST_P(QuantizeRmse, AtMostLlamaCppLevel) {
  const DType type = *dtype_from_name(GetParam().name);
  const double rmse = round_trip_rmse(type, 1.0f, 1234);
  RecordProperty("rmse", std::to_string(rmse));
  EXPECT_LE(rmse, GetParam().llamacpp_rmse * 1.01)
      << GetParam().name << ": RMSE " << rmse << " vs llama.cpp " << GetParam().llamacpp_rmse;
  // The error scales with the data (weights are ~0.02): same relative error at sigma 0.02.
  const double small = round_trip_rmse(type, 0.02f, 99) / 0.02;
  EXPECT_LE(small, GetParam().llamacpp_rmse * 1.01) << GetParam().name << " at sigma 0.02";
}

INSTANTIATE_TEST_SUITE_P(All, QuantizeRmse,
                         ::testing::Values(Reference{"Q8_0", 0.005342}, Reference{"Q4_0", 0.085824},
                                           Reference{"Q4_1", 0.078138}, Reference{"Q5_0", 0.042619},
                                           Reference{"Q5_1", 0.037839}, Reference{"Q2_K", 0.296026},
                                           Reference{"Q3_K", 0.150740}, Reference{"Q4_K", 0.071291},
                                           Reference{"Q5_K", 0.036101},
                                           Reference{"Q6_K", 0.017719}),
                         [](const auto& p) { return std::string(p.param.name); });

// Rows with a few outliers (as real weight matrices have): the K-quants keep them accurate
// without wrecking the rest of their block.
TEST(QuantizeRmse, OutliersStayBounded) {
  constexpr int64_t n = 4096;
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = dist(rng);
  for (int64_t i = 0; i < n; i += 97) x[static_cast<size_t>(i)] *= 12.0f;
  for (const char* name : {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}) {
    const DType type = *dtype_from_name(name);
    std::vector<uint8_t> q(*row_bytes(type, n));
    quantize_row(type, x.data(), q.data(), n);
    dequantize_row(type, q.data(), y.data(), n);
    double err = 0.0, sig = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      err += (y[i] - x[i]) * (y[i] - x[i]);
      sig += x[i] * x[i];
    }
    EXPECT_LT(std::sqrt(err / sig), 0.5) << name;
  }
}

}  // namespace
}  // namespace tmill::quant
