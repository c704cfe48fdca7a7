#include "tokenizer/chat_template/value.h"

#include "tokenizer/chat_template/pystr.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tmill::tok::jinja {

namespace {
const std::vector<Value> kNoItems;
}

Value Value::undefined(std::string hint) {
  Value v;
  v.s_ = std::move(hint);
  return v;
}
Value Value::none() {
  Value v;
  v.type_ = Type::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.type_ = Type::Int;
  v.i_ = i;
  return v;
}
Value Value::number(double f) {
  Value v;
  v.type_ = Type::Float;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.s_ = std::move(s);
  return v;
}
Value Value::markup(std::string s) {
  Value v = string(std::move(s));
  v.b_ = true;
  return v;
}
Value Value::list(std::vector<Value> items, bool tuple) {
  Value v;
  v.type_ = Type::List;
  auto data = std::make_shared<ListData>();
  int depth = 0;
  for (const Value& item : items) {
    depth = std::max(depth, item.depth());
    data->has_ref = data->has_ref || item.has_ref();
  }
  data->items = std::move(items);
  data->tuple = tuple;
  data->depth = depth + 1;
  v.list_ = std::move(data);
  return v;
}
Value Value::generator(std::vector<Value> items) {
  Value v = list(std::move(items));
  std::const_pointer_cast<ListData>(v.list_)->generator = true;
  return v;
}
Value Value::dict(std::shared_ptr<DictData> d) {
  Value v;
  v.type_ = Type::Dict;
  int depth = 0;
  for (const auto& [k, val] : d->entries) {
    depth = std::max(depth, val.depth());
    d->has_ref = d->has_ref || val.has_ref();
  }
  d->depth = depth + 1;
  v.dict_ = std::move(d);
  return v;
}
Value Value::function(std::string name, NativeFn fn) {
  Value v;
  v.type_ = Type::Function;
  v.fn_ = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

bool Value::is_namespace() const { return type_ == Type::Dict && dict_->is_namespace; }
const std::vector<Value>& Value::items() const { return list_ ? list_->items : kNoItems; }
bool Value::has_ref() const {
  if (type_ == Type::Function) return true;
  if (type_ == Type::List) return list_->has_ref;
  if (type_ == Type::Dict) return dict_->is_namespace || dict_->has_ref;
  return false;
}
bool Value::is_generator() const { return list_ && list_->generator; }
bool Value::is_tuple() const { return list_ && list_->tuple; }
int Value::depth() const {
  if (type_ == Type::List) return list_->depth;
  if (type_ == Type::Dict) return dict_->depth;
  return 0;
}

bool Value::truthy() const {
  switch (type_) {
    case Type::Undefined:
    case Type::None:
      return false;
    case Type::Bool:
      return b_;
    case Type::Int:
      return i_ != 0;
    case Type::Float:
      return f_ != 0.0;
    case Type::String:
      return !s_.empty();
    case Type::List:
      return list_->generator || !list_->items.empty();
    case Type::Dict:
      return dict_->is_namespace || !dict_->entries.empty();
    case Type::Function:
      return true;
  }
  return false;
}

const char* Value::type_name() const {
  switch (type_) {
    case Type::Undefined:
      return "Undefined";
    case Type::None:
      return "NoneType";
    case Type::Bool:
      return "bool";
    case Type::Int:
      return "int";
    case Type::Float:
      return "float";
    case Type::String:
      return "str";
    case Type::List:
      return is_generator() ? "generator" : is_tuple() ? "tuple" : "list";
    case Type::Dict:
      return is_namespace() ? "Namespace" : "dict";
    case Type::Function:
      return "function";
  }
  return "object";
}

std::string format_float(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string out;
  if (!sci.empty() && sci[0] == '-') {
    out = "-";
    sci.erase(0, 1);
  }
  const size_t epos = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < epos; ++i)
    if (sci[i] != '.') digits += sci[i];
  const int exp = std::atoi(sci.c_str() + epos + 1);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (exp >= -4 && exp < 16) {  // Python repr: fixed notation for 1e-4 <= |f| < 1e16
    if (exp >= 0) {
      std::string int_part = digits.substr(0, std::min<size_t>(digits.size(), exp + 1));
      while (int_part.size() < static_cast<size_t>(exp + 1)) int_part += '0';
      std::string frac = digits.size() > static_cast<size_t>(exp + 1) ? digits.substr(exp + 1) : "";
      out += int_part + "." + (frac.empty() ? "0" : frac);
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char e[16];
  std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out + e;
}

namespace {

// Characters Python's str.isprintable() rejects (approximation: controls, separators other
// than space, and the common format characters).
bool non_printable(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
         (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
         (cp >= 0xD800 && cp <= 0xDFFF);
}

}  // namespace

std::vector<std::string_view> split_code_points(std::string_view s) {
  std::vector<std::string_view> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    decode_utf8_at(s, i, len);
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    decode_utf8_at(s, i, len);
    i += len;
    ++n;
  }
  return n;
}

std::string repr_string(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const uint32_t cp = decode_utf8_at(s, i, len);
    const bool invalid = len == 1 && cp >= 0x80;
    char buf[16];
    if (cp == '\\' || cp == static_cast<uint32_t>(quote)) {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (invalid || (non_printable(cp) && cp <= 0xFF)) {
      std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      out += buf;
    } else if (non_printable(cp)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out += quote;
  return out;
}

std::string Value::to_str() const {
  switch (type_) {
    case Type::Undefined:
      return "";
    case Type::String:
      return s_;
    default:
      return repr();
  }
}

std::string Value::repr() const {
  switch (type_) {
    case Type::Undefined:
      return "Undefined";
    case Type::None:
      return "None";
    case Type::Bool:
      return b_ ? "True" : "False";
    case Type::Int:
      return std::to_string(i_);
    case Type::Float:
      return format_float(f_);
    case Type::String:
      return repr_string(s_);
    case Type::List: {
      if (is_generator()) return "<generator object>";
      std::string out = is_tuple() ? "(" : "[";
      const auto& v = list_->items;
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        out += v[i].repr();
      }
      if (is_tuple() && v.size() == 1) out += ",";
      return out + (is_tuple() ? ")" : "]");
    }
    case Type::Dict: {
      std::string out = dict_->is_namespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, v] : dict_->entries) {
        if (!first) out += ", ";
        first = false;
        out += k.repr() + ": " + v.repr();
      }
      return out + (dict_->is_namespace ? "}>" : "}");
    }
    case Type::Function:
      return "<function " + fn_->name + ">";
  }
  return "";
}

const Value* DictData::find(std::string_view key) const {
  if (entries.size() <= 8) {
    for (const auto& [k, v] : entries)
      if (k.is_string() && k.str() == key) return &v;
    return nullptr;
  }
  if (indexed_ != entries.size()) reindex();
  auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &entries[it->second].second;
}

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.str()));
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

