// The quantizer's per-tensor type choice (llama.cpp's mixes) on synthetic tensor lists of real
// model shapes, file type parsing, and row-parallel conversion.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "quant/formats.h"
#include "quant/quantize.h"

namespace tmill::quant {
namespace {

struct Shape {
  int hidden, layers, heads, kv_heads, ffn, vocab;
  bool tied;
};

// A llama-architecture tensor list as convert_hf_to_gguf writes it (F16 weights, F32 norms).
std::vector<MixTensor> llama_tensors(const Shape& s) {
  const int hd = s.hidden / s.heads;
  std::vector<MixTensor> t;
  auto add = [&](std::string name, int64_t ne0, int64_t ne1) {
    MixTensor m;
    m.name = std::move(name);
    m.n_dims = ne1 > 1 ? 2 : 1;
    m.ne[0] = ne0;
    m.ne[1] = ne1;
    m.type = ne1 > 1 ? DType::F16 : DType::F32;
    t.push_back(m);
  };
  add("token_embd.weight", s.hidden, s.vocab);
  for (int i = 0; i < s.layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    add(p + "attn_norm.weight", s.hidden, 1);
    add(p + "attn_q.weight", s.hidden, s.heads * hd);
    add(p + "attn_k.weight", s.hidden, s.kv_heads * hd);
    add(p + "attn_v.weight", s.hidden, s.kv_heads * hd);
    add(p + "attn_output.weight", s.heads * hd, s.hidden);
    add(p + "ffn_norm.weight", s.hidden, 1);
    add(p + "ffn_gate.weight", s.hidden, s.ffn);
    add(p + "ffn_up.weight", s.hidden, s.ffn);
    add(p + "ffn_down.weight", s.ffn, s.hidden);
  }
  add("output_norm.weight", s.hidden, 1);
  if (!s.tied) add("output.weight", s.hidden, s.vocab);
  return t;
}

constexpr Shape kLlama1B{2048, 16, 32, 8, 8192, 128256, true};
constexpr Shape kSmolLM2{576, 30, 9, 3, 1536, 49152, true};

MixModel model_of(const Shape& s) { return {"llama", s.layers, s.heads, s.kv_heads}; }

// name -> chosen type
std::map<std::string, DType> choose(const Shape& s, FileType ft, bool pure = false,
                                    bool leave_output = false, bool tied = true) {
  Shape shape = s;
  shape.tied = tied;
  const auto tensors = llama_tensors(shape);
  MixOptions o;
  o.ftype = ft;
  o.pure = pure;
  o.leave_output = leave_output;
  const auto choices = choose_types(model_of(shape), tensors, o);
  std::map<std::string, DType> m;
  for (size_t i = 0; i < tensors.size(); ++i) m[tensors[i].name] = choices[i].type;
  return m;
}

std::string blk(int i, const char* what) { return "blk." + std::to_string(i) + "." + what; }

// llama.cpp's use_more_bits for 16 layers: the first and last two, and every third between.
bool more_bits_16(int i) { return i < 2 || i >= 14 || (i - 2) % 3 == 2; }

TEST(QuantizeMix, Q4_K_M_OnLlama1BShape) {
  const auto m = choose(kLlama1B, FileType::MOSTLY_Q4_K_M);
  EXPECT_EQ(m.at("token_embd.weight"), DType::Q6_K);  // tied: the output's type
  EXPECT_EQ(m.at("output_norm.weight"), DType::F32);
  int n_more = 0;
  for (int i = 0; i < 16; ++i) {
    const DType more = more_bits_16(i) ? DType::Q6_K : DType::Q4_K;
    n_more += more_bits_16(i);
    EXPECT_EQ(m.at(blk(i, "attn_v.weight")), more) << i;
    EXPECT_EQ(m.at(blk(i, "ffn_down.weight")), more) << i;
    for (const char* name : {"attn_q.weight", "attn_k.weight", "attn_output.weight",
                             "ffn_gate.weight", "ffn_up.weight"})
      EXPECT_EQ(m.at(blk(i, name)), DType::Q4_K) << i << " " << name;
    EXPECT_EQ(m.at(blk(i, "attn_norm.weight")), DType::F32);
    EXPECT_EQ(m.at(blk(i, "ffn_norm.weight")), DType::F32);
  }
  EXPECT_EQ(n_more, 8);  // layers 0, 1, 4, 7, 10, 13, 14, 15
}

TEST(QuantizeMix, UntiedOutputGetsQ6KAndEmbeddingTheBaseType) {
  const auto m = choose(kLlama1B, FileType::MOSTLY_Q4_K_M, false, false, /*tied=*/false);
  EXPECT_EQ(m.at("output.weight"), DType::Q6_K);
  EXPECT_EQ(m.at("token_embd.weight"), DType::Q4_K);
  const auto left = choose(kLlama1B, FileType::MOSTLY_Q4_K_M, false, /*leave_output=*/true, false);
  EXPECT_EQ(left.at("output.weight"), DType::F16);
}

TEST(QuantizeMix, RowsNotMultipleOf256FallBackTo32ElementTypes) {
  // SmolLM2: hidden 576 = 2.25 * 256, so every matrix with 576-element rows falls back; ffn_down
  // (1536 = 6 * 256) keeps its K-quant.
  const auto m = choose(kSmolLM2, FileType::MOSTLY_Q4_K_M);
  EXPECT_EQ(m.at("token_embd.weight"), DType::Q8_0);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(m.at(blk(i, "attn_q.weight")), DType::Q5_0) << i;
    const bool more = i < 30 / 8 || i >= 7 * 30 / 8 || (i - 30 / 8) % 3 == 2;
    EXPECT_EQ(m.at(blk(i, "attn_v.weight")), more ? DType::Q8_0 : DType::Q5_0) << i;
    EXPECT_EQ(m.at(blk(i, "ffn_down.weight")), more ? DType::Q6_K : DType::Q4_K) << i;
  }
  const auto q5 = choose(kSmolLM2, FileType::MOSTLY_Q5_K_S);
  EXPECT_EQ(q5.at(blk(3, "ffn_up.weight")), DType::Q5_1);
  const auto q3 = choose(kSmolLM2, FileType::MOSTLY_Q3_K_S);
  EXPECT_EQ(q3.at(blk(3, "ffn_up.weight")), DType::Q4_0);
  EXPECT_EQ(q3.at(blk(3, "ffn_down.weight")), DType::Q3_K);
}

TEST(QuantizeMix, OtherMixes) {
  // Q2_K: attn_v by grouped-query factor (32/8 = 4 -> Q4_K), ffn_down and attn_output Q3_K.
  auto m = choose(kLlama1B, FileType::MOSTLY_Q2_K);
  EXPECT_EQ(m.at(blk(5, "attn_v.weight")), DType::Q4_K);
  EXPECT_EQ(m.at(blk(5, "ffn_down.weight")), DType::Q3_K);
  EXPECT_EQ(m.at(blk(5, "attn_output.weight")), DType::Q3_K);
  EXPECT_EQ(m.at(blk(5, "ffn_up.weight")), DType::Q2_K);
  EXPECT_EQ(m.at("token_embd.weight"), DType::Q6_K);
  // SmolLM2's factor is 3 -> Q3_K.
  EXPECT_EQ(choose(kSmolLM2, FileType::MOSTLY_Q2_K).at(blk(0, "attn_v.weight")), DType::Q4_0);

  // Q3_K_M: first two attn_v Q5_K, then Q4_K; ffn_down Q5_K below n/16 then Q4_K.
  m = choose(kLlama1B, FileType::MOSTLY_Q3_K_M);
  EXPECT_EQ(m.at(blk(1, "attn_v.weight")), DType::Q5_K);
  EXPECT_EQ(m.at(blk(2, "attn_v.weight")), DType::Q4_K);
  EXPECT_EQ(m.at(blk(0, "ffn_down.weight")), DType::Q5_K);
  EXPECT_EQ(m.at(blk(1, "ffn_down.weight")), DType::Q4_K);
  EXPECT_EQ(m.at(blk(1, "attn_output.weight")), DType::Q4_K);
  EXPECT_EQ(m.at(blk(1, "attn_q.weight")), DType::Q3_K);

  // Q3_K_L: attn_v, ffn_down, attn_output Q5_K.
  m = choose(kLlama1B, FileType::MOSTLY_Q3_K_L);
  EXPECT_EQ(m.at(blk(9, "attn_v.weight")), DType::Q5_K);
  EXPECT_EQ(m.at(blk(9, "ffn_down.weight")), DType::Q5_K);
  EXPECT_EQ(m.at(blk(9, "attn_output.weight")), DType::Q5_K);

  // Q4_K_S: attn_v of the first 4, ffn_down of the first n/8 = 2 layers get Q5_K.
  m = choose(kLlama1B, FileType::MOSTLY_Q4_K_S);
  EXPECT_EQ(m.at(blk(3, "attn_v.weight")), DType::Q5_K);
  EXPECT_EQ(m.at(blk(4, "attn_v.weight")), DType::Q4_K);
  EXPECT_EQ(m.at(blk(1, "ffn_down.weight")), DType::Q5_K);
  EXPECT_EQ(m.at(blk(2, "ffn_down.weight")), DType::Q4_K);

  // Q5_K_M: use_more_bits layers Q6_K.
  m = choose(kLlama1B, FileType::MOSTLY_Q5_K_M);
  EXPECT_EQ(m.at(blk(4, "attn_v.weight")), DType::Q6_K);
  EXPECT_EQ(m.at(blk(5, "attn_v.weight")), DType::Q5_K);
  EXPECT_EQ(m.at(blk(15, "ffn_down.weight")), DType::Q6_K);

  // Single-format types: output (tied embedding) Q6_K unless the type is Q8_0.
  m = choose(kLlama1B, FileType::MOSTLY_Q8_0);
  for (const auto& [name, type] : m)
    EXPECT_EQ(type, name.find("norm") != std::string::npos ? DType::F32 : DType::Q8_0) << name;
  m = choose(kLlama1B, FileType::MOSTLY_Q4_0);
  EXPECT_EQ(m.at("token_embd.weight"), DType::Q6_K);
  EXPECT_EQ(m.at(blk(0, "attn_v.weight")), DType::Q4_0);
  m = choose(kLlama1B, FileType::MOSTLY_Q6_K);
  EXPECT_EQ(m.at(blk(0, "ffn_down.weight")), DType::Q6_K);
  m = choose(kLlama1B, FileType::MOSTLY_F16);
  EXPECT_EQ(m.at("token_embd.weight"), DType::F16);
  EXPECT_EQ(m.at("output_norm.weight"), DType::F32);
}

TEST(QuantizeMix, PureUsesTheBaseTypeEverywhere) {
  const auto m = choose(kLlama1B, FileType::MOSTLY_Q4_K_M, /*pure=*/true);
  for (const auto& [name, type] : m)
    EXPECT_EQ(type, name.find("norm") != std::string::npos ? DType::F32 : DType::Q4_K) << name;
  // Fallback still applies: a Q4_K row must be a multiple of 256.
  EXPECT_EQ(choose(kSmolLM2, FileType::MOSTLY_Q4_K_M, true).at(blk(0, "attn_q.weight")),
            DType::Q5_0);
}

TEST(QuantizeMix, OnlyWeightMatricesAreQuantizable) {
  std::vector<MixTensor> t(4);
  t[0].name = "blk.0.attn_q.bias";  // not a weight
  t[0].n_dims = 2;
  t[0].ne[0] = 256;
  t[0].ne[1] = 4;
  t[1].name = "blk.0.attn_q.weight";  // 1-D
  t[1].ne[0] = 256;
  t[2].name = "blk.0.ffn_gate_inp.weight";  // MoE router
  t[2].n_dims = 2;
  t[2].ne[0] = 256;
  t[2].ne[1] = 8;
  t[3].name = "blk.0.ffn_up.weight";  // 100 is not a multiple of 32: F16
  t[3].n_dims = 2;
  t[3].ne[0] = 100;
  t[3].ne[1] = 8;
  MixOptions o;
  o.ftype = FileType::MOSTLY_Q4_K_M;
  const auto c = choose_types({"llama", 1, 1, 1}, t, o);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(c[static_cast<size_t>(i)].quantizable) << i;
    EXPECT_EQ(c[static_cast<size_t>(i)].type, DType::F32) << i;
  }
  EXPECT_TRUE(c[3].quantizable);
  EXPECT_TRUE(c[3].fallback);
  EXPECT_EQ(c[3].type, DType::F16);
}

