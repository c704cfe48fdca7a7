// GGUF v2/v3 reader. The file is untrusted: every count, length, id and offset is checked
// against what the remaining bytes could hold before it is used or allocated from, and a
// failure names the field and the byte offset where it was read.
//
// Layout (all little-endian):
//   magic "GGUF" | u32 version | u64 tensor_count | u64 metadata_kv_count
//   metadata_kv_count x { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | u64 dims[n_dims] | u32 type | u64 offset }
//   padding to `alignment` | tensor data (offsets are relative to this point)
// where string = u64 length + bytes, and array = u32 element_type + u64 count + elements.
#include <cstring>
#include <limits>
#include <unordered_set>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

namespace tmill::gguf {
namespace {

using detail::name_for_error;

// Smallest possible encodings, used to bound counts from the header before allocating.
constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims = 0, type, offset

// Where a metadata value sits, for messages: the key plus indices into nested arrays.
struct ValuePath {
  std::string_view key;
  uint64_t index[detail::kMaxArrayDepth] = {};
  int depth = 0;  // indices in use

  std::string str() const {
    std::string s = "metadata " + name_for_error(key);
    for (int i = 0; i < depth; ++i) s += "[" + std::to_string(index[i]) + "]";
    return s;
  }
};

struct Parsed {
  uint32_t version = 0;
  uint64_t alignment = detail::kDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<KeyValue> metadata;
  std::vector<TensorInfo> tensors;
};

class Parser {
 public:
  explicit Parser(std::span<const uint8_t> bytes) : b_(bytes) {}

  Expected<Parsed> parse() {
    Parsed r;
    TM_TRY(read_header(r));
    TM_TRY(read_metadata(r));
    TM_TRY(read_tensor_infos(r));
    TM_TRY(place_tensor_data(r));
    return r;
  }

 private:
  template <class... Parts>
  Error error_at(uint64_t at, Parts&&... parts) const {
    return fail("gguf: ", std::forward<Parts>(parts)..., " [at byte ", at, "]");
  }

  uint64_t size() const { return b_.size(); }
  uint64_t remaining() const { return b_.size() - pos_; }

  // Ensures `n` more bytes exist. `what` builds the field name, only on failure, so the
  // hot loops over vocab arrays do not format strings.
  template <class What>
  Status need(uint64_t n, const What& what) const {
    if (n <= remaining()) return {};
    return error_at(pos_, what(), " is truncated: needs ", n, " bytes but only ", remaining(),
                    " remain (file size ", size(), ")");
  }

