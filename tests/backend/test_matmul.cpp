// CPU matmul kernels and the fast row dequantizer against the scalar reference in quant/,
// on both the SIMD and the scalar path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/matmul.h"
#include "core/clock.h"
#include "core/dtype.h"
#include "quant/fixture_io.h"
#include "quant/formats.h"

namespace tmill::cpu {
namespace {

using testing::all_format_names;
using testing::gaussian;

DType type_of(const std::string& name) { return *dtype_from_name(name); }

// Restores SIMD (and the int16-activation decode kernels) after a test that turned it off.
// batch_invariant = false selects the older token-count-dependent kernels.
struct SimdMode {
  explicit SimdMode(bool on, bool int16 = true, bool batch_invariant = true) {
    set_simd_enabled(on);
    set_int16_activations(int16);
    set_batch_invariant(batch_invariant);
  }
  ~SimdMode() {
    set_simd_enabled(true);
    set_int16_activations(true);
    set_batch_invariant(true);
  }
};

// A weight matrix of `type` quantized from gaussian data, laid out with a row stride larger
// than the packed row and starting at an odd address (GGUF blocks are unaligned).
struct Weights {
  std::vector<uint8_t> storage;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;
};

Weights make_weights(DType type, int64_t n_out, int64_t n_in, uint32_t seed) {
  Weights w;
  const size_t packed = *row_bytes(type, n_in);
  w.row_stride = packed + 3;
  w.storage.assign(1 + w.row_stride * static_cast<size_t>(n_out), 0xcd);
  const auto src = gaussian(n_out * n_in, seed);
  for (int64_t o = 0; o < n_out; ++o)
    quant::quantize_row(type, src.data() + o * n_in, w.storage.data() + 1 + o * w.row_stride, n_in);
  w.data = w.storage.data() + 1;
  return w;
}

void check_matmul(DType type, int64_t n_in, bool simd, bool int16 = true,
                  bool batch_invariant = true) {
  SimdMode mode(simd, int16, batch_invariant);
  // Two full 16-row panels plus a partial one, and rows outside the range left untouched.
  constexpr int64_t n_out = 37;
  constexpr int64_t row_begin = 1, row_end = 35;
  const Weights w = make_weights(type, n_out, n_in, 3);
  // The reference: dequantized rows, products summed in double.
  std::vector<float> wf(static_cast<size_t>(n_out * n_in));
  for (int64_t o = 0; o < n_out; ++o)
    quant::dequantize_row(type, w.data + o * w.row_stride, wf.data() + o * n_in, n_in);
  // Small counts take the fused path (groups of up to 4 tokens), larger ones the packed
  // panels (groups of up to 6): cover every group size of both.
  for (int64_t n_tokens : {1, 2, 3, 4, 5, 7, 8, 9, 13, 17}) {
    const auto x = gaussian(n_tokens * n_in, 100 + static_cast<uint32_t>(n_tokens));
    const int64_t y_stride = n_out + 2;
    std::vector<float> y(static_cast<size_t>(n_tokens * y_stride), -12345.0f);
    std::vector<float> scratch(static_cast<size_t>(n_in));
    matmul_rows(type, w.data, w.row_stride, n_in, x.data(), n_tokens, y.data(), y_stride, row_begin,
                row_end, scratch.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t o = 0; o < y_stride; ++o) {
        const float got = y[static_cast<size_t>(t * y_stride + o)];
        if (o < row_begin || o >= row_end) {
          ASSERT_EQ(got, -12345.0f) << "wrote outside the row range: t " << t << " o " << o;
          continue;
        }
        double ref = 0.0, mag = 0.0;
        for (int64_t i = 0; i < n_in; ++i) {
          const double p = static_cast<double>(wf[static_cast<size_t>(o * n_in + i)]) *
                           x[static_cast<size_t>(t * n_in + i)];
          ref += p;
          mag += std::fabs(p);
        }
        ASSERT_LE(std::fabs(got - ref), 1e-4 * mag + 1e-30)
            << dtype_name(type) << " simd " << simd << " n_in " << n_in << " n_tokens " << n_tokens
            << " t " << t << " o " << o << ": " << got << " vs " << ref;
      }
    }
  }
}

class MatmulFormat : public ::testing::TestWithParam<std::string> {};

TEST_P(MatmulFormat, SimdMatchesReference) {
  const DType type = type_of(GetParam());
  check_matmul(type, 512, true);
  // Plain formats also take row lengths that are not a multiple of the vector width.
  if (!info(type).quantized) check_matmul(type, 37, true);
}

// The f32 decode kernels, which --no-int16 (and formats without an int16 kernel) use.
TEST_P(MatmulFormat, SimdF32MatchesReference) {
  const DType type = type_of(GetParam());
  check_matmul(type, 512, true, /*int16=*/false);
}

// The older token-count-dependent kernels (--no-batch-invariant), int16 and f32.
TEST_P(MatmulFormat, SimdBatchVariantMatchesReference) {
  const DType type = type_of(GetParam());
  check_matmul(type, 512, true, true, /*batch_invariant=*/false);
  check_matmul(type, 512, true, false, /*batch_invariant=*/false);
  if (!info(type).quantized) check_matmul(type, 37, true, true, false);
}

TEST_P(MatmulFormat, ScalarMatchesReference) {
  const DType type = type_of(GetParam());
  check_matmul(type, 512, false);
  if (!info(type).quantized) check_matmul(type, 37, false);
}

// The fast dequantizer is bit-identical to the reference on gguf-py's random blocks.
TEST_P(MatmulFormat, FastDequantizeIsExact) {
  const auto f = testing::load_quant_fixture("dequant_" + GetParam() + ".bin");
  ASSERT_TRUE(f.has_value()) << "missing fixture for " << GetParam();
  for (bool simd : {true, false}) {
    SimdMode mode(simd);
    std::vector<uint8_t> shifted(f->bytes.size() + 1);
    std::memcpy(shifted.data() + 1, f->bytes.data(), f->bytes.size());
    std::vector<float> got(static_cast<size_t>(f->n_per_row)), want(got.size());
    for (int64_t r = 0; r < f->n_rows; ++r) {
      const uint8_t* row = shifted.data() + 1 + r * f->row_bytes;
      dequantize_row(f->type, row, got.data(), f->n_per_row);
      quant::dequantize_row(f->type, row, want.data(), f->n_per_row);
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
          << GetParam() << " simd " << simd << " row " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, MatmulFormat, ::testing::ValuesIn(all_format_names()),
                         [](const auto& p) { return p.param; });

// Not an assertion: prints single-thread throughput for the shapes of the shipped models so a
// regression is visible in the test log.
TEST(MatmulTiming, Q4_1_576x1536) {
#if !defined(NDEBUG) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "timings only mean something in optimized, uninstrumented builds";
#endif
  constexpr int64_t n_in = 576, n_out = 1536;
  const DType type = DType::Q4_1;
  const Weights w = make_weights(type, n_out, n_in, 9);
  std::vector<float> scratch(n_in);
  struct Mode {
    bool simd, int16, invariant;
    const char* name;
  };
  for (const Mode m :
       {Mode{true, true, true, "avx2 int16"}, Mode{true, true, false, "avx2 int16, batch-variant"},
        Mode{true, false, true, "avx2 f32"}, Mode{true, false, false, "avx2 f32, batch-variant"},
        Mode{false, false, true, "scalar"}}) {
    SimdMode mode(m.simd, m.int16, m.invariant);
    for (int64_t n_tokens : {1, 4, 16, 64, 512}) {
      const auto x = gaussian(n_tokens * n_in, 1);
      std::vector<float> y(static_cast<size_t>(n_tokens * n_out));
      matmul_rows(type, w.data, w.row_stride, n_in, x.data(), n_tokens, y.data(), n_out, 0, n_out,
                  scratch.data());  // warm-up
      // Repeat for ~50 ms (a few calls in slow sanitizer builds), keep the fastest call.
      double per_call = 1e30, spent = 0.0;
      for (int r = 0; r < 1000 && (r < 3 || spent < 0.05); ++r) {
        const double t0 = now_seconds();
        matmul_rows(type, w.data, w.row_stride, n_in, x.data(), n_tokens, y.data(), n_out, 0, n_out,
                    scratch.data());
        const double dt = now_seconds() - t0;
        per_call = dt < per_call ? dt : per_call;
        spent += dt;
      }
      std::printf(
          "matmul_rows Q4_1 %lldx%lld n_tokens=%lld (%s, 1 thread): %.1f us/call, %.2f GFLOP/s\n",
          static_cast<long long>(n_in), static_cast<long long>(n_out),
          static_cast<long long>(n_tokens), m.name, per_call * 1e6,
          2.0 * n_in * n_out * n_tokens / per_call * 1e-9);
    }
  }
}

}  // namespace
}  // namespace tmill::cpu
