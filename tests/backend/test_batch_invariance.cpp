// Batch invariance (issue #5, item 4): the output of every op for token row t depends only on
// row t's input (plus the weights / that sequence's KV cache), bit for bit: not on how many
// other rows share the call, where row t sits in it, how the output rows are split among
// threads, or how many threads there are. The serving engine relies on it to give a greedy
// request the same tokens alone, in any batch, and with or without its prefix cached.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_device.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_int16.h"
#include "backend/device.h"
#include "core/dtype.h"
#include "quant/fixture_io.h"
#include "quant/formats.h"

namespace tmill {
namespace {

using backend::Tensor;
using testing::all_format_names;
using testing::gaussian;

// Sets the CPU kernel family for one test and restores the default afterwards.
struct KernelMode {
  explicit KernelMode(const std::string& kernels) {
    EXPECT_TRUE(backend::CpuDevice::select_kernels(kernels).ok());
  }
  ~KernelMode() { (void)backend::CpuDevice::select_kernels("auto"); }
};

// (Creating a device applies its kernel option process-wide, hence `kernels`.)
std::unique_ptr<backend::Device> cpu(int threads, const std::string& kernels = "auto") {
  backend::DeviceOptions o;
  o.n_threads = threads;
  o.kernels = kernels;
  auto d = backend::create_device("cpu", o);
  EXPECT_TRUE(d.ok());
  return std::move(d).value();
}

// Weights [n_out][n_in] of `type`, quantized from gaussian data, rows at an odd address and
// with a padded stride as in a GGUF file.
struct Weights {
  std::vector<uint8_t> storage;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;
};

Weights make_weights(DType type, int64_t n_out, int64_t n_in, uint32_t seed) {
  Weights w;
  w.row_stride = *row_bytes(type, n_in) + 3;
  w.storage.assign(1 + w.row_stride * static_cast<size_t>(n_out), 0xcd);
  const auto src = gaussian(n_out * n_in, seed);
  for (int64_t o = 0; o < n_out; ++o)
    quant::quantize_row(type, src.data() + o * n_in, w.storage.data() + 1 + o * w.row_stride, n_in);
  w.data = w.storage.data() + 1;
  return w;
}

constexpr int64_t kTokens = 37;
constexpr int64_t kOut = 37;  // two full 16-row panels and a partial one

// y [n_tokens][kOut] for tokens [t0, t0 + n) of x, output rows split at `splits` (as threads
// would split them).
std::vector<float> run_rows(DType type, const Weights& w, int64_t n_in, const std::vector<float>& x,
                            int64_t t0, int64_t n, const std::vector<int64_t>& splits) {
  std::vector<float> y(static_cast<size_t>(n * kOut), -1.0f);
  std::vector<float> scratch(static_cast<size_t>(n_in));
  int64_t begin = 0;
  for (size_t s = 0; s <= splits.size(); ++s) {
    const int64_t end = s < splits.size() ? splits[s] : kOut;
    cpu::matmul_rows(type, w.data, w.row_stride, n_in, x.data() + t0 * n_in, n, y.data(), kOut,
                     begin, end, scratch.data());
    begin = end;
  }
  return y;
}

void check_matmul_invariance(DType type, int64_t n_in, const std::string& kernels = "auto") {
  const Weights w = make_weights(type, kOut, n_in, 11);
  const auto x = gaussian(kTokens * n_in, 12);
  const auto full = run_rows(type, w, n_in, x, 0, kTokens, {});
  const size_t row = kOut * sizeof(float);
  auto expect_rows = [&](const std::vector<float>& y, int64_t t0, int64_t n, const char* what) {
    for (int64_t t = 0; t < n; ++t)
      ASSERT_EQ(std::memcmp(y.data() + t * kOut, full.data() + (t0 + t) * kOut, row), 0)
          << dtype_name(type) << " n_in " << n_in << " " << what << ": token " << t0 + t
          << " computed in a batch of " << n << " at offset " << t0 << " differs from the batch of "
          << kTokens;
  };
  for (int64_t n : {1, 2, 3, 4, 5, 8, 9, 16, 17, 33}) {
    for (int64_t t0 : {int64_t{0}, int64_t{1}, int64_t{3}, kTokens - n}) {
      if (t0 + n > kTokens) continue;
      expect_rows(run_rows(type, w, n_in, x, t0, n, {}), t0, n, "sub-batch");
    }
  }
  for (int64_t t = 0; t < kTokens; ++t)
    expect_rows(run_rows(type, w, n_in, x, t, 1, {}), t, 1, "alone");
  // Output rows split as threads would split them, at points inside panels and groups.
  expect_rows(run_rows(type, w, n_in, x, 0, kTokens, {1, 13, 30}), 0, kTokens, "row split");
  expect_rows(run_rows(type, w, n_in, x, 5, 17, {7, 8, 36}), 5, 17, "row split");

  // The same through the device, with 1 and 2 threads.
  for (int threads : {1, 2}) {
    auto dev = cpu(threads, kernels);
    Tensor tw;
    tw.type = type;
    tw.ne[0] = n_in;
    tw.ne[1] = kOut;
    tw.row_stride = w.row_stride;
    tw.data = const_cast<uint8_t*>(w.data);
    for (int64_t n : {int64_t{1}, int64_t{4}, kTokens}) {
      std::vector<float> y(static_cast<size_t>(n * kOut));
      Tensor tx = Tensor::f32_matrix(const_cast<float*>(x.data()), n, n_in, dev.get());
      Tensor ty = Tensor::f32_matrix(y.data(), n, kOut, dev.get());
      dev->matmul(tw, tx, ty);
      expect_rows(y, 0, n, threads == 1 ? "device, 1 thread" : "device, 2 threads");
    }
  }
}

class BatchInvariance : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchInvariance, MatmulRowsDoNotDependOnTheBatch) {
  const DType type = *dtype_from_name(GetParam());
  check_matmul_invariance(type, 768);
  // A row length that is not a multiple of 256 (nor of 8 blocks), where the format allows.
  if (row_bytes(type, 544).has_value()) check_matmul_invariance(type, 544);
  if (!info(type).quantized) check_matmul_invariance(type, 37);
}

// The ablation families (f32 activations everywhere, portable scalar code) keep the property.
TEST_P(BatchInvariance, MatmulF32AndScalarKernelsDoNotDependOnTheBatch) {
  const DType type = *dtype_from_name(GetParam());
  for (const char* kernels : {"f32", "scalar"}) {
    KernelMode mode(kernels);
    check_matmul_invariance(type, 768, kernels);
  }
}

// The multi-token int16 kernels exist as AVX-512 VNNI and AVX2 variants (the CPU decides which
// runs): both are invariant and agree with each other bit for bit.
TEST_P(BatchInvariance, Int16PanelVariantsAgree) {
  const DType type = *dtype_from_name(GetParam());
  if (!cpu::simd_enabled() || !cpu::detail::int16_supports(type)) GTEST_SKIP();
  const int64_t n_in = 768;
  const Weights w = make_weights(type, kOut, n_in, 13);
  const auto x = gaussian(kTokens * n_in, 14);
  const auto with_default = run_rows(type, w, n_in, x, 0, kTokens, {});
  cpu::detail::set_int16_vnni(false);
  const auto with_avx2 = run_rows(type, w, n_in, x, 0, kTokens, {});
  check_matmul_invariance(type, n_in);
  cpu::detail::set_int16_vnni(true);
  ASSERT_EQ(std::memcmp(with_default.data(), with_avx2.data(), with_avx2.size() * sizeof(float)),
            0);
}

INSTANTIATE_TEST_SUITE_P(All, BatchInvariance, ::testing::ValuesIn(all_format_names()),
                         [](const auto& p) { return p.param; });

// Attention: a query token's output is the same whatever other query tokens (of its own or
// other sequences) are in the call, and with 1 or 2 threads.
TEST(BatchInvarianceOps, AttentionDoesNotDependOnOtherQueries) {
  const int32_t n_head = 6, n_kv = 2, hd = 64, block = 16, kvw = n_kv * hd;
  // Two sequences of 75 and 40 positions, their blocks interleaved in the pool.
  const std::vector<std::vector<int32_t>> tables = {{0, 2, 4, 6, 7}, {1, 3, 5}};
  const std::vector<int32_t> lengths = {75, 40};
  const int32_t n_slots = 8 * block;
  std::vector<uint16_t> kc(static_cast<size_t>(n_slots * kvw)), vc(kc.size());
  auto dev = cpu(2);
  Tensor tkc = backend::kv_cache_view(kc.data(), n_slots / block, block, n_kv, hd, dev.get());
  Tensor tvc = backend::kv_cache_view(vc.data(), n_slots / block, block, n_kv, hd, dev.get());
  for (size_t s = 0; s < tables.size(); ++s) {
    auto k = gaussian(lengths[s] * kvw, 20 + static_cast<uint32_t>(s));
    auto v = gaussian(lengths[s] * kvw, 30 + static_cast<uint32_t>(s));
    std::vector<int32_t> slots;
    for (int32_t p = 0; p < lengths[s]; ++p)
      slots.push_back(tables[s][p / block] * block + p % block);
    Tensor tk = Tensor::f32_matrix(k.data(), lengths[s], kvw, dev.get());
    Tensor tv = Tensor::f32_matrix(v.data(), lengths[s], kvw, dev.get());
    dev->kv_store(tk, tv, tkc, tvc, slots);
  }
  // Query tokens: a prefill run of sequence 0 (positions 40..74) and decode-like tokens of
  // sequence 1, interleaved.
  std::vector<backend::AttentionToken> toks;
  for (int32_t p = 40; p < 75; ++p) {
    toks.push_back({p, tables[0].data()});
    if (p % 7 == 0) toks.push_back({p - 36, tables[1].data()});
  }
  const int64_t n = static_cast<int64_t>(toks.size());
  const int64_t width = n_head * hd;
  const auto q = gaussian(n * width, 40);
  for (int32_t window : {0, 20}) {
    backend::AttentionShape shape{n_head, n_kv, hd, block, window, 0.125f};
    auto run = [&](backend::Device& d, int64_t t0, int64_t count) {
      std::vector<float> out(static_cast<size_t>(count * width));
      Tensor tq = Tensor::f32_matrix(const_cast<float*>(q.data()) + t0 * width, count, width, &d);
      Tensor to = Tensor::f32_matrix(out.data(), count, width, &d);
      d.attention(tq, tkc, tvc, std::span(toks).subspan(static_cast<size_t>(t0), count), shape, to);
      return out;
    };
    const auto full = run(*dev, 0, n);
    auto one = cpu(1);
    const auto full1 = run(*one, 0, n);
    ASSERT_EQ(std::memcmp(full.data(), full1.data(), full.size() * sizeof(float)), 0)
        << "1 vs 2 threads, window " << window;
    for (int64_t t0 = 0; t0 < n; ++t0)
      for (int64_t count : {int64_t{1}, int64_t{3}}) {
        if (t0 + count > n) continue;
        const auto part = run(*dev, t0, count);
        ASSERT_EQ(std::memcmp(part.data(), full.data() + t0 * width, part.size() * sizeof(float)),
                  0)
            << "query tokens " << t0 << ".." << t0 + count << " of " << n << ", window " << window;
      }
  }
}

// The row-wise ops: each row alone equals the row in a batch.
TEST(BatchInvarianceOps, RowWiseOpsDoNotDependOnTheBatch) {
  const int64_t rows = 19, cols = 192, head = 64;
  const auto x = gaussian(rows * cols, 50);
  const auto w = gaussian(cols, 51);
  const auto u = gaussian(rows * cols, 52);
  std::vector<int32_t> pos(rows);
  for (int64_t r = 0; r < rows; ++r) pos[static_cast<size_t>(r)] = static_cast<int32_t>(3 * r + 1);
  auto apply = [&](backend::Device& d, int64_t r0, int64_t n) {
    std::vector<float> a(x.begin() + r0 * cols, x.begin() + (r0 + n) * cols), b(a.size()),
        c(a.size());
    std::vector<float> up(u.begin() + r0 * cols, u.begin() + (r0 + n) * cols);
    Tensor ta = Tensor::f32_matrix(a.data(), n, cols, &d);
    Tensor tb = Tensor::f32_matrix(b.data(), n, cols, &d);
    Tensor tc = Tensor::f32_matrix(c.data(), n, cols, &d);
    Tensor tu = Tensor::f32_matrix(up.data(), n, cols, &d);
    Tensor tw = Tensor::f32_matrix(const_cast<float*>(w.data()), 1, cols, &d);
    d.rms_norm(ta, tw, 1e-6f, tb);
    d.rope(tb, head, head, std::span(pos).subspan(static_cast<size_t>(r0), n), 10000.0f, 1.0f,
           nullptr, backend::RopeMode::NeoX);
    d.gated_activation(tb, tu, backend::Activation::Silu, tc);
    d.add(tc, ta);
    return c;
  };
  auto dev2 = cpu(2);
  auto dev1 = cpu(1);
  const auto full = apply(*dev2, 0, rows);
  for (int64_t r = 0; r < rows; ++r)
    for (backend::Device* d : {dev1.get(), dev2.get()}) {
      const auto one = apply(*d, r, 1);
      ASSERT_EQ(std::memcmp(one.data(), full.data() + r * cols, cols * sizeof(float)), 0)
          << "row " << r;
    }
}

}  // namespace
}  // namespace tmill
