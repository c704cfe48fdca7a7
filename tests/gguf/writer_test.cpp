// Writer tests: write -> parse round trips of every value type and several tensor types,
// alignment handling, and add_tensor validation.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "gguf/gguf.h"

namespace tmill::gguf {
namespace {

Value array_value(ValueType element_type, decltype(Array::items) items) {
  auto a = std::make_shared<Array>();
  a->element_type = element_type;
  a->items = std::move(items);
  return Value{ValueType::ARRAY, std::move(a)};
}

Array array(ValueType element_type, decltype(Array::items) items) {
  Array a;
  a.element_type = element_type;
  a.items = std::move(items);
  return a;
}

// Deep equality for metadata values (shared_ptr arrays compared by content).
bool same(const Array& a, const Array& b);
bool same(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  if (a.type == ValueType::ARRAY) return same(*a.as_array(), *b.as_array());
  return a.data == b.data;
}
bool same(const Array& a, const Array& b) {
  if (a.element_type != b.element_type || a.items.index() != b.items.index()) return false;
  return std::visit(
      [&](const auto& va) {
        using V = std::decay_t<decltype(va)>;
        const auto& vb = std::get<V>(b.items);
        if constexpr (std::is_same_v<V, std::vector<Array>>) {
          if (va.size() != vb.size()) return false;
          for (size_t i = 0; i < va.size(); ++i)
            if (!same(va[i], vb[i])) return false;
          return true;
        } else {
          return va == vb;
        }
      },
      a.items);
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed);
  return v;
}

std::vector<KeyValue> every_value_type() {
  return {
      {"u8", Value{ValueType::UINT8, uint64_t{255}}},
      {"i8", Value{ValueType::INT8, int64_t{-128}}},
      {"u16", Value{ValueType::UINT16, uint64_t{65535}}},
      {"i16", Value{ValueType::INT16, int64_t{-32768}}},
      {"u32", Value{ValueType::UINT32, uint64_t{4294967295u}}},
      {"i32", Value{ValueType::INT32, int64_t{std::numeric_limits<int32_t>::min()}}},
      {"f32", Value{ValueType::FLOAT32, 0.1f + 0.0}},  // a float32 value, widened exactly
      {"bool", Value{ValueType::BOOL, true}},
      {"string", Value{ValueType::STRING, std::string("tab\there \xE2\x9C\x93 nul\0x", 18)}},
      {"u64", Value{ValueType::UINT64, std::numeric_limits<uint64_t>::max()}},
      {"i64", Value{ValueType::INT64, std::numeric_limits<int64_t>::min()}},
      {"f64", Value{ValueType::FLOAT64, 3.141592653589793}},
      {"a.u8", array_value(ValueType::UINT8, std::vector<int64_t>{0, 1, 255})},
      {"a.i8", array_value(ValueType::INT8, std::vector<int64_t>{-128, 127})},
      {"a.u16", array_value(ValueType::UINT16, std::vector<int64_t>{65535})},
      {"a.i16", array_value(ValueType::INT16, std::vector<int64_t>{-32768})},
      {"a.u32", array_value(ValueType::UINT32, std::vector<int64_t>{4294967295})},
      {"a.i32", array_value(ValueType::INT32, std::vector<int64_t>{-1, 0, 1})},
      {"a.f32", array_value(ValueType::FLOAT32, std::vector<double>{0.5, -1e-3f + 0.0})},
      {"a.bool", array_value(ValueType::BOOL, std::vector<bool>{true, false, true})},
      {"a.string", array_value(ValueType::STRING, std::vector<std::string>{"", "a", "bc"})},
      {"a.u64", array_value(ValueType::UINT64, std::vector<uint64_t>{~0ull, 0})},
      {"a.i64", array_value(ValueType::INT64, std::vector<int64_t>{INT64_MIN, INT64_MAX})},
      {"a.f64", array_value(ValueType::FLOAT64, std::vector<double>{1e300, -0.0})},
      {"a.empty", array_value(ValueType::STRING, std::vector<std::string>{})},
      {"a.nested", array_value(ValueType::ARRAY,
                               std::vector<Array>{
                                   array(ValueType::INT32, std::vector<int64_t>{1, 2}),
                                   array(ValueType::ARRAY,
                                         std::vector<Array>{array(
                                             ValueType::STRING, std::vector<std::string>{"deep"})}),
                                   array(ValueType::FLOAT64, std::vector<double>{})})},
  };
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
  Writer w;
  const auto kvs = every_value_type();
  for (const auto& kv : kvs) w.add(kv.key, kv.value);
  const std::vector<uint8_t> bytes = w.to_bytes();
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->version(), 3u);
  ASSERT_EQ(f->metadata().size(), kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].key, kvs[i].key);
    EXPECT_TRUE(same(f->metadata()[i].value, kvs[i].value)) << kvs[i].key;
  }
  // A second generation is byte-identical: nothing is lost or reordered.
  Writer w2;
  for (const auto& kv : f->metadata()) w2.add(kv.key, kv.value);
  EXPECT_EQ(w2.to_bytes(), bytes);
}

