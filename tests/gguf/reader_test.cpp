// Reader tests: the shared fixtures, v2/v1 handling, every value type, and validation
// rules that are easier to state with hand-built bytes than with corpus files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <string>

#include "common/test_support.h"
#include "gguf/byte_builder.h"
#include "gguf/gguf.h"
#include "gguf/test_paths.h"

namespace tmill::gguf {
namespace {

namespace fs = std::filesystem;
using testing::Bytes;

constexpr uint32_t kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
                   kStr = 8, kArr = 9, kU64 = 10, kI64 = 11, kF64 = 12;

std::vector<fs::path> gguf_files(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".gguf") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

Expected<File> parse(const Bytes& b) { return File::parse(b.out); }

std::string error_of(const Bytes& b) {
  auto f = parse(b);
  return f.ok() ? std::string("<parsed OK>") : f.error().message;
}

// Tensor data must lie inside the file, aligned, and (for these well-formed files) not overlap.
void expect_sane_tensors(const File& f, const std::string& label) {
  const auto* base = f.tensors().empty() ? nullptr : f.tensors()[0].data - f.tensors()[0].offset;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(t.offset % f.alignment(), 0u) << label << " " << t.name;
    EXPECT_LE(f.data_offset() + t.offset + t.size_bytes, f.file_size()) << label << " " << t.name;
    EXPECT_EQ(t.data, base + t.offset) << label;
    const auto row = row_bytes(t.type, t.ne[0]);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(t.size_bytes, *row * static_cast<uint64_t>(t.rows())) << label << " " << t.name;
    ranges.emplace_back(t.offset, t.offset + t.size_bytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    EXPECT_LE(ranges[i - 1].second, ranges[i].first) << label << ": tensors overlap";
}

TEST(GgufReader, SyntheticFixturesParse) {
  const auto files = gguf_files(fs::path(TOKENMILL_SHARED_FIXTURES) / "synthetic");
  ASSERT_FALSE(files.empty()) << "no fixtures in " << TOKENMILL_SHARED_FIXTURES;
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    auto f = File::open(path.string());
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(f->version(), 3u);
    ASSERT_NE(f->get_string("general.architecture"), nullptr);
    EXPECT_EQ(*f->get_string("general.architecture"), "llama");
    EXPECT_EQ(f->get_int("llama.block_count"), 2);
    EXPECT_EQ(f->get_int("llama.embedding_length"), 256);
    EXPECT_EQ(f->get_int("llama.vocab_size"), 4096);
    EXPECT_NEAR(*f->get_float("llama.rope.freq_base"), 10000.0, 1e-9);
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), false);
    const Array* tokens = f->get_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->element_type, ValueType::STRING);
    EXPECT_EQ(tokens->size(), 4096u);
    // 2 per-model tensors + 9 per layer.
    EXPECT_EQ(f->tensors().size(), 20u);
    const TensorInfo* emb = f->find_tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->n_dims, 2);
    EXPECT_EQ(emb->ne[0], 256);
    EXPECT_EQ(emb->ne[1], 4096);
    // The file name says the main weight type: tiny-Q4_K.gguf stores Q4_K weights.
    const std::string stem = path.stem().string();
    const auto expected_type = dtype_from_name(stem.substr(stem.find('-') + 1));
    ASSERT_TRUE(expected_type.has_value()) << stem;
    EXPECT_EQ(f->find_tensor("blk.0.attn_q.weight")->type, *expected_type);
    EXPECT_EQ(f->find_tensor("output_norm.weight")->type, DType::F32);
    expect_sane_tensors(*f, stem);
  }
}

