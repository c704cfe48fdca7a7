// Packed-panel weights (matmul_packed.h): the kernels over the packed copy give bit for bit what
// their definition gives over the file's rows (int16 layout: the batch-invariant int16 kernels;
// int8 layout: matmul_rows_int8_reference), for every token count, row range and thread count,
// directly and through CpuDevice::upload_weight + matmul.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_device.h"
#include "backend/cpu/int8_activations.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/matmul_int16.h"
#include "backend/cpu/matmul_packed.h"
#include "backend/cpu/matmul_packed_amx.h"
#include "backend/cpu/matmul_packed_int8.h"
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

using cpu::detail::PackedCodes;

// The reference over the file's rows, all tokens in one call: the unpacked batch-invariant
// kernels (int16 layout) or the scalar int8 definition.
std::vector<float> reference(DType type, PackedCodes layout, const Weights& w, int64_t n_in,
                             const float* x, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n * kOut));
  if (layout == PackedCodes::kInt8Quads)
    cpu::detail::matmul_rows_int8_reference(type, w.data, w.row_stride, n_in, x, n, y.data(), kOut,
                                            0, kOut);
  else
    cpu::detail::matmul_rows_int16_invariant(type, w.data, w.row_stride, n_in, x, n, y.data(), kOut,
                                             0, kOut);
  return y;
}

// Parameter: "FORMAT/int16" or "FORMAT/int8".
class PackedMatmul : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string p = GetParam();
    const size_t slash = p.find('/');
    type_ = *dtype_from_name(p.substr(0, slash));
    layout_ = p.substr(slash + 1) == "int8" ? PackedCodes::kInt8Quads : PackedCodes::kInt16Pairs;
    if (!cpu::detail::packed_supported(type_, kOut, 256))
      GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  }
  DType type_ = DType::F32;
  PackedCodes layout_ = PackedCodes::kInt16Pairs;
};

