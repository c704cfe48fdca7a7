// CPU backend ops against naive double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/device.h"
#include "core/half.h"

namespace tmill::backend {
namespace {

std::unique_ptr<Device> cpu(int threads = 2) {
  DeviceOptions o;
  o.n_threads = threads;
  auto d = create_device("cpu", o);
  EXPECT_TRUE(d.ok());
  return std::move(d).value();
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(CpuOps, RegistryRejectsUnknownBackend) {
  auto d = create_device("quantum", {});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("available: cpu"), std::string::npos);
}

TEST(CpuOps, MatmulF32MatchesNaive) {
  auto dev = cpu();
  const int64_t n_out = 37, n_in = 64, n_tok = 5;
  auto w = random_floats(static_cast<size_t>(n_out * n_in), 1);
  auto x = random_floats(static_cast<size_t>(n_tok * n_in), 2);
  std::vector<float> y(static_cast<size_t>(n_tok * n_out));
  Tensor tw = Tensor::f32_matrix(w.data(), n_out, n_in, dev.get());
  Tensor tx = Tensor::f32_matrix(x.data(), n_tok, n_in, dev.get());
  Tensor ty = Tensor::f32_matrix(y.data(), n_tok, n_out, dev.get());
  dev->matmul(tw, tx, ty);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t o = 0; o < n_out; ++o) {
      double ref = 0;
      for (int64_t i = 0; i < n_in; ++i)
        ref += static_cast<double>(w[static_cast<size_t>(o * n_in + i)]) *
               x[static_cast<size_t>(t * n_in + i)];
      EXPECT_NEAR(y[static_cast<size_t>(t * n_out + o)], ref, 1e-4 * (1 + std::fabs(ref)));
    }
}

TEST(CpuOps, RmsNormPerRowAndPerHead) {
  auto dev = cpu();
  const int64_t rows = 3, head = 8, heads = 4;
  auto x = random_floats(static_cast<size_t>(rows * head * heads), 3);
  auto w = random_floats(static_cast<size_t>(head), 4);
  std::vector<float> y(x.size());
  Tensor tx = Tensor::f32_matrix(x.data(), rows, head * heads, dev.get());
  Tensor tw = Tensor::f32_matrix(w.data(), 1, head, dev.get());
  Tensor ty = Tensor::f32_matrix(y.data(), rows, head * heads, dev.get());
  dev->rms_norm(tx, tw, 1e-6f, ty);
  for (int64_t g = 0; g < rows * heads; ++g) {
    double ss = 0;
    for (int64_t i = 0; i < head; ++i)
      ss += static_cast<double>(x[static_cast<size_t>(g * head + i)]) *
            x[static_cast<size_t>(g * head + i)];
    const double inv = 1.0 / std::sqrt(ss / head + 1e-6);
    for (int64_t i = 0; i < head; ++i)
      EXPECT_NEAR(y[static_cast<size_t>(g * head + i)],
                  x[static_cast<size_t>(g * head + i)] * inv * w[static_cast<size_t>(i)], 1e-5);
  }
}

TEST(CpuOps, RopeNormalAndNeoxRotatePairsByPosition) {
  auto dev = cpu();
  const int32_t hd = 8;
  for (RopeMode mode : {RopeMode::Normal, RopeMode::NeoX}) {
    std::vector<float> x = random_floats(2 * hd, 5);
    const std::vector<float> orig = x;
    std::vector<int32_t> pos = {0, 7};
    Tensor tx = Tensor::f32_matrix(x.data(), 2, hd, dev.get());
    dev->rope(tx, hd, hd, pos, 10000.0f, 1.0f, nullptr, mode);
    for (int i = 0; i < hd; ++i)
      EXPECT_FLOAT_EQ(x[static_cast<size_t>(i)],
                      orig[static_cast<size_t>(i)]);  // position 0: identity
    for (int i = 0; i < hd / 2; ++i) {
      const double theta = 7.0 * std::pow(10000.0, -2.0 * i / hd);
      const int a = mode == RopeMode::Normal ? 2 * i : i;
      const int b = mode == RopeMode::Normal ? 2 * i + 1 : i + hd / 2;
      const double x0 = orig[static_cast<size_t>(hd + a)], x1 = orig[static_cast<size_t>(hd + b)];
      EXPECT_NEAR(x[static_cast<size_t>(hd + a)], x0 * std::cos(theta) - x1 * std::sin(theta),
                  1e-5);
      EXPECT_NEAR(x[static_cast<size_t>(hd + b)], x0 * std::sin(theta) + x1 * std::cos(theta),
                  1e-5);
    }
  }
}

// The device keeps cos/sin tables between calls (a forward rotates q and k of every layer with
// the same positions): a sequence of calls that alternates positions, bases, scales, factors
// and rotary widths must give exactly what a fresh device gives for each call alone.
TEST(CpuOps, RopeTablesNeverServeStaleAngles) {
  auto dev = cpu();
  const int32_t hd = 16;
  const std::vector<float> factors(hd / 2, 2.0f);
  struct Call {
    std::vector<int32_t> pos;
    float base, scale;
    const float* factors;
    int32_t n_rot;
  };
  const std::vector<Call> calls = {
      {{3, 4, 5}, 10000.0f, 1.0f, nullptr, hd},        {{3, 4, 5}, 1e6f, 1.0f, nullptr, hd},
      {{3, 4, 6}, 10000.0f, 1.0f, nullptr, hd},        {{3, 4, 5}, 10000.0f, 0.5f, nullptr, hd},
      {{3, 4, 5}, 10000.0f, 1.0f, factors.data(), hd}, {{3, 4, 5}, 10000.0f, 1.0f, nullptr, 8},
      {{3, 4}, 10000.0f, 1.0f, nullptr, hd},           {{3, 4, 5}, 10000.0f, 1.0f, nullptr, hd}};
  for (size_t c = 0; c < calls.size(); ++c) {
    const Call& call = calls[c];
    const auto rows = static_cast<int64_t>(call.pos.size());
    std::vector<float> x = random_floats(static_cast<size_t>(rows * 2 * hd), 30 + c);
    std::vector<float> expect = x;
    Tensor tx = Tensor::f32_matrix(x.data(), rows, 2 * hd, dev.get());
    dev->rope(tx, hd, call.n_rot, call.pos, call.base, call.scale, call.factors, RopeMode::NeoX);
    auto fresh = cpu();
    Tensor te = Tensor::f32_matrix(expect.data(), rows, 2 * hd, fresh.get());
    fresh->rope(te, hd, call.n_rot, call.pos, call.base, call.scale, call.factors, RopeMode::NeoX);
    EXPECT_EQ(x, expect) << "call " << c;
  }
}

// Attention through a scattered block table equals softmax(q·K)·V over the visible positions.
TEST(CpuOps, PagedAttentionMatchesNaiveCausalAndWindowed) {
  auto dev = cpu();
  const int32_t n_head = 4, n_kv = 2, hd = 16, block = 4, n_pos = 11;
  const int32_t kvw = n_kv * hd;
  std::vector<int32_t> table = {5, 2, 7};  // positions 0-3 in block 5, 4-7 in block 2, 8-10 in 7
  const int32_t n_slots = 8 * block;
  std::vector<uint16_t> kc(static_cast<size_t>(n_slots * kvw)), vc(kc.size());
  auto k = random_floats(static_cast<size_t>(n_pos * kvw), 6);
  auto v = random_floats(static_cast<size_t>(n_pos * kvw), 7);
  std::vector<int32_t> slots;
  for (int32_t p = 0; p < n_pos; ++p)
    slots.push_back(table[static_cast<size_t>(p / block)] * block + p % block);
  Tensor tk = Tensor::f32_matrix(k.data(), n_pos, kvw, dev.get()),
         tv = Tensor::f32_matrix(v.data(), n_pos, kvw, dev.get());
  Tensor tkc = backend::kv_cache_view(kc.data(), n_slots / block, block, n_kv, hd, dev.get());
  Tensor tvc = backend::kv_cache_view(vc.data(), n_slots / block, block, n_kv, hd, dev.get());
  dev->kv_store(tk, tv, tkc, tvc, slots);

  auto q = random_floats(static_cast<size_t>(3 * n_head * hd), 8);
  std::vector<int32_t> qpos = {0, 6, 10};
  std::vector<AttentionToken> toks;
  for (int32_t p : qpos) toks.push_back({p, table.data()});
  for (int32_t window : {0, 3}) {
    std::vector<float> out(q.size());
    Tensor tq = Tensor::f32_matrix(q.data(), 3, n_head * hd, dev.get());
    Tensor to = Tensor::f32_matrix(out.data(), 3, n_head * hd, dev.get());
    AttentionShape shape{n_head, n_kv, hd, block, window, 0.25f};
    dev->attention(tq, tkc, tvc, toks, shape, to);
    for (size_t t = 0; t < qpos.size(); ++t)
      for (int32_t h = 0; h < n_head; ++h) {
        const int32_t kvh = h / (n_head / n_kv);
        const int32_t lo = window > 0 ? std::max(0, qpos[t] - window + 1) : 0;
        std::vector<double> s;
        double mx = -1e300;
        for (int32_t p = lo; p <= qpos[t]; ++p) {
          double d = 0;
          for (int32_t i = 0; i < hd; ++i)
            d += q[t * static_cast<size_t>(n_head * hd) + static_cast<size_t>(h * hd + i)] *
                 static_cast<double>(
                     f16_to_f32(f32_to_f16(k[static_cast<size_t>(p * kvw + kvh * hd + i)])));
          s.push_back(d * 0.25);
          mx = std::max(mx, d * 0.25);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int32_t i = 0; i < hd; ++i) {
          double ref = 0;
          for (int32_t p = lo; p <= qpos[t]; ++p)
            ref += s[static_cast<size_t>(p - lo)] / z *
                   f16_to_f32(f32_to_f16(v[static_cast<size_t>(p * kvw + kvh * hd + i)]));
          EXPECT_NEAR(out[t * static_cast<size_t>(n_head * hd) + static_cast<size_t>(h * hd + i)],
                      ref, 1e-4)
              << "window " << window << " token " << t << " head " << h;
        }
      }
  }
}

TEST(CpuOps, GatedActivations) {
  auto dev = cpu();
  std::vector<float> g = {-3.0f, -0.5f, 0.0f, 0.7f, 4.0f}, u = {1.0f, 2.0f, 3.0f, -1.0f, 0.5f},
                     o(5);
  Tensor tg = Tensor::f32_matrix(g.data(), 1, 5, dev.get()),
         tu = Tensor::f32_matrix(u.data(), 1, 5, dev.get());
  Tensor to = Tensor::f32_matrix(o.data(), 1, 5, dev.get());
  dev->gated_activation(tg, tu, Activation::Silu, to);
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(o[i], g[i] / (1 + std::exp(-g[i])) * u[i], 1e-6);
  dev->gated_activation(tg, tu, Activation::GeluTanh, to);
  for (size_t i = 0; i < 5; ++i) {
    const double x = g[i];
    const double gelu = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    EXPECT_NEAR(o[i], gelu * u[i], 1e-5);
  }
}

}  // namespace
}  // namespace tmill::backend
