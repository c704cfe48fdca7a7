// GGUF v3 writer. Metadata values are checked when added (a Value whose payload does not
// match its type is a programming error); tensors are checked against their type and dims
// and reported as a Status, since their sizes usually come from computation on user data.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/check.h"
#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

namespace tmill::gguf {
namespace {

// Inclusive range of an integer type, as (min, max) in the widest types available.
struct IntRange {
  int64_t min;
  uint64_t max;
};

IntRange int_range(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
      return {0, 0xFF};
    case ValueType::INT8:
      return {-128, 127};
    case ValueType::UINT16:
      return {0, 0xFFFF};
    case ValueType::INT16:
      return {-32768, 32767};
    case ValueType::UINT32:
      return {0, 0xFFFFFFFFu};
    case ValueType::INT32:
      return {std::numeric_limits<int32_t>::min(), 0x7FFFFFFF};
    case ValueType::UINT64:
      return {0, std::numeric_limits<uint64_t>::max()};
    default:
      return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  }
}

bool int_fits(ValueType t, int64_t v) {
  const IntRange r = int_range(t);
  return v >= r.min && (v < 0 || static_cast<uint64_t>(v) <= r.max);
}
bool uint_fits(ValueType t, uint64_t v) { return v <= int_range(t).max; }

bool array_consistent(const Array& a, int depth);

// True when `v`'s payload is of the alternative its type promises, within range.
bool value_consistent(const Value& v) {
  const ValueType t = v.type;
  if (detail::is_integer_type(t)) {
    if (const auto* s = std::get_if<int64_t>(&v.data)) return int_fits(t, *s);
    if (const auto* u = std::get_if<uint64_t>(&v.data)) return uint_fits(t, *u);
    return false;
  }
  switch (t) {
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      return std::holds_alternative<double>(v.data);
    case ValueType::BOOL:
      return std::holds_alternative<bool>(v.data);
    case ValueType::STRING:
      return std::holds_alternative<std::string>(v.data);
    case ValueType::ARRAY: {
      const auto* p = std::get_if<std::shared_ptr<Array>>(&v.data);
      return p != nullptr && *p != nullptr && array_consistent(**p, 1);
    }
    default:
      return false;  // an id outside the enum
  }
}

bool array_consistent(const Array& a, int depth) {
  if (depth > detail::kMaxArrayDepth) return false;  // readers reject it, so never write it
  const ValueType t = a.element_type;
  if (t == ValueType::UINT64) return std::holds_alternative<std::vector<uint64_t>>(a.items);
  if (detail::is_integer_type(t)) {
    const auto* v = std::get_if<std::vector<int64_t>>(&a.items);
    if (v == nullptr) return false;
    for (int64_t x : *v)
      if (!int_fits(t, x)) return false;
    return true;
  }
  switch (t) {
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      return std::holds_alternative<std::vector<double>>(a.items);
    case ValueType::BOOL:
      return std::holds_alternative<std::vector<bool>>(a.items);
    case ValueType::STRING:
      return std::holds_alternative<std::vector<std::string>>(a.items);
    case ValueType::ARRAY: {
      const auto* v = std::get_if<std::vector<Array>>(&a.items);
      if (v == nullptr) return false;
      for (const Array& inner : *v)
        if (!array_consistent(inner, depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>& out) : out_(out) {}

  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  void string(std::string_view s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  void f32(double d) {
    const auto f = static_cast<float>(d);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    u32(bits);
  }
  void f64(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    u64(bits);
  }
  void pad_to(uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back(0);
  }

  // A fixed-size scalar of type t (integers given as their two's-complement bits).
  void scalar_bits(ValueType t, uint64_t bits) {
    le(bits, static_cast<int>(*detail::fixed_size(t)));
  }

  void value(const Value& v) {
    switch (v.type) {
      case ValueType::FLOAT32:
        f32(std::get<double>(v.data));
        return;
      case ValueType::FLOAT64:
        f64(std::get<double>(v.data));
        return;
      case ValueType::BOOL:
        le(std::get<bool>(v.data) ? 1 : 0, 1);
        return;
      case ValueType::STRING:
        string(std::get<std::string>(v.data));
        return;
      case ValueType::ARRAY:
        array(*std::get<std::shared_ptr<Array>>(v.data));
        return;
      default:
        break;
    }
    // Integers: either alternative, already range-checked by value_consistent().
    const uint64_t bits = std::holds_alternative<int64_t>(v.data)
                              ? static_cast<uint64_t>(std::get<int64_t>(v.data))
                              : std::get<uint64_t>(v.data);
    scalar_bits(v.type, bits);
  }

  void array(const Array& a) {
    const ValueType t = a.element_type;
    u32(static_cast<uint32_t>(t));
    u64(a.size());
    std::visit(
        [&](const auto& items) {
          using Vec = std::decay_t<decltype(items)>;
          for (const auto& x : items) {
            if constexpr (std::is_same_v<Vec, std::vector<int64_t>>) {
              scalar_bits(t, static_cast<uint64_t>(x));
            } else if constexpr (std::is_same_v<Vec, std::vector<uint64_t>>) {
              u64(x);
            } else if constexpr (std::is_same_v<Vec, std::vector<double>>) {
              t == ValueType::FLOAT32 ? f32(x) : f64(x);
            } else if constexpr (std::is_same_v<Vec, std::vector<bool>>) {
              le(x ? 1 : 0, 1);
            } else if constexpr (std::is_same_v<Vec, std::vector<std::string>>) {
              string(x);
            } else {
              array(x);
            }
          }
        },
        a.items);
  }

 private:
  std::vector<uint8_t>& out_;
};

Value make_array(ValueType element_type, decltype(Array::items) items) {
  auto a = std::make_shared<Array>();
  a->element_type = element_type;
  a->items = std::move(items);
  return Value{ValueType::ARRAY, std::move(a)};
}

}  // namespace

void Writer::add(std::string key, Value value) {
  TM_CHECK(value_consistent(value), "gguf::Writer::add: value payload does not match its type");
  if (key == detail::kAlignmentKey) {
    // The reader requires exactly this, and tensor placement must follow it.
    TM_CHECK(value.type == ValueType::UINT32 && detail::is_power_of_two(*value.as_int()),
             "gguf::Writer: general.alignment must be a uint32 power of two");
    alignment_ = static_cast<uint64_t>(*value.as_int());
  }
  // Re-adding a key replaces it: the quantizer copies a model's metadata, then overrides
  // a few keys (general.file_type), and a file with duplicate keys would be rejected.
  for (auto& kv : metadata_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  metadata_.push_back({std::move(key), std::move(value)});
}

void Writer::add_string(std::string key, std::string v) {
  add(std::move(key), Value{ValueType::STRING, std::move(v)});
}
void Writer::add_uint32(std::string key, uint32_t v) {
  add(std::move(key), Value{ValueType::UINT32, uint64_t{v}});
}
void Writer::add_int32(std::string key, int32_t v) {
  add(std::move(key), Value{ValueType::INT32, int64_t{v}});
}
void Writer::add_float32(std::string key, float v) {
  add(std::move(key), Value{ValueType::FLOAT32, static_cast<double>(v)});
}
void Writer::add_bool(std::string key, bool v) { add(std::move(key), Value{ValueType::BOOL, v}); }

void Writer::add_string_array(std::string key, std::vector<std::string> v) {
  add(std::move(key), make_array(ValueType::STRING, std::move(v)));
}
void Writer::add_float32_array(std::string key, std::vector<float> v) {
  add(std::move(key), make_array(ValueType::FLOAT32, std::vector<double>(v.begin(), v.end())));
}
void Writer::add_int32_array(std::string key, std::vector<int32_t> v) {
  add(std::move(key), make_array(ValueType::INT32, std::vector<int64_t>(v.begin(), v.end())));
}

Status Writer::add_tensor(std::string name, DType type, std::vector<int64_t> ne,
                          std::span<const uint8_t> data) {
  const std::string label = "gguf writer: tensor " + detail::name_for_error(name);
  const std::optional<DTypeInfo> ti = dtype_info(static_cast<uint32_t>(type));
  if (!ti) return fail(label, " has unknown type id ", static_cast<uint32_t>(type));
  if (ne.empty() || ne.size() > static_cast<size_t>(detail::kMaxDims))
    return fail(label, " has ", ne.size(), " dims (must be 1..", detail::kMaxDims, ")");
  int64_t n_elements = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] <= 0) return fail(label, " dims[", d, "] = ", ne[d], " must be > 0");
    if (__builtin_mul_overflow(n_elements, ne[d], &n_elements))
      return fail(label, " element count overflows int64");
  }
  if (ne[0] % ti->block_size != 0)
    return fail(label, " dims[0] = ", ne[0], " is not a multiple of the ", ti->name, " block size ",
                ti->block_size);
  const uint64_t rows = static_cast<uint64_t>(n_elements / ne[0]);
  uint64_t row = 0, expected = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(ne[0] / ti->block_size),
                             static_cast<uint64_t>(ti->block_bytes), &row) ||
      __builtin_mul_overflow(row, rows, &expected))
    return fail(label, " data size overflows 64 bits");
  if (data.size() != expected)
    return fail(label, " data is ", data.size(), " bytes but a ", ti->name, " tensor of ",
                n_elements, " elements needs ", expected);
  for (const auto& t : tensors_)
    if (t.name == name) return fail(label, " was already added");
  tensors_.push_back({std::move(name), type, std::move(ne), {data.begin(), data.end()}});
  return {};
}