void DictData::reindex() const {
  for (; indexed_ < entries.size(); ++indexed_)
    if (entries[indexed_].first.is_string())
      index_.emplace(entries[indexed_].first.str(), indexed_);
}

void DictData::set(Value key, Value value) {
  if (const Value* existing = find(key)) {
    *const_cast<Value*>(existing) = std::move(value);
    return;
  }
  entries.emplace_back(std::move(key), std::move(value));
}

bool equals(const Value& a, const Value& b) {
  using T = Value::Type;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::Undefined:
    case T::None:
      return true;
    case T::String:
      return a.str() == b.str();
    case T::List: {
      if (a.is_tuple() != b.is_tuple()) return false;
      const auto &x = a.items(), &y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case T::Dict: {
      if (a.dict_data() == b.dict_data()) return true;
      if (a.is_namespace() || b.is_namespace()) return false;
      const auto &x = a.dict_data()->entries, &y = b.dict_data()->entries;
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* other = b.dict_data()->find(k);
        if (other == nullptr || !equals(v, *other)) return false;
      }
      return true;
    }
    case T::Function:
      return a.callable() == b.callable();
    default:
      return false;
  }
}

Expected<bool> less_than(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() < b.as_float();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto &x = a.items(), &y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return fail("'<' not supported between instances of '", a.type_name(), "' and '", b.type_name(),
              "'");
}

namespace {

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

Status json_value(std::string& out, const Value& v, int indent, int level,
                  const std::string& item_sep, const std::string& key_sep) {
  auto newline = [&](int lvl) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * static_cast<size_t>(lvl), ' ');
  };
  switch (v.type()) {
    case Value::Type::None:
      out += "null";
      return {};
    case Value::Type::Bool:
      out += v.as_bool() ? "true" : "false";
      return {};
    case Value::Type::Int:
      out += std::to_string(v.as_int());
      return {};
    case Value::Type::Float: {
      const double f = v.as_float();
      if (std::isnan(f))
        out += "NaN";
      else if (std::isinf(f))
        out += f < 0 ? "-Infinity" : "Infinity";
      else
        out += format_float(f);
      return {};
    }
    case Value::Type::String:
      json_string(out, v.str());
      return {};
    case Value::Type::List: {
      if (v.is_generator()) return fail("Object of type generator is not JSON serializable");
      const auto& items = v.items();
      if (items.empty()) {
        out += "[]";
        return {};
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_sep;
        newline(level + 1);
        TM_TRY(json_value(out, items[i], indent, level + 1, item_sep, key_sep));
      }
      newline(level);
      out += ']';
      return {};
    }
    case Value::Type::Dict: {
      if (v.is_namespace()) return fail("Object of type Namespace is not JSON serializable");
      const auto& entries = v.dict_data()->entries;
      if (entries.empty()) {
        out += "{}";
        return {};
      }
      out += '{';
      bool first = true;
      for (const auto& [k, val] : entries) {
        if (!first) out += item_sep;
        first = false;
        newline(level + 1);
        if (k.is_string()) {
          json_string(out, k.str());
        } else if (k.is_none()) {
          out += "\"null\"";
        } else if (k.is_bool()) {
          out += k.as_bool() ? "\"true\"" : "\"false\"";
        } else if (k.is_int() || k.is_float()) {
          out += "\"" + k.to_str() + "\"";
        } else {
          return fail("keys must be str, int, float, bool or None, not ", k.type_name());
        }
        out += key_sep;
        TM_TRY(json_value(out, val, indent, level + 1, item_sep, key_sep));
      }
      newline(level);
      out += '}';
      return {};
    }
    default:
      return fail("Object of type ", v.type_name(), " is not JSON serializable");
  }
}

}  // namespace

Expected<std::string> to_json(const Value& v, int indent, const std::string& item_sep,
                              const std::string& key_sep) {
  std::string out;
  TM_TRY(json_value(out, v, indent, 0, item_sep, key_sep));
  return out;
}

Expected<Value> from_json(const nlohmann::ordered_json& j, int max_depth) {
  if (max_depth <= 0) return fail("JSON input is nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) {
        TM_ASSIGN(Value item, from_json(e, max_depth - 1));
        items.push_back(std::move(item));
      }
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto d = std::make_shared<DictData>();
      d->entries.reserve(j.size());
      for (const auto& [k, e] : j.items()) {
        TM_ASSIGN(Value item, from_json(e, max_depth - 1));
        d->set(Value::string(k), std::move(item));
      }
      return Value::dict(std::move(d));
    }
    default:
      return fail("unsupported JSON value (binary or discarded)");
  }
}

}  // namespace tmill::tok::jinja