  // Unchecked little-endian loads; callers have called need() first. Assembled byte by
  // byte so the reader is correct on any host (compilers fold this into one load).
  uint64_t load_le(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  uint32_t u32() { return static_cast<uint32_t>(load_le(4)); }
  uint64_t u64() { return load_le(8); }

  template <class What>
  Status read_u32(uint32_t& out, const What& what) {
    TM_TRY(need(4, what));
    out = u32();
    return {};
  }
  template <class What>
  Status read_u64(uint64_t& out, const What& what) {
    TM_TRY(need(8, what));
    out = u64();
    return {};
  }

  // A string is a u64 length and that many bytes; the view points into the file.
  template <class What>
  Status read_string(std::string_view& out, const What& what) {
    const uint64_t at = pos_;
    TM_TRY(need(8, [&] { return what() + " length"; }));
    const uint64_t len = u64();
    if (len > remaining())
      return error_at(at, what(), " length ", len, " extends past end of file (", remaining(),
                      " bytes left, file size ", size(), ")");
    out = std::string_view(reinterpret_cast<const char*>(b_.data() + pos_), len);
    pos_ += len;
    return {};
  }

  Status read_header(Parsed& r) {
    if (size() < 4)
      return error_at(0, "file is ", size(),
                      " bytes, too small to hold the 4-byte magic \"GGUF\" (truncated header)");
    if (std::memcmp(b_.data(), detail::kMagic, 4) != 0) {
      const std::string_view head(reinterpret_cast<const char*>(b_.data()), 4);
      return error_at(0, "bad magic ", detail::quote(head), ", expected \"GGUF\": not a GGUF file");
    }
    pos_ = 4;
    uint32_t version = 0;
    TM_TRY(read_u32(version, [] { return std::string("header version"); }));
    if (version == 1)
      return error_at(4,
                      "GGUF version 1 is not supported (v1 used 32-bit counts and lengths); "
                      "re-convert the model with a current converter");
    // A big-endian v2/v3 file reads as 0x02000000/0x03000000 here.
    if (version == 0x02000000u || version == 0x03000000u)
      return error_at(4, "header version ", version,
                      " looks like a big-endian GGUF file; only little-endian files are supported");
    if (version != 2 && version != 3)
      return error_at(4, "unsupported GGUF version ", version, " (supported: 2 and 3)");
    r.version = version;

    if (size() < kHeaderBytes)
      return error_at(pos_, "header is truncated: file is ", size(), " bytes, a GGUF v", version,
                      " header needs ", kHeaderBytes);
    const uint64_t n_tensors = u64();
    const uint64_t n_kv = u64();
    // Bound both counts by what the rest of the file could hold at minimum, so a 24-byte
    // file claiming 2^60 entries fails here instead of reserving memory or looping.
    if (n_tensors > remaining() / kMinTensorInfoBytes)
      return error_at(8, "header tensor_count ", n_tensors, " needs at least ", kMinTensorInfoBytes,
                      " bytes per tensor info but only ", remaining(),
                      " bytes follow the header (file size ", size(), ")");
    if (n_kv > remaining() / kMinKvBytes)
      return error_at(16, "header metadata_kv_count ", n_kv, " needs at least ", kMinKvBytes,
                      " bytes per entry but only ", remaining(),
                      " bytes follow the header (file size ", size(), ")");
    if (n_tensors > (remaining() - n_kv * kMinKvBytes) / kMinTensorInfoBytes)
      return error_at(8, "header tensor_count ", n_tensors, " and metadata_kv_count ", n_kv,
                      " need more than the ", remaining(),
                      " bytes that follow the header (file size ", size(), ")");
    n_tensors_ = n_tensors;
    n_kv_ = n_kv;
    return {};
  }

  Status read_metadata(Parsed& r) {
    r.metadata.reserve(n_kv_);  // bounded by the file size in read_header
    // Keys are viewed in the file bytes, which stay put while `r.metadata` grows.
    std::unordered_set<std::string_view> seen;
    seen.reserve(n_kv_);
    for (uint64_t i = 0; i < n_kv_; ++i) {
      const uint64_t key_at = pos_;
      std::string_view key;
      TM_TRY(read_string(key, [&] { return "metadata key #" + std::to_string(i); }));
      if (!seen.insert(key).second)
        return error_at(key_at, "duplicate metadata key ", name_for_error(key));
      ValuePath path{key};
      const uint64_t type_at = pos_;
      uint32_t type_id = 0;
      TM_TRY(read_u32(type_id, [&] { return path.str() + " value type"; }));
      if (!detail::is_known_value_type(type_id))
        return error_at(type_at, path.str(), " value type id ", type_id,
                        " is unknown (valid: 0..12)");
      const auto type = static_cast<ValueType>(type_id);
      const uint64_t value_at = pos_;
      KeyValue kv{std::string(key), Value{}};
      TM_TRY(read_value(type, kv.value, path));
      if (key == detail::kAlignmentKey) TM_TRY(check_alignment(kv.value, path, value_at, r));
      r.metadata.push_back(std::move(kv));
    }
    return {};
  }

  Status check_alignment(const Value& v, const ValuePath& path, uint64_t at, Parsed& r) const {
    if (v.type != ValueType::UINT32)
      return error_at(at, path.str(), " must be uint32, got ", value_type_name(v.type));
    const uint64_t a = std::get<uint64_t>(v.data);
    if (!detail::is_power_of_two(a))
      return error_at(at, path.str(), " = ", a, " is not a nonzero power of two");
    r.alignment = a;
    return {};
  }

  // Decoders for fixed-size scalars; need() has been checked by the caller.
  int64_t load_int(ValueType t) {  // any integer type but UINT64
    switch (t) {
      case ValueType::INT8:
        return static_cast<int8_t>(load_le(1));
      case ValueType::INT16:
        return static_cast<int16_t>(load_le(2));
      case ValueType::INT32:
        return static_cast<int32_t>(load_le(4));
      case ValueType::INT64:
        return static_cast<int64_t>(load_le(8));
      default:
        return static_cast<int64_t>(load_le(static_cast<int>(*detail::fixed_size(t))));
    }
  }
  double load_float(ValueType t) {  // FLOAT32 or FLOAT64
    if (t == ValueType::FLOAT32) {
      const auto bits = static_cast<uint32_t>(load_le(4));
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    const uint64_t bits = load_le(8);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  Value load_scalar(ValueType t) {
    Value v;
    v.type = t;
    if (t == ValueType::BOOL) {
      v.data = load_le(1) != 0;
    } else if (t == ValueType::FLOAT32 || t == ValueType::FLOAT64) {
      v.data = load_float(t);
    } else if (detail::is_signed_integer_type(t)) {
      v.data = load_int(t);
    } else {  // unsigned integers keep their full range
      v.data = load_le(static_cast<int>(*detail::fixed_size(t)));
    }
    return v;
  }

  Status read_value(ValueType t, Value& out, ValuePath& path) {
    out.type = t;
    if (t == ValueType::STRING) {
      std::string_view s;
      TM_TRY(read_string(s, [&] { return path.str() + " string"; }));
      out.data = std::string(s);
      return {};
    }
    if (t == ValueType::ARRAY) {
      auto array = std::make_shared<Array>();
      TM_TRY(read_array(*array, path));
      out.data = std::move(array);
      return {};
    }
    TM_TRY(need(*detail::fixed_size(t), [&] { return path.str() + " value"; }));
    out = load_scalar(t);
    return {};
  }

  Status read_array(Array& out, ValuePath& path) {
    const uint64_t at = pos_;
    if (path.depth >= detail::kMaxArrayDepth)
      return error_at(at, path.str(), " nests arrays deeper than ", detail::kMaxArrayDepth,
                      " levels");
    uint32_t type_id = 0;
    TM_TRY(read_u32(type_id, [&] { return path.str() + " array element type"; }));
    if (!detail::is_known_value_type(type_id))
      return error_at(at, path.str(), " array element type id ", type_id,
                      " is unknown (valid: 0..12)");
    const auto et = static_cast<ValueType>(type_id);
    out.element_type = et;
    const uint64_t count_at = pos_;
    uint64_t count = 0;
    TM_TRY(read_u64(count, [&] { return path.str() + " array length"; }));
    const uint64_t min_bytes = detail::min_encoded_size(et);
    if (count > remaining() / min_bytes)
      return error_at(count_at, path.str(), " array length ", count, " (", value_type_name(et),
                      " elements, at least ", min_bytes, " bytes each) exceeds the ", remaining(),
                      " bytes left in the file (size ", size(), ")");
    // From here `count` is bounded by the remaining bytes, so reserving it is safe.

    const int depth = path.depth;
    ++path.depth;  // element errors show as key[...][i]
    switch (et) {
      case ValueType::STRING: {
        std::vector<std::string> v;
        v.reserve(count);
        for (uint64_t i = 0; i < count; ++i) {
          path.index[depth] = i;
          std::string_view s;
          TM_TRY(read_string(s, [&] { return path.str() + " string"; }));
          v.emplace_back(s);
        }
        out.items = std::move(v);
        break;
      }
      case ValueType::ARRAY: {
        std::vector<Array> v;
        v.reserve(count);
        for (uint64_t i = 0; i < count; ++i) {
          path.index[depth] = i;
          TM_TRY(read_array(v.emplace_back(), path));
        }
        out.items = std::move(v);
        break;
      }
      case ValueType::UINT64: {
        std::vector<uint64_t> v(count);  // count * 8 bytes remain: checked above
        for (auto& x : v) x = u64();
        out.items = std::move(v);
        break;
      }
      case ValueType::FLOAT32:
      case ValueType::FLOAT64: {
        std::vector<double> v(count);
        for (auto& x : v) x = load_float(et);
        out.items = std::move(v);
        break;
      }
      case ValueType::BOOL: {
        std::vector<bool> v(count);
        for (uint64_t i = 0; i < count; ++i) v[i] = load_le(1) != 0;
        out.items = std::move(v);
        break;
      }
      default: {  // the remaining integer types, widened to int64
        std::vector<int64_t> v(count);
        for (auto& x : v) x = load_int(et);  // every type here fits int64
        out.items = std::move(v);
        break;
      }
    }
    path.depth = depth;
    return {};
  }

  Status read_tensor_infos(Parsed& r) {
    // Re-check against what is actually left now that the metadata has been read.
    if (n_tensors_ > remaining() / kMinTensorInfoBytes)
      return error_at(8, "header tensor_count ", n_tensors_, " needs at least ",
                      kMinTensorInfoBytes, " bytes per tensor info but only ", remaining(),
                      " bytes follow the metadata (file size ", size(), ")");
    r.tensors.reserve(n_tensors_);
    offset_at_.reserve(n_tensors_);
    std::unordered_set<std::string_view> seen;
    seen.reserve(n_tensors_);
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      const uint64_t name_at = pos_;
      std::string_view name;
      TM_TRY(read_string(name, [&] { return "tensor #" + std::to_string(i) + " name"; }));
      if (!seen.insert(name).second)
        return error_at(name_at, "duplicate tensor name ", name_for_error(name));
      const std::string label = "tensor " + name_for_error(name);
      TensorInfo t;
      t.name = std::string(name);

      const uint64_t n_dims_at = pos_;
      uint32_t n_dims = 0;
      TM_TRY(read_u32(n_dims, [&] { return label + " n_dims"; }));
      if (n_dims > detail::kMaxDims)
        return error_at(n_dims_at, label, " n_dims ", n_dims, " exceeds the maximum of ",
                        detail::kMaxDims);
      t.n_dims = static_cast<int>(n_dims);
      const uint64_t dims_at = pos_;
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t dim_at = pos_;
        const auto field = [&] { return label + " dims[" + std::to_string(d) + "]"; };
        uint64_t dim = 0;
        TM_TRY(read_u64(dim, field));
        if (dim == 0) return error_at(dim_at, field(), " is 0 (every dimension must be > 0)");
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          return error_at(dim_at, field(), " = ", dim, " exceeds int64");
        t.ne[d] = static_cast<int64_t>(dim);
        if (__builtin_mul_overflow(n_elements, t.ne[d], &n_elements))
          return error_at(dims_at, label, " element count (product of dims up to dims[", d,
                          "]) overflows int64");
      }

      const uint64_t type_at = pos_;
      uint32_t type_id = 0;
      TM_TRY(read_u32(type_id, [&] { return label + " type"; }));
      const std::optional<DTypeInfo> ti = dtype_info(type_id);
      if (!ti) return error_at(type_at, label, " type id ", type_id, " is unknown");
      t.type = static_cast<DType>(type_id);
      if (t.ne[0] % ti->block_size != 0)
        return error_at(dims_at, label, " dims[0] = ", t.ne[0], " is not a multiple of the ",
                        ti->name, " block size ", ti->block_size);
      // size = row bytes * rows, checked: F64/I64 dims near 2^63 elements overflow 64 bits.
      uint64_t row = 0, bytes = 0;
      if (__builtin_mul_overflow(static_cast<uint64_t>(t.ne[0] / ti->block_size),
                                 static_cast<uint64_t>(ti->block_bytes), &row) ||
          __builtin_mul_overflow(row, static_cast<uint64_t>(t.rows()), &bytes))
        return error_at(type_at, label, " data size (", ti->name, ", ", n_elements,
                        " elements) overflows 64 bits");
      t.size_bytes = bytes;

      const uint64_t offset_at = pos_;
      TM_TRY(read_u64(t.offset, [&] { return label + " offset"; }));
      if (t.offset % r.alignment != 0)
        return error_at(offset_at, label, " offset ", t.offset,
                        " is not a multiple of the alignment ", r.alignment);
      r.tensors.push_back(std::move(t));
      offset_at_.push_back(offset_at);
    }
    return {};
  }

  // The data section starts at the first aligned byte after the tensor infos; every
  // tensor's [offset, offset + size) must lie inside it.
  Status place_tensor_data(Parsed& r) {
    const uint64_t a = r.alignment;
    const uint64_t data_offset = pos_ % a == 0 ? pos_ : pos_ + (a - pos_ % a);
    // Vocab-only files end right after the tensor infos, so the aligned start may lie past
    // EOF; report the file end then, so data_offset() is always a valid index.
    r.data_offset = r.tensors.empty() && data_offset > size() ? size() : data_offset;
    const uint64_t section = data_offset <= size() ? size() - data_offset : 0;
    for (size_t i = 0; i < r.tensors.size(); ++i) {
      TensorInfo& t = r.tensors[i];
      if (t.offset > section || t.size_bytes > section - t.offset) {
        uint64_t absolute = 0;
        const std::string where = __builtin_add_overflow(data_offset, t.offset, &absolute)
                                      ? "data section + " + std::to_string(t.offset)
                                      : std::to_string(absolute);
        return error_at(offset_at_[i], "tensor ", name_for_error(t.name), " data (offset ", where,
                        ", ", t.size_bytes, " bytes) extends past end of file (size ", size(), ")");
      }
      t.data = b_.data() + data_offset + t.offset;
    }
    return {};
  }

  std::span<const uint8_t> b_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  std::vector<uint64_t> offset_at_;  // where each tensor's offset field was read
};

}  // namespace

Expected<File> File::open(const std::string& path) {
  TM_ASSIGN(std::shared_ptr<MappedFile> mapping, MappedFile::open(path));
  Expected<File> parsed = parse(mapping->bytes());
  if (!parsed.ok()) return fail(parsed.error().message, " in '", path, "'");
  File file = std::move(parsed).value();
  file.mapping_ = std::move(mapping);
  return file;
}

Expected<File> File::parse(std::span<const uint8_t> bytes) {
  Parser parser(bytes);
  TM_ASSIGN(Parsed p, parser.parse());
  File f;
  f.bytes_ = bytes;
  f.version_ = p.version;
  f.alignment_ = p.alignment;
  f.data_offset_ = p.data_offset;
  f.metadata_ = std::move(p.metadata);
  f.tensors_ = std::move(p.tensors);
  return f;
}

const Value* File::find(std::string_view key) const {
  for (const auto& kv : metadata_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  return v != nullptr ? v->as_int() : std::nullopt;
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  return v != nullptr ? v->as_float() : std::nullopt;
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  return v != nullptr ? v->as_bool() : std::nullopt;
}

const std::string* File::get_string(std::string_view key) const {
  const Value* v = find(key);
  return v != nullptr ? v->as_string() : nullptr;
}

const Array* File::get_array(std::string_view key) const {
  const Value* v = find(key);
  return v != nullptr ? v->as_array() : nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace tmill::gguf