std::vector<uint8_t> Writer::to_bytes() const {
  TM_CHECK(detail::is_power_of_two(alignment_) && alignment_ <= 0xFFFFFFFFu,
           "gguf::Writer alignment must be a power of two that fits uint32");
  // A non-default alignment must be recorded, or readers would place the data at 32.
  const bool add_alignment =
      alignment_ != detail::kDefaultAlignment &&
      std::none_of(metadata_.begin(), metadata_.end(),
                   [](const KeyValue& kv) { return kv.key == detail::kAlignmentKey; });

  std::vector<uint8_t> out;
  ByteSink w(out);
  w.bytes(detail::kMagic, 4);
  w.u32(detail::kWriteVersion);
  w.u64(tensors_.size());
  w.u64(metadata_.size() + (add_alignment ? 1 : 0));
  for (const auto& kv : metadata_) {
    w.string(kv.key);
    w.u32(static_cast<uint32_t>(kv.value.type));
    w.value(kv.value);
  }
  if (add_alignment) {
    w.string(detail::kAlignmentKey);
    w.u32(static_cast<uint32_t>(ValueType::UINT32));
    w.u32(static_cast<uint32_t>(alignment_));
  }
  // Each tensor starts aligned, in insertion order, right after the previous one.
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    w.string(t.name);
    w.u32(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) w.u64(static_cast<uint64_t>(d));
    w.u32(static_cast<uint32_t>(t.type));
    w.u64(offset);
    offset += t.data.size();
    offset += (alignment_ - offset % alignment_) % alignment_;
  }
  w.pad_to(alignment_);
  for (const auto& t : tensors_) {
    w.bytes(t.data.data(), t.data.size());
    w.pad_to(alignment_);
  }
  return out;
}

Status Writer::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return fail("gguf writer: cannot create '", path, "': ", std::strerror(errno));
  const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), f);
  const int write_errno = errno;
  if (std::fclose(f) != 0 || written != bytes.size())
    return fail("gguf writer: cannot write '", path,
                "': ", std::strerror(written != bytes.size() ? write_errno : errno));
  return {};
}

}  // namespace tmill::gguf
