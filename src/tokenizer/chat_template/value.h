// Values of the Jinja-subset interpreter: Python's data model as far as chat templates use it.
//
// undefined, none, bool, int (int64; overflow is an error, not a bignum), float, str (UTF-8
// bytes; length, indexing and slicing count code points as Python does), list/tuple, dict
// (insertion-ordered, as Python's), callables (macros, built-ins, bound methods) and
// namespace() objects. Lists and dicts are immutable once built (the sandbox forbids mutating
// methods, as Jinja2's ImmutableSandboxedEnvironment does); only namespaces are mutated, and they
// are shared by reference.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/expected.h"

namespace tmill::tok::jinja {

class Value;
class Interpreter;

struct ListData;
struct DictData;
struct Callable;

// Arguments of a call: positional, then keyword (in call order).
struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

using NativeFn = std::function<Expected<Value>(Interpreter&, CallArgs&)>;

class Value {
 public:
  enum class Type : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Function };

  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  // markupsafe.Markup (from |safe, |escape): concatenating a plain str to it HTML-escapes the
  // str, as Jinja2 does even without autoescaping.
  static Value markup(std::string s);
  static Value list(std::vector<Value> items, bool tuple = false);
  // What Jinja2's map/select/reject/... filters return: iterable once, but without len(),
  // indexing or JSON form (as Python generators).
  static Value generator(std::vector<Value> items);
  static Value dict(std::shared_ptr<DictData> d);
  static Value function(std::string name, NativeFn fn);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::Undefined; }
  bool is_none() const { return type_ == Type::None; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_int() const { return type_ == Type::Int; }
  bool is_float() const { return type_ == Type::Float; }
  bool is_number() const { return type_ == Type::Int || type_ == Type::Float || is_bool(); }
  bool is_string() const { return type_ == Type::String; }
  bool is_markup() const { return type_ == Type::String && b_; }
  bool is_list() const { return type_ == Type::List; }
  bool is_dict() const { return type_ == Type::Dict; }
  bool is_function() const { return type_ == Type::Function; }
  bool is_namespace() const;

  bool as_bool() const { return b_; }
  int64_t as_int() const { return is_bool() ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return type_ == Type::Float ? f_ : static_cast<double>(as_int()); }
  // String contents; for undefined, the hint for error messages ("'x' is undefined").
  const std::string& str() const { return s_; }
  const std::vector<Value>& items() const;  // List only
  bool is_tuple() const;
  bool is_generator() const;
  const std::shared_ptr<DictData>& dict_data() const { return dict_; }
  const std::shared_ptr<Callable>& callable() const { return fn_; }
  // Nesting depth of lists/dicts (scalars 0); bounded so destruction and printing stay shallow.
  int depth() const;
  // True for callables and namespaces and containers holding one: values that may refer back
  // to a scope, so a namespace may not store them (no reference cycles).
  bool has_ref() const;

  // Python truthiness.
  bool truthy() const;
  // Python str(): what `{{ v }}` prints. Undefined prints as "".
  std::string to_str() const;
  // Python repr() (inside printed containers).
  std::string repr() const;
  // Python's type name, for error messages ("int", "str", "dict", ...).
  const char* type_name() const;

 private:
  Type type_ = Type::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<const ListData> list_;
  std::shared_ptr<DictData> dict_;
  std::shared_ptr<Callable> fn_;
};

struct ListData {
  std::vector<Value> items;
  bool tuple = false;
  bool generator = false;
  bool has_ref = false;
  int depth = 1;
};

// Insertion-ordered dict; keys are any Value (JSON gives strings). Lookup by string key is
// indexed once the dict grows, so templates that index large dicts stay linear.
struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  bool is_namespace = false;
  bool has_ref = false;
  int depth = 1;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts or overwrites (keeps the original position on overwrite, as Python does).
  void set(Value key, Value value);

 private:
  void reindex() const;
  mutable std::unordered_map<std::string, size_t> index_;
  mutable size_t indexed_ = 0;
};

struct Callable {
  std::string name;
  NativeFn fn;
};

// Python ==.
bool equals(const Value& a, const Value& b);
// Python <: ok() false when the types cannot be ordered (TypeError in Python).
Expected<bool> less_than(const Value& a, const Value& b);

// Python's repr(float) (shortest round-trip digits, "1e+16", "1.0", "inf", "nan").
std::string format_float(double f);
// Python's repr(str): quotes chosen as Python does, escapes for control characters.
std::string repr_string(std::string_view s);

// Python's json.dumps(v, ensure_ascii=False, indent=indent, separators=..., sort_keys=False),
// which is how Hugging Face transformers defines the `tojson` filter. indent < 0 means None.
Expected<std::string> to_json(const Value& v, int indent, const std::string& item_sep,
                              const std::string& key_sep);

// JSON (ordered, as parsed) -> Value. Fails on nesting deeper than max_depth.
Expected<Value> from_json(const nlohmann::ordered_json& j, int max_depth = 256);

// Code-point helpers on UTF-8 (invalid bytes count as one code point each).
std::vector<std::string_view> split_code_points(std::string_view s);
size_t count_code_points(std::string_view s);

}  // namespace tmill::tok::jinja