TEST(GgufReader, TinyF32Contents) {
  auto f = File::open(std::string(TOKENMILL_SHARED_FIXTURES) + "/synthetic/tiny-F32.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->metadata().size(), 21u);
  EXPECT_EQ(f->metadata()[0].key, "general.architecture");
  EXPECT_EQ(f->get_int("llama.attention.head_count"), 4);
  EXPECT_EQ(f->get_int("llama.attention.head_count_kv"), 2);
  EXPECT_NEAR(*f->get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-10);
  EXPECT_EQ(*f->get_string("tokenizer.ggml.model"), "gpt2");
  const auto& tokens =
      std::get<std::vector<std::string>>(f->get_array("tokenizer.ggml.tokens")->items);
  EXPECT_EQ(tokens[0], "<|endoftext|>");
  const auto& types =
      std::get<std::vector<int64_t>>(f->get_array("tokenizer.ggml.token_type")->items);
  EXPECT_EQ(types.size(), 4096u);
  const TensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::F32);
  EXPECT_EQ(emb->offset, 0u);
  EXPECT_EQ(emb->size_bytes, 256u * 4096u * 4u);
  EXPECT_EQ(emb->n_elements(), 256 * 4096);
  EXPECT_EQ(emb->data, f->tensors()[0].data);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  const TensorInfo* norm = f->find_tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->n_dims, 1);
  EXPECT_EQ(norm->ne[0], 256);
  EXPECT_EQ(norm->ne[1], 1);
  EXPECT_EQ(f->find_tensor("no.such.tensor"), nullptr);
  // Typed lookups refuse a mismatched type instead of converting.
  EXPECT_EQ(f->get_int("general.architecture"), std::nullopt);
  EXPECT_EQ(f->get_string("llama.block_count"), nullptr);
  EXPECT_EQ(f->get_bool("llama.block_count"), std::nullopt);
  EXPECT_EQ(f->get_array("general.name"), nullptr);
  EXPECT_EQ(f->get_int("missing.key"), std::nullopt);
}

TEST(GgufReader, TokenizerFixturesParse) {
  const auto files = gguf_files(fs::path(TOKENMILL_SHARED_FIXTURES) / "tokenizer");
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    auto f = File::open(path.string());
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_TRUE(f->version() == 2 || f->version() == 3);
    ASSERT_NE(f->get_string("tokenizer.ggml.model"), nullptr);
    const Array* tokens = f->get_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->element_type, ValueType::STRING);
    EXPECT_GT(tokens->size(), 1000u);
    EXPECT_LE(f->data_offset(), f->file_size());
    expect_sane_tensors(*f, path.stem().string());
  }
}

fs::path models_dir() { return fs::path(tmill::testing::models_dir()); }

TEST(GgufReader, RealModelIfPresent) {
  const fs::path path = models_dir() / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!fs::exists(path))
    GTEST_SKIP() << "real model not found at " << path << " (set TOKENMILL_MODELS)";
  auto f = File::open(path.string());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 30);
  EXPECT_EQ(f->get_int("llama.embedding_length"), 576);
  EXPECT_EQ(f->get_array("tokenizer.ggml.tokens")->size(), 49152u);
  const TensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne[0], 576);
  EXPECT_EQ(emb->ne[1], 49152);
  EXPECT_EQ(f->tensors().size(), 272u);  // 30 layers x 9 + token_embd + output_norm
  expect_sane_tensors(*f, "SmolLM2");
}

TEST(GgufReader, EveryCachedModelParses) {
  const auto files = gguf_files(models_dir());
  if (files.empty()) GTEST_SKIP() << "no models in " << models_dir() << " (set TOKENMILL_MODELS)";
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    auto f = File::open(path.string());
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_NE(f->get_string("general.architecture"), nullptr);
    EXPECT_FALSE(f->tensors().empty());
    expect_sane_tensors(*f, path.stem().string());
  }
}

TEST(GgufReader, OpenMissingFileIsAnError) {
  auto f = File::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("/nonexistent/dir/model.gguf"), std::string::npos);
}

TEST(GgufReader, OpenErrorNamesThePath) {
  const std::string path = (testing::corpus_dir() / "bad-magic.gguf").string();
  auto f = File::open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("bad magic"), std::string::npos) << f.error().message;
  EXPECT_NE(f.error().message.find("bad-magic.gguf"), std::string::npos) << f.error().message;
}

TEST(GgufReader, Version2File) {
  Bytes b;
  b.header(2, 1, 2);
  b.key("general.architecture", kStr).str("llama");
  b.key("llama.block_count", kU32).u32(3);
  b.tensor("w", {4, 2}, 0, 0);
  b.pad_to(32);
  const size_t data_at = b.out.size();
  for (int i = 0; i < 8; ++i) b.f32(static_cast<float>(i));
  auto f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 3);
  EXPECT_EQ(f->data_offset(), data_at);
  const TensorInfo& t = f->tensors().at(0);
  EXPECT_EQ(t.size_bytes, 32u);
  EXPECT_EQ(t.data, b.out.data() + data_at);
  float last;
  std::memcpy(&last, t.data + 28, 4);
  EXPECT_EQ(last, 7.0f);
}