TEST(GgufWriter, TypedHelpers) {
  Writer w;
  w.add_string("s", "llama");
  w.add_uint32("u", 7);
  w.add_int32("i", -7);
  w.add_float32("f", 1e-5f);
  w.add_bool("b", true);
  w.add_string_array("sa", {"a", "b"});
  w.add_float32_array("fa", {0.25f, 1e-5f});
  w.add_int32_array("ia", {-1, 2});
  const auto bytes = w.to_bytes();
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(*f->get_string("s"), "llama");
  EXPECT_EQ(f->find("u")->type, ValueType::UINT32);
  EXPECT_EQ(f->get_int("u"), 7);
  EXPECT_EQ(f->find("i")->type, ValueType::INT32);
  EXPECT_EQ(f->get_int("i"), -7);
  EXPECT_EQ(f->find("f")->type, ValueType::FLOAT32);
  EXPECT_EQ(static_cast<float>(*f->get_float("f")), 1e-5f);
  EXPECT_EQ(f->get_bool("b"), true);
  EXPECT_EQ(std::get<std::vector<std::string>>(f->get_array("sa")->items),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f->get_array("fa")->element_type, ValueType::FLOAT32);
  EXPECT_EQ(std::get<std::vector<double>>(f->get_array("fa")->items)[1],
            static_cast<double>(1e-5f));
  EXPECT_EQ(f->get_array("ia")->element_type, ValueType::INT32);
  EXPECT_EQ(std::get<std::vector<int64_t>>(f->get_array("ia")->items),
            (std::vector<int64_t>{-1, 2}));
}

TEST(GgufWriter, ReAddingAKeyReplacesIt) {
  Writer w;
  w.add_uint32("general.file_type", 0);
  w.add_string("general.name", "x");
  w.add_uint32("general.file_type", 15);
  const auto bytes = w.to_bytes();
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].key, "general.file_type");
  EXPECT_EQ(f->get_int("general.file_type"), 15);
}

TEST(GgufWriter, TensorsRoundTrip) {
  struct Spec {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    size_t bytes;
  };
  const std::vector<Spec> specs = {
      {"token_embd.weight", DType::Q4_0, {64, 3}, 2 * 18 * 3},
      {"output_norm.weight", DType::F32, {5}, 20},
      {"blk.0.ffn.weight", DType::Q6_K, {256, 2}, 210 * 2},
      {"blk.0.k.weight", DType::F16, {3, 2, 2}, 24},
      {"bf", DType::BF16, {7, 1, 1, 2}, 28},
      {"q8k", DType::Q8_K, {512}, 2 * 292},
  };
  for (uint64_t alignment : {32u, 64u, 1u, 4096u}) {
    SCOPED_TRACE(alignment);
    Writer w(alignment);
    w.add_string("general.architecture", "llama");
    std::vector<std::vector<uint8_t>> data;
    for (size_t i = 0; i < specs.size(); ++i) {
      data.push_back(pattern(specs[i].bytes, static_cast<uint8_t>(i)));
      ASSERT_TRUE(w.add_tensor(specs[i].name, specs[i].type, specs[i].ne, data.back()).ok());
    }
    const auto bytes = w.to_bytes();
    EXPECT_EQ(bytes.size() % alignment, 0u);
    auto f = File::parse(bytes);
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(f->alignment(), alignment);
    // general.alignment is recorded only when it differs from the default.
    EXPECT_EQ(f->get_int("general.alignment").has_value(), alignment != 32);
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    ASSERT_EQ(f->tensors().size(), specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      const TensorInfo& t = f->tensors()[i];
      EXPECT_EQ(t.name, specs[i].name);
      EXPECT_EQ(t.type, specs[i].type);
      EXPECT_EQ(t.n_dims, static_cast<int>(specs[i].ne.size()));
      for (size_t d = 0; d < 4; ++d)
        EXPECT_EQ(t.ne[d], d < specs[i].ne.size() ? specs[i].ne[d] : 1);
      EXPECT_EQ(t.offset % alignment, 0u);
      ASSERT_EQ(t.size_bytes, data[i].size());
      EXPECT_TRUE(std::equal(data[i].begin(), data[i].end(), t.data)) << t.name;
    }
  }
}

