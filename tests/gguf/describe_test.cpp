// describe(): the `tokenmill inspect` text — header, every key with type and value, the
// tensor table and total — and its bounds on hostile content.
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/byte_builder.h"
#include "gguf/gguf.h"

namespace tmill::gguf {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (contains(line, needle)) return line;
  return "";
}

TEST(GgufDescribe, TinyF32) {
  auto f = File::open(std::string(TOKENMILL_SHARED_FIXTURES) + "/synthetic/tiny-F32.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  const std::string d = describe(*f);
  EXPECT_TRUE(contains(d, "GGUF v3, alignment 32, 21 metadata keys, 20 tensors")) << d;
  EXPECT_TRUE(contains(line_with(d, "general.architecture"), "string   \"llama\"")) << d;
  EXPECT_TRUE(contains(line_with(d, "llama.block_count"), "uint32   2")) << d;
  EXPECT_TRUE(contains(line_with(d, "llama.rope.freq_base"), "float32  10000")) << d;
  EXPECT_TRUE(contains(line_with(d, "layer_norm_rms_epsilon"), "1e-05")) << d;
  EXPECT_TRUE(contains(line_with(d, "add_bos_token"), "bool     false")) << d;
  EXPECT_TRUE(contains(line_with(d, "tokenizer.ggml.tokens"),
                       "[string; 4096] \"<|endoftext|>\", \"<fim_prefix>\""))
      << d;
  EXPECT_TRUE(contains(line_with(d, "tokenizer.ggml.tokens"), ", ...")) << d;
  EXPECT_TRUE(contains(line_with(d, "tokenizer.ggml.token_type"), "[int32; 4096] 3, 3")) << d;
  const std::string emb = line_with(d, "token_embd.weight");
  EXPECT_TRUE(contains(emb, "F32")) << emb;
  EXPECT_TRUE(contains(emb, "[256, 4096]")) << emb;
  EXPECT_TRUE(contains(emb, std::to_string(f->data_offset()))) << emb;
  EXPECT_TRUE(contains(emb, "4194304")) << emb;
  uint64_t total = 0;
  for (const auto& t : f->tensors()) total += t.size_bytes;
  EXPECT_TRUE(contains(d, "total: 20 tensors, ")) << d;
  EXPECT_TRUE(contains(d, std::to_string(total) + " bytes (")) << d;
  // Every key appears.
  for (const auto& kv : f->metadata()) EXPECT_TRUE(contains(d, kv.key)) << kv.key;
}

TEST(GgufDescribe, LongAndHostileStringsAreBounded) {
  testing::Bytes b;
  b.header(3, 1, 3);
  b.key("long", 8).str(std::string(10000, 'x'));
  b.key("ctl", 8).str(std::string_view("a\"b\\c\n\x1b[31m\xff", 12));
  b.key(std::string_view("odd key\x07", 8), 4).u32(1);
  b.tensor(std::string_view("t\n", 2), {4}, 0, 0).pad_to(32).zeros(16);
  const auto bytes = b.out;
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  const std::string d = describe(*f);
  const std::string long_line = line_with(d, "long");
  EXPECT_LT(long_line.size(), 150u) << long_line;
  EXPECT_TRUE(contains(long_line, "\"...")) << long_line;
  EXPECT_TRUE(contains(d, R"("a\"b\\c\n\x1B[31m\xFF")")) << d;
  EXPECT_TRUE(contains(d, R"("odd key\x07")")) << d;
  EXPECT_TRUE(contains(d, R"("t\n")")) << d;
  EXPECT_FALSE(contains(d, "\x1b")) << "raw escape byte reached the output";
}

TEST(GgufDescribe, UnicodeIsKeptWholeWhenTruncating) {
  // 100 two-byte characters: the cut must not split one.
  std::string s;
  for (int i = 0; i < 100; ++i) s += "\xC3\xA9";
  Writer w;
  w.add_string("u", s);
  const auto bytes = w.to_bytes();
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok());
  const std::string line = line_with(describe(*f), "  u ");
  EXPECT_TRUE(contains(line, "\"" + s.substr(0, 80) + "\"...")) << line;
  EXPECT_FALSE(contains(line, "\\x")) << line;
}

TEST(GgufDescribe, NestedArraysAreBounded) {
  // Depth-8 nesting with 5 items per level would be 390625 leaves if printed in full.
  auto level = std::make_shared<Array>();
  Array leaf;
  leaf.element_type = ValueType::UINT8;
  leaf.items = std::vector<int64_t>{1, 2, 3, 4, 5};
  Array cur = leaf;
  for (int depth = 1; depth < 8; ++depth) {
    Array up;
    up.element_type = ValueType::ARRAY;
    up.items = std::vector<Array>(5, cur);
    cur = up;
  }
  *level = cur;
  Writer w;
  w.add("bomb", Value{ValueType::ARRAY, level});
  const auto bytes = w.to_bytes();
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  const std::string line = line_with(describe(*f), "bomb");
  EXPECT_LT(line.size(), 400u) << line;
  EXPECT_TRUE(contains(line, "[array; 5] {[array; 5] {")) << line;
}

TEST(GgufDescribe, EmptyFile) {
  Writer w;
  const auto bytes = w.to_bytes();
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok());
  const std::string d = describe(*f);
  EXPECT_TRUE(contains(d, "0 metadata keys, 0 tensors")) << d;
  EXPECT_TRUE(contains(d, "tensors: none")) << d;
}

}  // namespace
}  // namespace tmill::gguf