TEST(GgufReader, Version1Rejected) {
  Bytes b;
  b.raw("GGUF").u32(1).u32(0).u32(0);
  const std::string msg = error_of(b);
  EXPECT_NE(msg.find("version 1 is not supported"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[at byte 4]"), std::string::npos) << msg;
}

TEST(GgufReader, EveryScalarType) {
  Bytes b;
  b.header(3, 0, 13);
  b.key("u8", kU8).u8(250);
  b.key("i8", kI8).u8(0x80);
  b.key("u16", kU16).u16(65535);
  b.key("i16", kI16).u16(0x8000);
  b.key("u32", kU32).u32(0xFFFFFFFFu);
  b.key("i32", kI32).u32(0x80000000u);
  b.key("f32", kF32).f32(-1.5f);
  b.key("bool", kBool).u8(1);
  b.key("str", kStr).str("hi");
  b.key("arr", kArr).u32(kU8).u64(2).u8(1).u8(2);
  b.key("u64", kU64).u64(std::numeric_limits<uint64_t>::max());
  b.key("i64", kI64).u64(0x8000000000000000ull);
  b.key("f64", kF64).f64(0.1);
  auto f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->get_int("u8"), 250);
  EXPECT_EQ(f->get_int("i8"), -128);
  EXPECT_EQ(f->get_int("u16"), 65535);
  EXPECT_EQ(f->get_int("i16"), -32768);
  EXPECT_EQ(f->get_int("u32"), 4294967295);
  EXPECT_EQ(f->get_int("i32"), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(f->get_float("f32"), -1.5);
  EXPECT_EQ(f->get_int("f32"), std::nullopt);  // no silent float -> int
  EXPECT_EQ(f->get_bool("bool"), true);
  EXPECT_EQ(*f->get_string("str"), "hi");
  EXPECT_EQ(f->get_array("arr")->size(), 2u);
  // uint64 above INT64_MAX does not fit as_int, but keeps its value.
  EXPECT_EQ(f->get_int("u64"), std::nullopt);
  EXPECT_EQ(std::get<uint64_t>(f->find("u64")->data), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f->get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f->get_float("f64"), 0.1);
  EXPECT_EQ(f->get_float("u32"), 4294967295.0);  // integers widen to float
  EXPECT_EQ(f->get_bool("u8"), std::nullopt);
  const std::vector<ValueType> order = {ValueType::UINT8,   ValueType::INT8,   ValueType::UINT16,
                                        ValueType::INT16,   ValueType::UINT32, ValueType::INT32,
                                        ValueType::FLOAT32, ValueType::BOOL,   ValueType::STRING,
                                        ValueType::ARRAY,   ValueType::UINT64, ValueType::INT64,
                                        ValueType::FLOAT64};
  ASSERT_EQ(f->metadata().size(), order.size());
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(f->metadata()[i].value.type, order[i]);
}

TEST(GgufReader, EveryArrayElementType) {
  Bytes b;
  b.header(3, 0, 12);
  b.key("u8", kArr).u32(kU8).u64(2).u8(0).u8(255);
  b.key("i8", kArr).u32(kI8).u64(1).u8(0xFF);
  b.key("u16", kArr).u32(kU16).u64(1).u16(65535);
  b.key("i16", kArr).u32(kI16).u64(1).u16(0xFFFE);
  b.key("u32", kArr).u32(kU32).u64(1).u32(0xFFFFFFFFu);
  b.key("i32", kArr).u32(kI32).u64(2).u32(5).u32(0xFFFFFFFFu);
  b.key("f32", kArr).u32(kF32).u64(2).f32(0.25f).f32(-8.0f);
  b.key("bool", kArr).u32(kBool).u64(3).u8(1).u8(0).u8(1);
  b.key("str", kArr).u32(kStr).u64(2).str("").str("x y");
  b.key("u64", kArr).u32(kU64).u64(1).u64(~0ull);
  b.key("i64", kArr).u32(kI64).u64(1).u64(~0ull);
  b.key("nested", kArr).u32(kArr).u64(2);
  b.u32(kI32).u64(1).u32(7);
  b.u32(kStr).u64(1).str("deep");
  auto f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto ints = [&](const char* k) { return std::get<std::vector<int64_t>>(f->get_array(k)->items); };
  EXPECT_EQ(ints("u8"), (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(ints("i8"), (std::vector<int64_t>{-1}));
  EXPECT_EQ(ints("u16"), (std::vector<int64_t>{65535}));
  EXPECT_EQ(ints("i16"), (std::vector<int64_t>{-2}));
  EXPECT_EQ(ints("u32"), (std::vector<int64_t>{4294967295}));
  EXPECT_EQ(ints("i32"), (std::vector<int64_t>{5, -1}));
  EXPECT_EQ(std::get<std::vector<double>>(f->get_array("f32")->items),
            (std::vector<double>{0.25, -8.0}));
  EXPECT_EQ(std::get<std::vector<bool>>(f->get_array("bool")->items),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(std::get<std::vector<std::string>>(f->get_array("str")->items),
            (std::vector<std::string>{"", "x y"}));
  EXPECT_EQ(std::get<std::vector<uint64_t>>(f->get_array("u64")->items),
            (std::vector<uint64_t>{~0ull}));
  EXPECT_EQ(ints("i64"), (std::vector<int64_t>{-1}));
  const Array* nested = f->get_array("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->element_type, ValueType::ARRAY);
  const auto& inner = std::get<std::vector<Array>>(nested->items);
  ASSERT_EQ(inner.size(), 2u);
  EXPECT_EQ(inner[0].element_type, ValueType::INT32);
  EXPECT_EQ(std::get<std::vector<int64_t>>(inner[0].items), (std::vector<int64_t>{7}));
  EXPECT_EQ(std::get<std::vector<std::string>>(inner[1].items)[0], "deep");
}

TEST(GgufReader, AlignmentKeyMovesTheDataSection) {
  Bytes b;
  b.header(3, 1, 1);
  b.key("general.alignment", kU32).u32(256);
  b.tensor("t", {4}, 0, 256);
  b.pad_to(256);
  const size_t data_at = b.out.size();
  b.zeros(512);
  auto f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->alignment(), 256u);
  EXPECT_EQ(f->data_offset(), data_at);
  EXPECT_EQ(f->tensors()[0].data, b.out.data() + data_at + 256);
}

TEST(GgufReader, ScalarTensorWithZeroDims) {
  Bytes b;
  b.header(3, 1, 0).tensor("s", {}, 0, 0).pad_to(32).f32(3.0f);
  auto f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->tensors()[0].n_dims, 0);
  EXPECT_EQ(f->tensors()[0].n_elements(), 1);
  EXPECT_EQ(f->tensors()[0].size_bytes, 4u);
}

TEST(GgufReader, VocabOnlyFileEndingBeforeAlignedOffset) {
  Bytes b;
  b.header(3, 0, 1).key("general.name", kStr).str("abc");  // 24 + 8+12+4+8+3 = 59 bytes
  auto f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->data_offset(), f->file_size());
}

TEST(GgufReader, NestingDepthLimitIsEight) {
  auto nested = [](int depth) {
    Bytes b;
    b.header(3, 0, 1).key("deep", kArr);
    for (int i = 1; i < depth; ++i) b.u32(kArr).u64(1);
    b.u32(kU8).u64(1).u8(9);
    return b;
  };
  EXPECT_TRUE(parse(nested(8)).ok()) << error_of(nested(8));
  const std::string msg = error_of(nested(9));
  EXPECT_NE(msg.find("metadata 'deep'[0][0][0][0][0][0][0][0] nests arrays deeper than 8"),
            std::string::npos)
      << msg;
}

TEST(GgufReader, ErrorsNameFieldAndOffset) {
  {
    Bytes b;
    b.header(3, 1, 0).tensor("blk.0.attn_q.weight", {4, 0}, 0, 0);
    const std::string msg = error_of(b);
    // dims[1] sits after header (24) + name (8 + 19) + n_dims (4) + dims[0] (8).
    EXPECT_EQ(msg,
              "gguf: tensor 'blk.0.attn_q.weight' dims[1] is 0 (every dimension must be > 0) "
              "[at byte 63]");
  }
  {
    Bytes b;
    b.header(3, 1, 0).tensor("x", {1024}, 0, 0).pad_to(32).zeros(100);
    const std::string msg = error_of(b);
    EXPECT_EQ(msg,
              "gguf: tensor 'x' data (offset 64, 4096 bytes) extends past end of file (size 164) "
              "[at byte 49]");
  }
  {
    Bytes b;
    b.header(3, 0, 1).key("general.alignment", kStr).str("32");
    const std::string msg = error_of(b);
    EXPECT_NE(msg.find("metadata 'general.alignment' must be uint32, got string [at byte 53]"),
              std::string::npos)
        << msg;
  }
  {
    Bytes b;  // alignment 64 read from metadata governs tensor offsets
    b.header(3, 1, 1).key("general.alignment", kU32).u32(64).tensor("t", {4}, 0, 32);
    b.pad_to(64).zeros(128);
    const std::string msg = error_of(b);
    EXPECT_NE(msg.find("tensor 't' offset 32 is not a multiple of the alignment 64"),
              std::string::npos)
        << msg;
  }
}

TEST(GgufReader, HostileNamesAreEscapedInErrors) {
  Bytes b;
  b.header(3, 2, 0);
  b.tensor(std::string_view("a\nb\x01\xff", 5), {4}, 0, 0);
  b.tensor(std::string_view("a\nb\x01\xff", 5), {4}, 0, 32);
  const std::string msg = error_of(b);
  EXPECT_NE(msg.find("duplicate tensor name 'a\\nb\\x01\\xFF'"), std::string::npos) << msg;
}

TEST(GgufReader, EveryTruncationOfAValidFileFailsCleanly) {
  // Cutting a valid file anywhere must give an Error, never a crash or a bogus success
  // (all tensor data is needed, so no proper prefix is a valid file).
  const std::string path = (testing::corpus_dir() / "valid-all-types.gguf").string();
  auto full = File::open(path);
  ASSERT_TRUE(full.ok()) << full.error().message;
  std::vector<uint8_t> bytes;
  {
    std::FILE* fp = std::fopen(path.c_str(), "rb");
    ASSERT_NE(fp, nullptr);
    int c;
    while ((c = std::fgetc(fp)) != EOF) bytes.push_back(static_cast<uint8_t>(c));
    std::fclose(fp);
  }
  // The last tensor ends before the final padding; prefixes that keep it whole still parse.
  uint64_t needed = 0;
  for (const auto& t : full->tensors())
    needed = std::max(needed, full->data_offset() + t.offset + t.size_bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto f = File::parse(std::span<const uint8_t>(bytes.data(), n));
    if (n < needed) {
      ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
      EXPECT_NE(f.error().message.find("[at byte "), std::string::npos) << f.error().message;
    } else {
      EXPECT_TRUE(f.ok()) << n << ": " << f.error().message;
    }
  }
}

TEST(GgufReader, ByteFlipsNeverCrash) {
  const std::string path = (testing::corpus_dir() / "valid-tiny-llama.gguf").string();
  auto original = File::open(path);
  ASSERT_TRUE(original.ok()) << original.error().message;
  const size_t header_end = original->data_offset();
  std::vector<uint8_t> file;
  {
    std::FILE* fp = std::fopen(path.c_str(), "rb");
    ASSERT_NE(fp, nullptr);
    int c;
    while ((c = std::fgetc(fp)) != EOF) file.push_back(static_cast<uint8_t>(c));
    std::fclose(fp);
  }
  size_t failures = 0;
  for (size_t i = 0; i < header_end; ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xFF}, uint8_t{0x7F}}) {
      std::vector<uint8_t> m = file;
      m[i] = v;
      auto f = File::parse(m);
      if (!f.ok()) {
        ++failures;
        EXPECT_EQ(f.error().message.rfind("gguf: ", 0), 0u) << f.error().message;
      }
    }
  }
  EXPECT_GT(failures, 0u);
}

}  // namespace
}  // namespace tmill::gguf
