// GGUF v2/v3 reader. Everything in the file is validated before use: counts, string and
// array lengths, tensor dims (<= 4, each > 0, product without overflow), type ids, data
// offsets/sizes inside the file and their alignment. A failure is an Error naming the field
// and its byte offset; nothing allocates more than the file could describe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/expected.h"
#include "core/mapped_file.h"

namespace tmill::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t);

struct Array;

// One metadata value. Arrays hold a typed vector (see Array).
struct Value {
  ValueType type = ValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<Array>> data;

  // Conversions that succeed only when the stored type fits (no silent truncation).
  std::optional<int64_t> as_int() const;   // any integer type (uint64 above INT64_MAX fails)
  std::optional<double> as_float() const;  // float32/float64 and integers
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const Array* as_array() const;
};

// Arrays are stored compactly by element type: a 262k-entry vocab is one vector of strings.
struct Array {
  ValueType element_type = ValueType::UINT8;
  std::variant<std::vector<int64_t>,      // all integer element types, widened
               std::vector<uint64_t>,     // UINT64 (may exceed INT64_MAX)
               std::vector<double>,       // FLOAT32 / FLOAT64
               std::vector<bool>,         // BOOL
               std::vector<std::string>,  // STRING
               std::vector<Array>>        // ARRAY (nested)
      items;
  size_t size() const;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension, as in ggml
  DType type = DType::F32;
  uint64_t offset = 0;            // relative to the start of the data section
  uint64_t size_bytes = 0;        // validated: fits in the file
  const uint8_t* data = nullptr;  // points into the mapping/bytes

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
};

class File {
 public:
  // mmap + parse + validate. The mapping lives as long as the File.
  static Expected<File> open(const std::string& path);
  // Parse bytes owned by the caller (fuzzing, tests); `bytes` must outlive the File.
  static Expected<File> parse(std::span<const uint8_t> bytes);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section
  size_t file_size() const { return bytes_.size(); }
  // Whether the bytes are this File's own mapping of a file (open), not caller-owned (parse).
  bool is_mapped() const { return mapping_ != nullptr; }

  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  // Typed lookups: nullopt/nullptr when absent OR of an incompatible type.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  const std::string* get_string(std::string_view key) const;
  const Array* get_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  std::shared_ptr<MappedFile> mapping_;  // null when parsing caller-owned bytes
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::vector<TensorInfo> tensors_;
};

// Human-readable dump for `tokenmill inspect`: header, metadata (long arrays abbreviated),
// and the tensor table (name, type, shape, offset, bytes).
std::string describe(const File& file);

// Writer for tests and the quantizer: builds a valid GGUF v3 file in memory.
class Writer {
 public:
  explicit Writer(uint64_t alignment = 32) : alignment_(alignment) {}
  void add(std::string key, Value value);
  void add_string(std::string key, std::string v);
  void add_uint32(std::string key, uint32_t v);
  void add_int32(std::string key, int32_t v);
  void add_float32(std::string key, float v);
  void add_bool(std::string key, bool v);
  void add_string_array(std::string key, std::vector<std::string> v);
  void add_float32_array(std::string key, std::vector<float> v);
  void add_int32_array(std::string key, std::vector<int32_t> v);
  // `data` must be exactly the bytes of a tensor of `type` with dims ne (ne[0] innermost).
  Status add_tensor(std::string name, DType type, std::vector<int64_t> ne,
                    std::span<const uint8_t> data);

  std::vector<uint8_t> to_bytes() const;
  Status write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  uint64_t alignment_;
  std::vector<KeyValue> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace tmill::gguf
