// Packed-panel weights (matmul_packed.h): the kernels over the packed copy give bit for bit what
// the batch-invariant int16 kernels give over the file's rows, for every token count, row range
// and thread count, directly and through CpuDevice::upload_weight + matmul.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_device.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/matmul_int16.h"
#include "backend/cpu/matmul_packed.h"
#include "backend/device.h"
#include "core/dtype.h"
#include "quant/fixture_io.h"
#include "quant/formats.h"

namespace tmill {
namespace {

using backend::Tensor;
using testing::gaussian;

constexpr int64_t kOut = 48;     // three panels
constexpr int64_t kTokens = 37;  // four full groups of 8 tokens and a partial one

// Weights [kOut][n_in] of `type`, rows at an odd address with a padded stride, as in a file.
struct Weights {
  std::vector<uint8_t> storage;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;
};

Weights make_weights(DType type, int64_t n_in, uint32_t seed) {
  Weights w;
  w.row_stride = *row_bytes(type, n_in) + 3;
  w.storage.assign(1 + w.row_stride * kOut, 0xcd);
  const auto src = gaussian(kOut * n_in, seed);
  for (int64_t o = 0; o < kOut; ++o)
    quant::quantize_row(type, src.data() + o * n_in, w.storage.data() + 1 + o * w.row_stride, n_in);
  w.data = w.storage.data() + 1;
  return w;
}

// The reference: the unpacked batch-invariant kernels, all tokens in one call.
std::vector<float> reference(DType type, const Weights& w, int64_t n_in, const float* x,
                             int64_t n) {
  std::vector<float> y(static_cast<size_t>(n * kOut));
  cpu::detail::matmul_rows_int16_invariant(type, w.data, w.row_stride, n_in, x, n, y.data(), kOut,
                                           0, kOut);
  return y;
}

class PackedMatmul : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    type_ = *dtype_from_name(GetParam());
    if (!cpu::detail::packed_supported(type_, kOut, 256))
      GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  }
  DType type_ = DType::F32;
};

TEST_P(PackedMatmul, MatchesTheInvariantKernelsBitForBit) {
  for (int64_t n_in : {768, 544, 32, 512}) {
    if (!row_bytes(type_, n_in).has_value()) continue;  // K formats: multiples of 256
    const Weights w = make_weights(type_, n_in, 21);
    const auto x = gaussian(kTokens * n_in, 22);
    const auto want = reference(type_, w, n_in, x.data(), kTokens);
    std::vector<uint8_t> packed(cpu::detail::packed_bytes(type_, kOut, n_in));
    const size_t source = kOut * *row_bytes(type_, n_in);
    if (type_ == DType::Q4_K || type_ == DType::Q6_K)
      ASSERT_LE(packed.size(), source * 131 / 100);
    else
      ASSERT_EQ(packed.size(), source) << "same bytes as the source";
    // Packed in two disjoint ranges, as threads do.
    cpu::detail::pack_rows(type_, w.data, w.row_stride, n_in, 0, 16, packed.data());
    cpu::detail::pack_rows(type_, w.data, w.row_stride, n_in, 16, kOut, packed.data());
    for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 37}) {
      for (int64_t t0 : {int64_t{0}, kTokens - n}) {
        std::vector<float> y(static_cast<size_t>(n * kOut), -1.0f);
        // Rows in two calls at a panel boundary.
        cpu::detail::matmul_rows_packed(type_, packed.data(), n_in, x.data() + t0 * n_in, n,
                                        y.data(), kOut, 0, 32);
        cpu::detail::matmul_rows_packed(type_, packed.data(), n_in, x.data() + t0 * n_in, n,
                                        y.data(), kOut, 32, kOut);
        for (int64_t t = 0; t < n; ++t)
          ASSERT_EQ(
              std::memcmp(y.data() + t * kOut, want.data() + (t0 + t) * kOut, kOut * sizeof(float)),
              0)
              << GetParam() << " n_in " << n_in << ": token " << t0 + t << " of a batch of " << n;
      }
    }
  }
}

TEST_P(PackedMatmul, DeviceUploadPacksAndMatmulUsesIt) {
  const int64_t n_in = row_bytes(type_, 576).has_value() ? 576 : 768;
  const Weights w = make_weights(type_, n_in, 31);
  const auto x = gaussian(kTokens * n_in, 32);
  const auto want = reference(type_, w, n_in, x.data(), kTokens);
  for (int threads : {1, 2, 3}) {
    backend::DeviceOptions o;
    o.n_threads = threads;
    auto dev = backend::create_device("cpu", o);
    ASSERT_TRUE(dev.ok());
    Tensor host;
    host.type = type_;
    host.ne[0] = n_in;
    host.ne[1] = kOut;
    host.row_stride = w.row_stride;
    host.data = const_cast<uint8_t*>(w.data);
    auto placed = (*dev)->upload_weight(host);
    ASSERT_TRUE(placed.ok());
    ASSERT_NE(placed->packed, nullptr);
    EXPECT_EQ(placed->data, host.data) << "row lookups still read the file's rows";
    // Two jobs in one call (as Q/K/V are), so thread boundaries fall inside panels.
    for (int64_t n : {int64_t{1}, int64_t{3}, kTokens}) {
      std::vector<float> y1(static_cast<size_t>(n * kOut)), y2(y1.size());
      Tensor tx = Tensor::f32_matrix(const_cast<float*>(x.data()), n, n_in, dev->get());
      Tensor ty1 = Tensor::f32_matrix(y1.data(), n, kOut, dev->get());
      Tensor ty2 = Tensor::f32_matrix(y2.data(), n, kOut, dev->get());
      const backend::Device::MatmulJob jobs[] = {{&*placed, &tx, &ty1}, {&*placed, &tx, &ty2}};
      (*dev)->matmul_many(jobs);
      ASSERT_EQ(std::memcmp(y1.data(), want.data(), y1.size() * sizeof(float)), 0)
          << threads << " threads, " << n << " tokens";
      ASSERT_EQ(std::memcmp(y2.data(), want.data(), y2.size() * sizeof(float)), 0)
          << threads << " threads, " << n << " tokens";
    }
  }
}

// Shapes the packed kernels do not cover keep the file's rows only.
TEST(PackedMatmulSupport, OnlyWholePanelsOfTheCoveredFormats) {
  EXPECT_FALSE(cpu::detail::packed_supported(DType::Q4_1, 40, 64));   // 40 rows: not whole panels
  EXPECT_FALSE(cpu::detail::packed_supported(DType::Q4_K, 32, 288));  // not whole super-blocks
  EXPECT_FALSE(cpu::detail::packed_supported(DType::Q5_K, 32, 256));
  EXPECT_FALSE(cpu::detail::packed_supported(DType::F32, 32, 64));
  EXPECT_EQ(cpu::detail::packed_supported(DType::Q8_0, 32, 64),
            cpu::detail::cpu_has_avx2() && cpu::detail::cpu_has_avx512_vnni());
}

INSTANTIATE_TEST_SUITE_P(Formats, PackedMatmul,
                         ::testing::Values("Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q6_K"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace tmill