TEST_P(PackedMatmul, MatchesItsDefinitionBitForBit) {
  for (int64_t n_in : {768, 544, 32, 512}) {
    if (!row_bytes(type_, n_in).has_value()) continue;  // K formats: multiples of 256
    const Weights w = make_weights(type_, n_in, 21);
    const auto x = gaussian(kTokens * n_in, 22);
    const auto want = reference(type_, layout_, w, n_in, x.data(), kTokens);
    std::vector<uint8_t> packed(cpu::detail::packed_bytes(type_, kOut, n_in));
    const size_t source = kOut * *row_bytes(type_, n_in);
    if (type_ == DType::Q4_K || type_ == DType::Q6_K)
      ASSERT_LE(packed.size(), source * 131 / 100);
    else
      ASSERT_EQ(packed.size(), source) << "same bytes as the source";
    // Packed in two disjoint ranges, as threads do.
    cpu::detail::pack_rows(type_, w.data, w.row_stride, n_in, 0, 16, packed.data(), layout_);
    cpu::detail::pack_rows(type_, w.data, w.row_stride, n_in, 16, kOut, packed.data(), layout_);
    for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 37}) {
      // Prefetching changes no result: each weight prefetch setting in turn.
      const auto prefetch = static_cast<cpu::detail::WeightPrefetch>(n % 3);
      for (int64_t t0 : {int64_t{0}, kTokens - n}) {
        std::vector<float> y(static_cast<size_t>(n * kOut), -1.0f);
        // Rows in two calls at a panel boundary, both with same_input: the second reuses the
        // first's quantization, and the first must not reuse the previous iteration's (another
        // token range or count: same_input only holds for the very same input).
        cpu::detail::matmul_rows_packed(type_, packed.data(), n_in, x.data() + t0 * n_in, n,
                                        y.data(), kOut, 0, 32, layout_, /*same_input=*/true,
                                        prefetch);
        cpu::detail::matmul_rows_packed(type_, packed.data(), n_in, x.data() + t0 * n_in, n,
                                        y.data(), kOut, 32, kOut, layout_, /*same_input=*/true,
                                        prefetch);
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
  const auto want = reference(type_, layout_, w, n_in, x.data(), kTokens);
  for (int threads : {1, 2, 3}) {
    backend::DeviceOptions o;
    o.n_threads = threads;
    o.weight_prefetch = threads == 1 ? "off" : threads == 2 ? "far" : "auto";
    if (layout_ == PackedCodes::kInt8Quads) o.kernels = "int8";
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

// --weight-prefetch auto: far ahead only while the packed weights fit in a quarter of the
// last-level cache, and near ahead when the cache size is unknown.
TEST(WeightPrefetch, AutomaticChoiceFollowsTheCacheSizeAndTokens) {
  using cpu::detail::automatic_weight_prefetch;
  using cpu::detail::WeightPrefetch;
  constexpr size_t kMiB = size_t{1} << 20;
  // Cache-resident weights: far whatever the token count.
  EXPECT_EQ(automatic_weight_prefetch(98 * kMiB, 480 * kMiB, 1), WeightPrefetch::kFar);
  EXPECT_EQ(automatic_weight_prefetch(120 * kMiB, 480 * kMiB, 1), WeightPrefetch::kFar);
  EXPECT_EQ(automatic_weight_prefetch(120 * kMiB, 480 * kMiB, 16), WeightPrefetch::kFar);
  // From DRAM: near for one token, far when several share each panel.
  EXPECT_EQ(automatic_weight_prefetch(120 * kMiB + 1, 480 * kMiB, 1), WeightPrefetch::kNear);
  EXPECT_EQ(automatic_weight_prefetch(98 * kMiB, 32 * kMiB, 1), WeightPrefetch::kNear);
  EXPECT_EQ(automatic_weight_prefetch(98 * kMiB, 32 * kMiB, 2), WeightPrefetch::kFar);
  EXPECT_EQ(automatic_weight_prefetch(800 * kMiB, 32 * kMiB, 512), WeightPrefetch::kFar);
  EXPECT_EQ(automatic_weight_prefetch(1, 0, 1), WeightPrefetch::kNear);
  EXPECT_EQ(automatic_weight_prefetch(1, 0, 4), WeightPrefetch::kFar);
}

TEST(WeightPrefetch, UnknownSettingIsAnError) {
  backend::DeviceOptions o;
  o.weight_prefetch = "sometimes";
  auto dev = backend::create_device("cpu", o);
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message.find("choose auto, off, near or far"), std::string::npos)
      << dev.error().message;
}

// AMX tiles (matmul_packed_amx.h) give bit for bit what the VNNI kernels give, for token counts
// in whole tiles and with a remainder, and for row ranges split at a panel boundary. Skipped
// where the CPU has no AMX (the MatchesItsDefinitionBitForBit runs above then cover VNNI only).
TEST(PackedMatmulAmx, MatchesTheVnniKernelsBitForBit) {
  if (!cpu::detail::cpu_has_amx()) GTEST_SKIP() << "no AMX-INT8 on this CPU (or not granted)";
  for (DType type : {DType::Q4_1, DType::Q4_K}) {
    ASSERT_TRUE(cpu::detail::amx_covers(type));
    for (int64_t n_in : {256, 768}) {
      const Weights w = make_weights(type, n_in, 51);
      constexpr int64_t kMany = 69;  // four tiles of 16 and five more
      const auto x = gaussian(kMany * n_in, 52);
      std::vector<uint8_t> packed(cpu::detail::packed_bytes(type, kOut, n_in));
      cpu::detail::pack_rows(type, w.data, w.row_stride, n_in, 0, kOut, packed.data());
      for (int64_t n : {cpu::detail::kAmxMinTokens, int64_t{48}, kMany}) {
        std::vector<float> with(static_cast<size_t>(n * kOut)), without(with.size());
        cpu::detail::set_amx_enabled(false);
        cpu::detail::matmul_rows_packed(type, packed.data(), n_in, x.data(), n, without.data(),
                                        kOut, 0, kOut);
        cpu::detail::set_amx_enabled(true);
        ASSERT_TRUE(cpu::detail::amx_enabled());
        cpu::detail::matmul_rows_packed(type, packed.data(), n_in, x.data(), n, with.data(), kOut,
                                        0, 16);
        cpu::detail::matmul_rows_packed(type, packed.data(), n_in, x.data(), n, with.data(), kOut,
                                        16, kOut);
        ASSERT_EQ(std::memcmp(with.data(), without.data(), with.size() * sizeof(float)), 0)
            << dtype_name(type) << " n_in " << n_in << ", " << n << " tokens";
      }
    }
  }
}

// On Linux the AMX path must be found wherever the CPU reports AMX-INT8: a detection or
// permission failure would silently fall back to the slower kernels.
TEST(PackedMatmulAmx, DetectedWhereTheCpuHasIt) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo";
  std::string line;
  bool listed = false;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0) {
      listed = line.find(" amx_int8") != std::string::npos &&
               line.find(" amx_tile") != std::string::npos;
      break;
    }
  EXPECT_EQ(cpu::detail::cpu_has_amx(), listed && cpu::detail::cpu_has_avx512_vnni());
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
                         ::testing::Values("Q4_0/int16", "Q4_1/int16", "Q5_0/int16", "Q8_0/int16",
                                           "Q4_K/int16", "Q6_K/int16", "Q4_0/int8", "Q4_1/int8",
                                           "Q5_0/int8", "Q8_0/int8", "Q4_K/int8", "Q6_K/int8"),
                         [](const auto& p) {
                           std::string name = p.param;
                           name[name.find('/')] = '_';
                           return name;
                         });

