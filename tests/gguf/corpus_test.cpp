// The committed crafted corpus (fuzz/corpus/gguf, made by tools/make-gguf-bad-corpus.py):
// every bad-*.gguf is rejected with a message naming the field and its byte offset, every
// valid-*.gguf parses, and no file in the directory goes unchecked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/test_paths.h"

namespace tmill::gguf {
namespace {

namespace fs = std::filesystem;

using testing::corpus_dir;

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::vector<uint8_t> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  uint8_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

// File stem -> fragments the error must contain (the field, and the exact offset).
const std::map<std::string, std::vector<std::string>>& expectations() {
  static const std::map<std::string, std::vector<std::string>> m = {
      {"bad-empty", {"file is 0 bytes", "truncated header", "[at byte 0]"}},
      {"bad-magic", {"bad magic \"GGML\"", "not a GGUF file", "[at byte 0]"}},
      {"bad-truncated-header", {"header is truncated", "file is 12 bytes", "[at byte 8]"}},
      {"bad-version-1", {"version 1 is not supported", "[at byte 4]"}},
      {"bad-version-99", {"unsupported GGUF version 99", "[at byte 4]"}},
      {"bad-big-endian", {"big-endian", "[at byte 4]"}},
      {"bad-huge-tensor-count", {"header tensor_count 4611686018427387904", "[at byte 8]"}},
      {"bad-huge-kv-count", {"header metadata_kv_count 1152921504606846976", "[at byte 16]"}},
      {"bad-key-length-past-eof",
       {"metadata key #0 length 1099511627776 extends past end of file", "[at byte 24]"}},
      {"bad-string-length-past-eof",
       {"metadata 'general.name' string length 4294967295 extends past end of file",
        "[at byte 48]"}},
      {"bad-array-length-past-eof",
       {"metadata 'tokenizer.ggml.token_type' array length 1000 (int32", "[at byte 65]"}},
      {"bad-huge-string-array",
       {"metadata 'tokenizer.ggml.tokens' array length 2305843009213693952 (string",
        "[at byte 61]"}},
      {"bad-string-in-array-past-eof",
       {"metadata 'tokenizer.ggml.tokens'[2] string length 8589934592 extends past end of file",
        "[at byte 87]"}},
      {"bad-nested-array-depth",
       {"metadata 'bomb'[0][0][0][0][0][0][0][0] nests arrays deeper than 8", "[at byte 136]"}},
      {"bad-value-type", {"metadata 'general.name' value type id 13 is unknown", "[at byte 44]"}},
      {"bad-array-element-type",
       {"metadata 'general.tags' array element type id 99 is unknown", "[at byte 48]"}},
      {"bad-duplicate-key", {"duplicate metadata key 'general.name'", "[at byte 57]"}},
      {"bad-alignment-zero",
       {"metadata 'general.alignment' = 0 is not a nonzero power of two", "[at byte 53]"}},
      {"bad-alignment-npot",
       {"metadata 'general.alignment' = 48 is not a nonzero power of two", "[at byte 53]"}},
      {"bad-alignment-type",
       {"metadata 'general.alignment' must be uint32, got uint64", "[at byte 53]"}},
      {"bad-n-dims", {"tensor 't' n_dims 5 exceeds the maximum of 4", "[at byte 33]"}},
      {"bad-zero-dim", {"tensor 't' dims[1] is 0", "[at byte 45]"}},
      {"bad-dim-too-large",
       {"tensor 't' dims[0] = 9223372036854775808 exceeds int64", "[at byte 37]"}},
      {"bad-dim-product-overflow",
       {"tensor 't' element count (product of dims up to dims[1]) overflows int64",
        "[at byte 37]"}},
      {"bad-size-overflow",
       {"tensor 't' data size (F64, 4611686018427387904 elements) overflows", "[at byte 45]"}},
      {"bad-tensor-type", {"tensor 't' type id 4 is unknown", "[at byte 45]"}},
      {"bad-block-size",
       {"tensor 't' dims[0] = 33 is not a multiple of the Q4_0 block size 32", "[at byte 37]"}},
      {"bad-misaligned-offset",
       {"tensor 't' offset 7 is not a multiple of the alignment 32", "[at byte 49]"}},
      {"bad-offset-outside-file",
       {"tensor 't' data (offset 1099511627840, 16 bytes) extends past end of file (size 128)",
        "[at byte 49]"}},
      {"bad-offset-size-overflow",
       {"tensor 't' data (offset data section + 18446744073709551584, 256 bytes) extends past",
        "[at byte 49]"}},
      {"bad-truncated-data",
       {"tensor 't' data (offset 64, 1024 bytes) extends past end of file (size 576)",
        "[at byte 49]"}},
      {"bad-duplicate-tensor", {"duplicate tensor name 'blk.0.attn_q.weight'", "[at byte 75]"}},
      {"bad-truncated-tensor-info",
       {"tensor 'token_embd.weight' dims[1] is truncated", "[at byte 61]"}},
  };
  return m;
}

TEST(GgufCorpus, EveryFileIsCovered) {
  ASSERT_TRUE(fs::is_directory(corpus_dir())) << corpus_dir();
  size_t bad = 0, valid = 0;
  for (const auto& e : fs::directory_iterator(corpus_dir())) {
    const std::string stem = e.path().stem().string();
    if (stem.rfind("valid-", 0) == 0) {
      ++valid;
    } else {
      ++bad;
      EXPECT_TRUE(expectations().count(stem)) << "corpus file without expectations: " << stem;
    }
    EXPECT_LT(fs::file_size(e.path()), 64u * 1024u) << stem;
  }
  EXPECT_EQ(bad, expectations().size());
  EXPECT_GE(valid, 3u);
}

TEST(GgufCorpus, BadFilesFailNamingTheField) {
  for (const auto& [stem, fragments] : expectations()) {
    SCOPED_TRACE(stem);
    const fs::path path = corpus_dir() / (stem + ".gguf");
    ASSERT_TRUE(fs::exists(path)) << path;
    const std::vector<uint8_t> bytes = read_bytes(path);
    auto f = File::parse(bytes);
    ASSERT_FALSE(f.ok()) << "parsed a file that should be rejected";
    const std::string& msg = f.error().message;
    EXPECT_EQ(msg.rfind("gguf: ", 0), 0u) << msg;
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << msg;
    // And through the mmap path, with the path appended.
    auto opened = File::open(path.string());
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().message.rfind(msg, 0), 0u) << opened.error().message;
  }
}

TEST(GgufCorpus, ValidSeedsParse) {
  for (const auto& e : fs::directory_iterator(corpus_dir())) {
    const std::string stem = e.path().stem().string();
    if (stem.rfind("valid-", 0) != 0) continue;
    SCOPED_TRACE(stem);
    auto f = File::open(e.path().string());
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_FALSE(describe(*f).empty());
  }
}

TEST(GgufCorpus, ValidAllTypesContents) {
  auto f = File::open((corpus_dir() / "valid-all-types.gguf").string());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->metadata().size(), 20u);
  EXPECT_EQ(f->get_int("k.u8"), 200);
  EXPECT_EQ(f->get_int("k.i8"), -100);
  EXPECT_EQ(f->get_int("k.u16"), 60000);
  EXPECT_EQ(f->get_int("k.i16"), -30000);
  EXPECT_EQ(f->get_int("k.u32"), 4000000000);
  EXPECT_EQ(f->get_int("k.i32"), -2000000000);
  EXPECT_EQ(f->get_float("k.f32"), 0.5);
  EXPECT_EQ(f->get_bool("k.bool"), true);
  EXPECT_EQ(*f->get_string("k.string"), "h\xC3\xA9llo \"world\"\n");
  EXPECT_EQ(std::get<uint64_t>(f->find("k.u64")->data), ~0ull);
  EXPECT_EQ(f->get_int("k.i64"), INT64_MIN);
  EXPECT_EQ(f->get_float("k.f64"), 1e-300);
  EXPECT_EQ(f->get_array("k.arr.empty")->size(), 0u);
  EXPECT_EQ(f->get_array("k.arr.nested")->size(), 3u);
  ASSERT_EQ(f->tensors().size(), 6u);
  EXPECT_EQ(f->find_tensor("c.q4_0")->type, DType::Q4_0);
  EXPECT_EQ(f->find_tensor("c.q4_0")->size_bytes, 2u * 18u * 2u);
  EXPECT_EQ(f->find_tensor("e.i8")->n_dims, 3);
  EXPECT_EQ(f->find_tensor("e.i8")->rows(), 2);
  EXPECT_EQ(f->find_tensor("f.scalar")->n_dims, 0);
  for (const auto& t : f->tensors()) {
    EXPECT_EQ((f->data_offset() + t.offset) % 64, 0u) << t.name;
    // The generator fills byte i of a tensor with (i * 7 + len(name)) & 0xFF.
    for (uint64_t i = 0; i < t.size_bytes; ++i)
      ASSERT_EQ(t.data[i], static_cast<uint8_t>((i * 7 + t.name.size()) & 0xFF)) << t.name;
  }
}

}  // namespace
}  // namespace tmill::gguf