TEST(GgufWriter, ExplicitAlignmentKeyIsHonoured) {
  Writer w;
  w.add_uint32("general.alignment", 128);
  const auto data = pattern(16, 1);
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {4}, data).ok());
  ASSERT_TRUE(w.add_tensor("b", DType::F32, {4}, data).ok());
  const auto bytes = w.to_bytes();
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->alignment(), 128u);
  EXPECT_EQ(f->metadata().size(), 1u);
  EXPECT_EQ(f->tensors()[1].offset, 128u);
}

TEST(GgufWriter, AddTensorValidates) {
  Writer w;
  const auto d16 = pattern(16, 0);
  auto expect_error = [&](Status s, const std::string& fragment) {
    ASSERT_FALSE(s.ok()) << fragment;
    EXPECT_NE(s.error().message.find(fragment), std::string::npos) << s.error().message;
  };
  expect_error(w.add_tensor("a", DType::F32, {5}, d16), "data is 16 bytes but a F32 tensor of 5");
  expect_error(w.add_tensor("a", DType::F32, {}, d16), "has 0 dims");
  expect_error(w.add_tensor("a", DType::F32, {1, 1, 1, 1, 16}, d16), "has 5 dims");
  expect_error(w.add_tensor("a", DType::F32, {4, 0}, d16), "dims[1] = 0 must be > 0");
  expect_error(w.add_tensor("a", DType::F32, {4, -1}, d16), "dims[1] = -1 must be > 0");
  expect_error(w.add_tensor("a", DType::Q4_0, {16}, d16), "not a multiple of the Q4_0 block size");
  expect_error(w.add_tensor("a", DType::F32, {INT64_MAX, 2}, d16), "overflows int64");
  expect_error(w.add_tensor("a", DType::F64, {INT64_MAX / 2}, d16), "overflows 64 bits");
  expect_error(w.add_tensor("a", static_cast<DType>(4), {4}, d16), "unknown type id 4");
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {4}, d16).ok());
  expect_error(w.add_tensor("a", DType::F32, {4}, d16), "tensor 'a' was already added");
  // Rejected tensors left nothing behind.
  const auto bytes = w.to_bytes();
  auto f = File::parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->tensors().size(), 1u);
}

TEST(GgufWriter, WriteToFileAndOpen) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("tokenmill-gguf-writer-" + std::to_string(::getpid()) + ".gguf");
  Writer w;
  w.add_string("general.architecture", "llama");
  const auto data = pattern(1024, 3);
  ASSERT_TRUE(w.add_tensor("t", DType::Q8_0, {32, 30}, std::span(data).first(34 * 30)).ok());
  ASSERT_TRUE(w.write(path.string()).ok());
  auto f = File::open(path.string());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->file_size(), w.to_bytes().size());
  EXPECT_TRUE(std::equal(data.begin(), data.begin() + 34 * 30, f->tensors()[0].data));
  std::filesystem::remove(path);

  const Status bad = w.write("/nonexistent-dir/x.gguf");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/nonexistent-dir/x.gguf"), std::string::npos);
}

}  // namespace
}  // namespace tmill::gguf