// The int8 activations: codes round x · (127 / max|x|) to nearest even per block of 32, the
// scale is max|x| / 127, and the sums are its halves' code sums and scale · Σ codes.
TEST(Int8Activations, RoundPerBlockOf32) {
  if (!cpu::detail::packed_supported(DType::Q8_0, 16, 32)) GTEST_SKIP() << "no AVX-512 VNNI";
  constexpr int64_t kIn = 96, kRows = 3;
  auto x = gaussian(kRows * kIn, 41);
  for (int k = 32; k < 64; ++k) x[k] = 0.0f;  // an all-zero block: scale 0, codes 0
  x[70] = 127.5f / 127.0f * 3.0f;             // a tie-free large value next to small ones
  cpu::detail::Int8Activations a;
  cpu::detail::quantize_activations_int8(x.data(), kRows, kIn, a);
  for (int64_t b = 0; b < kRows * kIn / 32; ++b) {
    const float* xb = x.data() + b * 32;
    float max_abs = 0.0f;
    for (int k = 0; k < 32; ++k) max_abs = std::max(max_abs, std::fabs(xb[k]));
    const float inv = max_abs > 0.0f ? 127.0f / max_abs : 0.0f;
    int32_t half[2] = {0, 0};
    for (int k = 0; k < 32; ++k) {
      const auto want = static_cast<int8_t>(std::nearbyint(xb[k] * inv));
      ASSERT_EQ(a.codes[static_cast<size_t>(b * 32 + k)], want)
          << "block " << b << " element " << k;
      half[k / 16] += want;
    }
    EXPECT_EQ(a.scales[static_cast<size_t>(b)], max_abs / 127.0f);
    EXPECT_EQ(a.code_sums[static_cast<size_t>(2 * b)], half[0]);
    EXPECT_EQ(a.code_sums[static_cast<size_t>(2 * b + 1)], half[1]);
    EXPECT_EQ(a.sums[static_cast<size_t>(b)],
              (max_abs / 127.0f) * static_cast<float>(half[0] + half[1]));
    double sum = 0;
    for (int k = 0; k < 32; ++k) sum += xb[k];
    EXPECT_NEAR(a.sums[static_cast<size_t>(b)], sum, 32 * max_abs / 254 + 1e-6)
        << "within rounding";
  }
}

}  // namespace
}  // namespace tmill