TEST(QuantizeMix, ParsesFileTypes) {
  auto ft = parse_file_type("q4_k_m");
  ASSERT_TRUE(ft.ok());
  EXPECT_EQ(ft->ftype, FileType::MOSTLY_Q4_K_M);
  EXPECT_EQ(ft->base, DType::Q4_K);
  ft = parse_file_type("Q4_K");  // llama-quantize's alias for Q4_K_M
  ASSERT_TRUE(ft.ok());
  EXPECT_EQ(ft->ftype, FileType::MOSTLY_Q4_K_M);
  ft = parse_file_type("7");
  ASSERT_TRUE(ft.ok());
  EXPECT_EQ(ft->ftype, FileType::MOSTLY_Q8_0);
  for (const auto& f : file_types()) {
    auto back = parse_file_type(f.name);
    ASSERT_TRUE(back.ok()) << f.name;
    EXPECT_EQ(back->ftype, f.ftype);
  }
  ft = parse_file_type("Q4_K_X");
  ASSERT_FALSE(ft.ok());
  EXPECT_NE(ft.error().message.find("unknown quantization type 'Q4_K_X'"), std::string::npos);
  EXPECT_NE(ft.error().message.find("Q4_K_M"), std::string::npos) << ft.error().message;
}

TEST(QuantizeRows, ThreadedConversionMatchesRowByRow) {
  constexpr int64_t rows = 37, n = 512;
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> x(static_cast<size_t>(rows * n));
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> f16(*row_bytes(DType::F16, n) * rows);
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(DType::F16, x.data() + r * n, f16.data() + r * *row_bytes(DType::F16, n), n);
  for (DType to : {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::BF16}) {
    const size_t rb = *row_bytes(to, n);
    std::vector<uint8_t> want(rb * rows), got(rb * rows);
    std::vector<float> buf(n);
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(DType::F16, f16.data() + r * *row_bytes(DType::F16, n), buf.data(), n);
      quantize_row(to, buf.data(), want.data() + r * rb, n);
    }
    ThreadPool pool(3);
    int64_t last = 0;
    convert_rows(DType::F16, f16.data(), to, got.data(), rows, n, pool,
                 [&](int64_t done) { last = done; });
    EXPECT_EQ(got, want) << dtype_name(to);
    EXPECT_EQ(last, rows);
  }
}

}  // namespace
}  // namespace tmill::quant
