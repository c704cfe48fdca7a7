// The gated activations (backend/cpu/activation.h), AVX2 and scalar, against double-precision
// SiLU and tanh-GELU over a wide range of inputs: relative error within a few float ulps (the
// vector exp flushes below e^-87, so results under ~1e-36 may come out as 0).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/cpu/activation.h"
#include "backend/cpu/matmul.h"

namespace tmill::cpu {
namespace {

double silu(double x) { return x / (1.0 + std::exp(-x)); }
// 0.5 x (1 + tanh(y)) written as x / (1 + e^(-2y)): the same function, but 1 + tanh(y)
// cancels to 0 in double for y below about -19.
double gelu(double x) {
  return x / (1.0 + std::exp(-2.0 * std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

// Inputs from -40 to 40 in uneven steps, tiny magnitudes, zeros; n = 8k + 5 (vector body and
// scalar tail).
std::vector<float> inputs() {
  std::vector<float> x;
  for (float v = -40.0f; v <= 40.0f; v += 0.0371f) x.push_back(v);
  for (float v :
       {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, -1e-8f, 3e-4f, -3e-4f, 88.0f, -88.0f, 100.0f, -100.0f})
    x.push_back(v);
  while (x.size() % 8 != 5) x.push_back(0.5f);
  return x;
}

void check(bool simd) {
  const bool was = simd_enabled();
  set_simd_enabled(simd);
  const auto g = inputs();
  std::vector<float> u(g.size());
  for (size_t i = 0; i < u.size(); ++i) u[i] = (i % 3 == 0) ? -1.25f : 0.75f;
  std::vector<float> out(g.size());
  for (bool is_gelu : {false, true}) {
    if (is_gelu)
      gated_gelu(g.data(), u.data(), out.data(), static_cast<int64_t>(g.size()));
    else
      gated_silu(g.data(), u.data(), out.data(), static_cast<int64_t>(g.size()));
    for (size_t i = 0; i < g.size(); ++i) {
      const double want = (is_gelu ? gelu(g[i]) : silu(g[i])) * u[i];
      // The sigmoid's argument z is formed in float (|z| up to ~90), and e^z inherits its
      // rounding: relative error ~|z| * 2^-23 on top of the few ulps of the rest.
      const double z =
          is_gelu ? 2.0 * std::sqrt(2.0 / M_PI) * (g[i] + 0.044715 * g[i] * g[i] * g[i]) : g[i];
      const double rel = 4e-7 + 2.4e-7 * std::fabs(z);
      EXPECT_NEAR(out[i], want, rel * std::fabs(want) + 1e-35)
          << (is_gelu ? "gelu" : "silu") << (simd ? " simd" : " scalar") << " x=" << g[i];
    }
  }
  set_simd_enabled(was);
}

TEST(GatedActivation, Avx2MatchesDoublePrecision) { check(true); }
TEST(GatedActivation, ScalarMatchesDoublePrecision) { check(false); }

}  // namespace
}  // namespace tmill::cpu
