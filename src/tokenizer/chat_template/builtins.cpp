// Filters, tests, methods of str/dict/list, and the global functions of the Jinja subset.
// Behaviour follows Jinja2 3.1's built-ins and Python's str/dict methods; `tojson` is the one
// Hugging Face transformers installs (json.dumps with ensure_ascii=False, keys unsorted).
#include <algorithm>
#include <cerrno>
#include <cfenv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tokenizer/chat_template/interpreter.h"
#include "tokenizer/chat_template/pystr.h"

namespace tmill::tok::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // Jinja2's sandbox MAX_RANGE

// Positional argument i, else keyword `name`, else null.
const Value* arg(const CallArgs& a, size_t i, const char* name) {
  if (i < a.args.size()) return &a.args[i];
  for (const auto& [k, v] : a.kwargs)
    if (k == name) return &v;
  return nullptr;
}

Expected<int64_t> int_arg(const CallArgs& a, size_t i, const char* name, int64_t dflt) {
  const Value* v = arg(a, i, name);
  if (v == nullptr || v->is_none()) return dflt;
  if (v->is_int() || v->is_bool()) return v->as_int();
  return fail("argument '", name, "' must be an integer, not ", v->type_name());
}

bool bool_arg(const CallArgs& a, size_t i, const char* name, bool dflt) {
  const Value* v = arg(a, i, name);
  return v == nullptr ? dflt : v->truthy();
}

Expected<std::string> str_arg(const CallArgs& a, size_t i, const char* name) {
  const Value* v = arg(a, i, name);
  if (v == nullptr) return fail("missing argument '", name, "'");
  if (!v->is_string()) return fail("argument '", name, "' must be a string, not ", v->type_name());
  return v->str();
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::vector<std::string> splitlines(std::string_view s) {
  std::vector<std::string> lines;
  std::string cur;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const uint32_t cp = decode_utf8_at(s, i, len);
    const bool brk = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C ||
                     cp == 0x1D || cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (brk) {
      lines.push_back(cur);
      cur.clear();
      if (cp == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++len;
    } else {
      cur.append(s.substr(i, len));
    }
    i += len;
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

// Jinja's attribute lookup for filters (`attribute='a.b'`, selectattr): dotted path, integers
// as indices.
Expected<Value> lookup_path(Interpreter& in, const Value& obj, const std::string& path) {
  Value cur = obj;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (numeric && part.size() < 18) {
      TM_ASSIGN(cur, in.get_item(cur, Value::integer(std::stoll(part))));
    } else {
      TM_ASSIGN(cur, in.get_item(cur, Value::string(part)));
    }
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

Expected<size_t> length_of(const Value& v) {
  switch (v.type()) {
    case Value::Type::String:
      return count_code_points(v.str());
    case Value::Type::List:
      if (v.is_generator()) break;
      return v.items().size();
    case Value::Type::Dict:
      if (!v.is_namespace()) return v.dict_data()->entries.size();
      break;
    case Value::Type::Undefined:
      return size_t{0};
    default:
      break;
  }
  return fail("object of type '", v.type_name(), "' has no len()");
}

Value fold_case(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(py_lower(v.str()));
  return v;
}

Expected<std::vector<Value>> sorted(Interpreter& in, std::vector<Value> items, bool reverse,
                                    bool case_sensitive, const Value* attribute) {
  std::vector<Value> keys;
  keys.reserve(items.size());
  for (const Value& item : items) {
    Value k = item;
    if (attribute != nullptr && attribute->is_string()) {
      TM_ASSIGN(k, lookup_path(in, item, attribute->str()));
    }
    keys.push_back(fold_case(k, case_sensitive));
  }
  TM_TRY(in.charge(items.size() * 4));
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Status error;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    if (!error.ok()) return false;
    auto r = reverse ? less_than(keys[y], keys[x]) : less_than(keys[x], keys[y]);
    if (!r.ok()) {
      error = r.error();
      return false;
    }
    return *r;
  });
  TM_TRY(error);
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(items[i]);
  return out;
}

Expected<std::string> join_values(Interpreter& in, const std::vector<Value>& items,
                                  const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i].to_str();
    TM_TRY(in.check_size(out.size()));
  }
  TM_TRY(in.charge(out.size() / 64 + items.size()));
  return out;
}

// Python str.format: {} {0} {name} and {{ }}; conversions/format specs beyond none are errors.
Expected<std::string> str_format(Interpreter& in, const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  bool manual = false;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}')
        ++i;
      else
        return fail("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) return fail("Single '{' encountered in format string");
    const std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    if (field.find_first_of(":!") != std::string::npos)
      return fail("format specs and conversions in str.format are not supported");
    const Value* v = nullptr;
    const bool numeric = !field.empty() && std::all_of(field.begin(), field.end(),
                                                       [](char d) { return d >= '0' && d <= '9'; });
    if ((field.empty() && manual) || (numeric && auto_index > 0))
      return fail("cannot switch between manual and automatic field numbering in str.format");
    manual = manual || numeric;
    if (field.empty()) {
      if (auto_index >= a.args.size())
        return fail("Replacement index ", auto_index, " out of range");
      v = &a.args[auto_index++];
    } else if (numeric) {
      const size_t idx = field.size() < 9 ? std::stoul(field) : SIZE_MAX;
      if (idx >= a.args.size()) return fail("Replacement index ", field, " out of range");
      v = &a.args[idx];
    } else {
      for (const auto& [k, val] : a.kwargs)
        if (k == field) v = &val;
      if (v == nullptr) return fail("KeyError: '", field, "'");
    }
    out += v->to_str();
    TM_TRY(in.check_size(out.size()));
  }
  return out;
}

std::string ensure_ascii(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t cp = decode_utf8_at(s, i, len);
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      char buf[16];
      if (cp >= 0x10000) {
        cp -= 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                      0xDC00 + (cp & 0x3FF));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      }
      out += buf;
    }
    i += len;
  }
  return out;
}

Value sort_keys_deep(const Value& v) {
  if (v.is_list()) {
    std::vector<Value> items;
    for (const Value& i : v.items()) items.push_back(sort_keys_deep(i));
    return Value::list(std::move(items), v.is_tuple());
  }
  if (v.is_dict() && !v.is_namespace()) {
    auto entries = v.dict_data()->entries;
    std::stable_sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) {
      return x.first.to_str() < y.first.to_str();
    });
    auto d = std::make_shared<DictData>();
    for (auto& [k, val] : entries) d->entries.emplace_back(k, sort_keys_deep(val));
    return Value::dict(std::move(d));
  }
  return v;
}

Expected<Value> filter_tojson(Interpreter& in, const Value& v, const CallArgs& a) {
  // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  const bool ascii = bool_arg(a, 0, "ensure_ascii", false);
  TM_ASSIGN(int64_t indent, int_arg(a, 1, "indent", -1));
  const bool sort_keys = bool_arg(a, 3, "sort_keys", false);
  std::string item_sep = indent >= 0 ? "," : ", ", key_sep = ": ";
  if (const Value* sep = arg(a, 2, "separators"); sep != nullptr && !sep->is_none()) {
    if (!sep->is_list() || sep->items().size() != 2 || !sep->items()[0].is_string() ||
        !sep->items()[1].is_string())
      return fail("tojson: separators must be a pair of strings");
    item_sep = sep->items()[0].str();
    key_sep = sep->items()[1].str();
  }
  if (indent > 64) return fail("tojson: indent is too large");
  if (v.is_undefined()) return fail("Object of type Undefined is not JSON serializable");
  TM_ASSIGN(std::string s, to_json(sort_keys ? sort_keys_deep(v) : v, static_cast<int>(indent),
                                   item_sep, key_sep));
  TM_TRY(in.check_size(s.size()));
  TM_TRY(in.charge(s.size() / 64));
  return Value::string(ascii ? ensure_ascii(s) : std::move(s));
}

Expected<Value> filter_indent(Interpreter& in, const Value& v, const CallArgs& a) {
  std::string indention;
  const Value* w = arg(a, 0, "width");
  if (w != nullptr && w->is_string()) {
    indention = w->str();
  } else {
    TM_ASSIGN(int64_t width, int_arg(a, 0, "width", 4));
    if (width > 1024) return fail("indent width is too large");
    indention.assign(static_cast<size_t>(std::max<int64_t>(0, width)), ' ');
  }
  const bool first = bool_arg(a, 1, "first", false);
  const bool blank = bool_arg(a, 2, "blank", false);
  std::string s = v.to_str() + "\n";
  std::vector<std::string> lines = splitlines(s);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + indention;
      rv += lines[i];
    }
  } else if (!lines.empty()) {
    rv = lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
      TM_TRY(in.check_size(rv.size()));
    }
  }
  if (first) rv = indention + rv;
  TM_TRY(in.check_size(rv.size()));
  TM_TRY(in.charge(rv.size() / 64));
  return Value::string(std::move(rv));
}

Expected<Value> select_like(Interpreter& in, const Value& v, CallArgs& a, bool by_attr, bool keep) {
  if (!v.truthy()) return Value::generator({});  // Jinja2: `if value: for item in value`
  TM_ASSIGN(std::vector<Value> items, in.iterate(v));
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (a.args.empty() || !a.args[0].is_string())
      return fail("selectattr/rejectattr need an attribute name");
    attr = a.args[0].str();
    next = 1;
  }
  std::string test;
  CallArgs test_args;
  if (next < a.args.size()) {
    if (!a.args[next].is_string()) return fail("the test name must be a string");
    test = a.args[next].str();
    test_args.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(next + 1), a.args.end());
  }
  std::vector<Value> out;
  for (const Value& item : items) {
    TM_TRY(in.count_iteration());
    Value subject = item;
    if (by_attr) {
      TM_ASSIGN(subject, lookup_path(in, item, attr));
    }
    bool r;
    if (test.empty()) {
      r = subject.truthy();
    } else {
      CallArgs copy = test_args;
      TM_ASSIGN(r, in.apply_test(test, subject, copy));
    }
    if (r == keep) out.push_back(item);
  }
  return Value::generator(std::move(out));
}

Expected<Value> filter_map(Interpreter& in, const Value& v, CallArgs& a) {
  if (!v.truthy()) return Value::generator({});  // Jinja2: `if value: for item in value`
  TM_ASSIGN(std::vector<Value> items, in.iterate(v));
  std::vector<Value> out;
  const Value* attribute = nullptr;
  const Value* dflt = nullptr;
  for (const auto& [k, val] : a.kwargs) {
    if (k == "attribute") attribute = &val;
    if (k == "default") dflt = &val;
  }
  if (attribute != nullptr) {
    if (!attribute->is_string() && !attribute->is_int())
      return fail("map: attribute must be a string");
    for (const Value& item : items) {
      TM_TRY(in.count_iteration());
      Value r;
      if (attribute->is_int()) {
        TM_ASSIGN(r, in.get_item(item, *attribute));
      } else {
        TM_ASSIGN(r, lookup_path(in, item, attribute->str()));
      }
      if (r.is_undefined() && dflt != nullptr) r = *dflt;
      out.push_back(std::move(r));
    }
    return Value::generator(std::move(out));
  }
  if (a.args.empty() || !a.args[0].is_string())
    return fail("map: expected a filter name or attribute=");
  const std::string name = a.args[0].str();
  CallArgs rest;
  rest.args.assign(a.args.begin() + 1, a.args.end());
  rest.kwargs = a.kwargs;
  for (const Value& item : items) {
    TM_TRY(in.count_iteration());
    CallArgs copy = rest;
    TM_ASSIGN(Value r, in.apply_filter(name, item, copy));
    out.push_back(std::move(r));
  }
  return Value::generator(std::move(out));
}

Expected<Value> to_int(const Value& v, int64_t dflt, int64_t base) {
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    const double f = v.as_float();
    if (!std::isfinite(f) || std::fabs(f) >= 9.2e18) return Value::integer(dflt);
    return Value::integer(static_cast<int64_t>(f));
  }
  if (v.is_string()) {
    std::string s(py_strip(v.str(), nullptr, true, true));
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    if (s.empty()) return Value::integer(dflt);
    errno = 0;
    char* end = nullptr;
    const long long i = std::strtoll(s.c_str(), &end, static_cast<int>(base));
    if (errno == 0 && end != nullptr && *end == '\0') return Value::integer(i);
    errno = 0;
    const double f = std::strtod(s.c_str(), &end);
    if (errno == 0 && end != nullptr && *end == '\0' && std::isfinite(f) && std::fabs(f) < 9.2e18)
      return Value::integer(static_cast<int64_t>(f));
  }
  return Value::integer(dflt);
}

Expected<Value> to_float(const Value& v, double dflt) {
  if (v.is_number()) return Value::number(v.as_float());
  if (v.is_string()) {
    const std::string s(py_strip(v.str(), nullptr, true, true));
    char* end = nullptr;
    const double f = std::strtod(s.c_str(), &end);
    if (!s.empty() && end != nullptr && *end == '\0') return Value::number(f);
  }
  return Value::number(dflt);
}

double py_round(double x, int64_t digits, const std::string& method) {
  if (!std::isfinite(x) || digits > 300 || digits < -300) return x;
  const double scale = std::pow(10.0, static_cast<double>(digits));
  double y = x * scale;
  if (method == "ceil") {
    y = std::ceil(y);
  } else if (method == "floor") {
    y = std::floor(y);
  } else {
    const int saved = std::fegetround();
    std::fesetround(FE_TONEAREST);
    y = std::nearbyint(y);
    std::fesetround(saved);
  }
  return y / scale;
}

}  // namespace

Expected<Value> call_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& a) {
  if (name == "safe") return v.is_markup() ? v : Value::markup(v.to_str());
  if (name == "default" || name == "d") {
    const Value* dflt = arg(a, 0, "default_value");
    const bool boolean = bool_arg(a, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !v.truthy())) return dflt ? *dflt : Value::string("");
    return v;
  }
  if (name == "tojson") return filter_tojson(in, v, a);
  if (name == "string") return Value::string(v.to_str());
  if (name == "length" || name == "count") {
    TM_ASSIGN(size_t n, length_of(v));
    return Value::integer(static_cast<int64_t>(n));
  }
  if (name == "trim") {
    const Value* chars = arg(a, 0, "chars");
    const std::string s = v.to_str();
    const std::string* c = chars != nullptr && chars->is_string() ? &chars->str() : nullptr;
    return Value::string(std::string(py_strip(s, c, true, true)));
  }
  if (name == "upper") return Value::string(py_upper(v.to_str()));
  if (name == "lower") return Value::string(py_lower(v.to_str()));
  if (name == "capitalize") return Value::string(py_capitalize(v.to_str()));
  if (name == "title") return Value::string(py_title(v.to_str()));
  if (name == "replace") {
    TM_ASSIGN(std::string old_s, str_arg(a, 0, "old"));
    TM_ASSIGN(std::string new_s, str_arg(a, 1, "new"));
    TM_ASSIGN(int64_t count, int_arg(a, 2, "count", -1));
    const std::string s = v.to_str();
    if (!new_s.empty() && (old_s.empty() ? s.size() + 1 : s.size() / old_s.size()) >
                              in.limits().max_output_bytes / new_s.size())
      return fail("replace: result would exceed the size limit");
    std::string r = py_replace(s, old_s, new_s, count);
    TM_TRY(in.check_size(r.size()));
    TM_TRY(in.charge(r.size() / 64));
    return Value::string(std::move(r));
  }
  if (name == "join") {
    const Value* sep = arg(a, 0, "d");
    const Value* attribute = arg(a, 1, "attribute");
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    if (attribute != nullptr && attribute->is_string()) {
      for (Value& item : items) {
        TM_ASSIGN(item, lookup_path(in, item, attribute->str()));
      }
    }
    TM_ASSIGN(std::string s, join_values(in, items, sep != nullptr ? sep->to_str() : ""));
    return Value::string(std::move(s));
  }
  if (name == "first" || name == "last") {
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    if (items.empty()) return Value::undefined("No first item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::generator({});
    if (!v.is_dict() || v.is_namespace()) return fail("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, val] : v.dict_data()->entries) out.push_back(Value::list({k, val}, true));
    return Value::generator(std::move(out));
  }
  if (name == "dictsort") {
    if (!v.is_dict() || v.is_namespace()) return fail("dictsort: expected a mapping");
    const bool case_sensitive = bool_arg(a, 0, "case_sensitive", false);
    const Value* by = arg(a, 1, "by");
    const bool by_value = by != nullptr && by->is_string() && by->str() == "value";
    const bool reverse = bool_arg(a, 2, "reverse", false);
    std::vector<Value> pairs, keys;
    for (const auto& [k, val] : v.dict_data()->entries) {
      pairs.push_back(Value::list({k, val}, true));
      keys.push_back(fold_case(by_value ? val : k, case_sensitive));
    }
    std::vector<size_t> order(pairs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    Status error;
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      if (!error.ok()) return false;
      auto r = reverse ? less_than(keys[y], keys[x]) : less_than(keys[x], keys[y]);
      if (!r.ok()) error = r.error();
      return r.ok() && *r;
    });
    TM_TRY(error);
    std::vector<Value> out;
    for (size_t i : order) out.push_back(pairs[i]);
    return Value::list(std::move(out));
  }
  if (name == "selectattr") return select_like(in, v, a, true, true);
  if (name == "rejectattr") return select_like(in, v, a, true, false);
  if (name == "select") return select_like(in, v, a, false, true);
  if (name == "reject") return select_like(in, v, a, false, false);
  if (name == "map") return filter_map(in, v, a);
  if (name == "list") {
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    return Value::list(std::move(items));
  }
  if (name == "unique") {
    const bool case_sensitive = bool_arg(a, 0, "case_sensitive", false);
    const Value* attribute = arg(a, 1, "attribute");
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    std::vector<Value> out, seen;
    for (const Value& item : items) {
      TM_TRY(in.count_iteration());
      Value key = item;
      if (attribute != nullptr && attribute->is_string()) {
        TM_ASSIGN(key, lookup_path(in, item, attribute->str()));
      }
      key = fold_case(key, case_sensitive);
      bool dup = false;
      for (const Value& s : seen)
        if (equals(s, key)) {
          dup = true;
          break;
        }
      TM_TRY(in.charge(seen.size()));
      if (dup) continue;
      seen.push_back(key);
      out.push_back(item);
    }
    return Value::generator(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto cps = split_code_points(v.str());
      std::string s;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it) s += *it;
      return Value::string(std::move(s));
    }
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    std::reverse(items.begin(), items.end());
    return Value::generator(std::move(items));
  }
  if (name == "sort") {
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    TM_ASSIGN(items, sorted(in, std::move(items), bool_arg(a, 0, "reverse", false),
                            bool_arg(a, 1, "case_sensitive", false), arg(a, 2, "attribute")));
    return Value::list(std::move(items));
  }
  if (name == "min" || name == "max") {
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    TM_ASSIGN(items, sorted(in, std::move(items), false, bool_arg(a, 0, "case_sensitive", false),
                            arg(a, 1, "attribute")));
    return name == "min" ? items.front() : items.back();
  }
  if (name == "sum") {
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    const Value* attribute = arg(a, 0, "attribute");
    const Value* start = arg(a, 1, "start");
    bool is_float = start != nullptr && start->is_float();
    int64_t isum = start != nullptr && !is_float ? start->as_int() : 0;
    double fsum = start != nullptr ? start->as_float() : 0.0;
    for (Value item : items) {
      if (attribute != nullptr && attribute->is_string()) {
        TM_ASSIGN(item, lookup_path(in, item, attribute->str()));
      }
      if (!item.is_number()) return fail("sum: unsupported operand type '", item.type_name(), "'");
      if (item.is_float()) is_float = true;
      fsum += item.as_float();
      if (__builtin_add_overflow(isum, item.as_int(), &isum)) return fail("integer overflow");
    }
    return is_float ? Value::number(fsum) : Value::integer(isum);
  }
  if (name == "int") {
    TM_ASSIGN(int64_t dflt, int_arg(a, 0, "default", 0));
    TM_ASSIGN(int64_t base, int_arg(a, 1, "base", 10));
    if (base < 2 || base > 36) base = 10;
    return to_int(v, dflt, base);
  }
  if (name == "float") {
    const Value* d = arg(a, 0, "default");
    return to_float(v, d != nullptr && d->is_number() ? d->as_float() : 0.0);
  }
  if (name == "abs") {
    if (v.is_float()) return Value::number(std::fabs(v.as_float()));
    if (v.is_int() || v.is_bool()) {
      if (v.as_int() == INT64_MIN) return fail("integer overflow");
      return Value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    return fail("bad operand type for abs(): '", v.type_name(), "'");
  }
  if (name == "round") {
    TM_ASSIGN(int64_t precision, int_arg(a, 0, "precision", 0));
    const Value* method = arg(a, 1, "method");
    const std::string m = method != nullptr && method->is_string() ? method->str() : "common";
    if (m != "common" && m != "ceil" && m != "floor")
      return fail("method must be common, ceil or floor");
    if (!v.is_number()) return fail("round: expected a number, got ", v.type_name());
    return Value::number(py_round(v.as_float(), precision, m));
  }
  if (name == "indent") return filter_indent(in, v, a);
  if (name == "wordcount") {
    const std::string s = v.to_str();
    int64_t words = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.size();) {
      size_t len;
      const uint32_t cp = decode_utf8_at(s, i, len);
      const bool w = (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
                     (cp >= 'A' && cp <= 'Z') || cp == '_' || (cp >= 0xAA && !py_isspace(cp));
      if (w && !in_word) ++words;
      in_word = w;
      i += len;
    }
    return Value::integer(words);
  }
  if (name == "batch") {
    TM_ASSIGN(int64_t size, int_arg(a, 0, "linecount", 1));
    if (size <= 0) return fail("batch: linecount must be positive");
    const Value* fill = arg(a, 1, "fill_with");
    TM_ASSIGN(std::vector<Value> items, in.iterate(v));
    std::vector<Value> out, cur;
    for (const Value& item : items) {
      cur.push_back(item);
      if (static_cast<int64_t>(cur.size()) == size) {
        out.push_back(Value::list(std::move(cur)));
        cur.clear();
      }
    }
    if (!cur.empty()) {
      if (fill != nullptr && !fill->is_none())
        while (static_cast<int64_t>(cur.size()) < size) cur.push_back(*fill);
      out.push_back(Value::list(std::move(cur)));
    }
    return Value::generator(std::move(out));
  }
  if (name == "escape" || name == "e" || name == "forceescape") {
    if (v.is_markup() && name != "forceescape") return v;
    return Value::markup(html_escape(v.to_str()));
  }
  if (name == "format") {
    if (!v.is_string()) return fail("format: expected a string");
    if (a.args.size() == 1 && a.args[0].is_tuple())
      return fail("format: pass the values as separate arguments");
    const std::string fmt = v.str();
    std::string out;
    size_t next = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
      if (fmt[i] != '%' || i + 1 >= fmt.size()) {
        out += fmt[i];
        continue;
      }
      const char c = fmt[++i];
      if (c == '%') {
        out += '%';
      } else if (next < a.args.size() && (c == 's' || c == 'd' || c == 'r')) {
        const Value& x = a.args[next++];
        out += c == 'r' ? x.repr() : c == 'd' ? std::to_string(x.as_int()) : x.to_str();
      } else {
        return fail("format: unsupported or missing argument for '%", c, "'");
      }
    }
    TM_TRY(in.check_size(out.size()));
    return Value::string(std::move(out));
  }
  if (name == "attr") {
    TM_ASSIGN(std::string attr, str_arg(a, 0, "name"));
    return in.get_attr(v, attr);
  }
  if (name == "center") {
    TM_ASSIGN(int64_t width, int_arg(a, 0, "width", 80));
    const std::string s = v.to_str();
    const int64_t n = static_cast<int64_t>(count_code_points(s));
    if (width > 100000) return fail("center: width is too large");
    if (width <= n) return Value::string(s);
    const int64_t total = width - n;
    const int64_t left = total / 2 + (total & width & 1);
    return Value::string(std::string(static_cast<size_t>(left), ' ') + s +
                         std::string(static_cast<size_t>(total - left), ' '));
  }
  return fail("no filter named '", name, "'");
}

Expected<bool> call_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& a) {
  (void)in;
  const Value* other = arg(a, 0, "other");
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict() && !v.is_namespace();
  if (name == "iterable")
    return v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace()) || v.is_undefined();
  if (name == "sequence")
    return v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace()) || v.is_undefined();
  if (name == "callable") return v.is_function();
  if (name == "escaped") return v.is_markup();
  if (name == "lower" || name == "upper") {
    const std::string s = v.to_str();
    bool cased = false;
    for (char c : s) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) cased = true;
    }
    if (!cased) return false;
    return name == "lower" ? py_lower(s) == s : py_upper(s) == s;
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int() && !v.is_bool()) return fail("test '", name, "' expects an integer");
    if (name == "divisibleby") {
      if (other == nullptr || !(other->is_int() || other->is_bool()))
        return fail("divisibleby needs an integer argument");
      const int64_t d = other->as_int();
      if (d == 0) return fail("integer division or modulo by zero");
      if (d == -1) return true;
      return v.as_int() % d == 0;
    }
    const bool odd = (v.as_int() % 2) != 0;
    return name == "odd" ? odd : !odd;
  }
  if (other == nullptr &&
      (name == "eq" || name == "equalto" || name == "==" || name == "ne" || name == "!=" ||
       name == "lt" || name == "<" || name == "le" || name == "<=" || name == "gt" || name == ">" ||
       name == "ge" || name == ">=" || name == "in" || name == "sameas"))
    return fail("test '", name, "' needs an argument");
  if (name == "eq" || name == "equalto" || name == "==") return equals(v, *other);
  if (name == "ne" || name == "!=") return !equals(v, *other);
  if (name == "sameas") {
    if (v.type() != other->type()) return false;
    if (v.is_none() || v.is_undefined()) return true;
    if (v.is_bool()) return v.as_bool() == other->as_bool();
    if (v.is_dict()) return v.dict_data() == other->dict_data();
    if (v.is_function()) return v.callable() == other->callable();
    return equals(v, *other);
  }
  if (name == "lt" || name == "<") return less_than(v, *other);
  if (name == "gt" || name == ">") return less_than(*other, v);
  if (name == "le" || name == "<=") {
    TM_ASSIGN(bool gt, less_than(*other, v));
    return !gt;
  }
  if (name == "ge" || name == ">=") {
    TM_ASSIGN(bool lt, less_than(v, *other));
    return !lt;
  }
  if (name == "in") {
    if (other->is_string()) {
      if (!v.is_string()) return fail("'in <string>' requires string as left operand");
      return other->str().find(v.str()) != std::string::npos;
    }
    if (other->is_list()) {
      for (const Value& item : other->items())
        if (equals(item, v)) return true;
      return false;
    }
    if (other->is_dict() && !other->is_namespace()) return other->dict_data()->find(v) != nullptr;
    return fail("argument of type '", other->type_name(), "' is not iterable");
  }
  return fail("no test named '", name, "'");
}

// ---- methods ----

namespace {

bool is_str_method(const std::string& n) {
  static const char* const kNames[] = {
      "startswith", "endswith", "strip",   "lstrip",       "rstrip",       "split",   "rsplit",
      "upper",      "lower",    "title",   "capitalize",   "replace",      "format",  "join",
      "find",       "rfind",    "count",   "splitlines",   "isdigit",      "isalpha", "isalnum",
      "isspace",    "isupper",  "islower", "removeprefix", "removesuffix", "index",   "rindex",
      "zfill",      "center",   "ljust",   "rjust"};
  for (const char* k : kNames)
    if (n == k) return true;
  return false;
}

Expected<Value> str_method(Interpreter& in, const std::string& s, const std::string& n,
                           CallArgs& a) {
  if (n == "startswith" || n == "endswith") {
    const Value* p = arg(a, 0, "prefix");
    if (p == nullptr) return fail(n, "() takes at least 1 argument");
    std::vector<Value> options = p->is_tuple() ? p->items() : std::vector<Value>{*p};
    for (const Value& o : options) {
      if (!o.is_string())
        return fail(n, " first arg must be str or a tuple of str, not ", o.type_name());
      const std::string& x = o.str();
      if (x.size() > s.size()) continue;
      if (n == "startswith" ? s.compare(0, x.size(), x) == 0
                            : s.compare(s.size() - x.size(), x.size(), x) == 0)
        return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (n == "strip" || n == "lstrip" || n == "rstrip") {
    const Value* chars = arg(a, 0, "chars");
    const std::string* c = chars != nullptr && chars->is_string() ? &chars->str() : nullptr;
    return Value::string(std::string(py_strip(s, c, n != "rstrip", n != "lstrip")));
  }
  if (n == "split" || n == "rsplit") {
    const Value* sep = arg(a, 0, "sep");
    TM_ASSIGN(int64_t maxsplit, int_arg(a, 1, "maxsplit", -1));
    const std::string* sp = nullptr;
    if (sep != nullptr && !sep->is_none()) {
      if (!sep->is_string()) return fail("must be str or None, not ", sep->type_name());
      if (sep->str().empty()) return fail("empty separator");
      sp = &sep->str();
    }
    TM_TRY(in.charge(s.size() / 16));
    std::vector<Value> out;
    for (std::string& part : py_split(s, sp, maxsplit, n == "rsplit"))
      out.push_back(Value::string(std::move(part)));
    return Value::list(std::move(out));
  }
  if (n == "upper") return Value::string(py_upper(s));
  if (n == "lower") return Value::string(py_lower(s));
  if (n == "title") return Value::string(py_title(s));
  if (n == "capitalize") return Value::string(py_capitalize(s));
  if (n == "replace") {
    CallArgs copy = a;
    return call_filter(in, "replace", Value::string(s), copy);
  }
  if (n == "format") {
    TM_ASSIGN(std::string r, str_format(in, s, a));
    return Value::string(std::move(r));
  }
  if (n == "join") {
    if (a.args.empty()) return fail("join() takes exactly one argument");
    TM_ASSIGN(std::vector<Value> items, in.iterate(a.args[0]));
    for (const Value& item : items)
      if (!item.is_string())
        return fail("sequence item: expected str instance, ", item.type_name(), " found");
    TM_ASSIGN(std::string r, join_values(in, items, s));
    return Value::string(std::move(r));
  }
  if (n == "find" || n == "rfind" || n == "count" || n == "index" || n == "rindex") {
    TM_ASSIGN(std::string sub, str_arg(a, 0, "sub"));
    if (n == "count") {
      if (sub.empty()) return Value::integer(static_cast<int64_t>(count_code_points(s)) + 1);
      int64_t c = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++c;
      return Value::integer(c);
    }
    const size_t p = (n == "find" || n == "index") ? s.find(sub) : s.rfind(sub);
    if (p == std::string::npos) {
      if (n == "index" || n == "rindex") return fail("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(
        static_cast<int64_t>(count_code_points(std::string_view(s).substr(0, p))));
  }
  if (n == "splitlines") {
    std::vector<Value> out;
    for (std::string& l : splitlines(s)) out.push_back(Value::string(std::move(l)));
    return Value::list(std::move(out));
  }
  if (n == "isdigit" || n == "isalpha" || n == "isalnum" || n == "isspace") {
    if (s.empty()) return Value::boolean(false);
    for (size_t i = 0; i < s.size();) {
      size_t len;
      const uint32_t cp = decode_utf8_at(s, i, len);
      i += len;
      const bool digit = cp >= '0' && cp <= '9';
      const bool alpha =
          (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && !py_isspace(cp));
      bool ok = n == "isdigit"   ? digit
                : n == "isalpha" ? alpha
                : n == "isalnum" ? (digit || alpha)
                                 : py_isspace(cp);
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  if (n == "isupper" || n == "islower") {
    CallArgs none;
    TM_ASSIGN(bool r, call_test(in, n == "isupper" ? "upper" : "lower", Value::string(s), none));
    return Value::boolean(r);
  }
  if (n == "removeprefix" || n == "removesuffix") {
    TM_ASSIGN(std::string x, str_arg(a, 0, "affix"));
    if (n == "removeprefix" && s.compare(0, x.size(), x) == 0 && x.size() <= s.size())
      return Value::string(s.substr(x.size()));
    if (n == "removesuffix" && x.size() <= s.size() && !x.empty() &&
        s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value::string(s.substr(0, s.size() - x.size()));
    return Value::string(s);
  }
  if (n == "zfill" || n == "center" || n == "ljust" || n == "rjust") {
    TM_ASSIGN(int64_t width, int_arg(a, 0, "width", 0));
    if (width > 100000) return fail(n, ": width is too large");
    const int64_t len = static_cast<int64_t>(count_code_points(s));
    if (width <= len) return Value::string(s);
    const size_t pad = static_cast<size_t>(width - len);
    if (n == "zfill") {
      if (!s.empty() && (s[0] == '-' || s[0] == '+'))
        return Value::string(s.substr(0, 1) + std::string(pad, '0') + s.substr(1));
      return Value::string(std::string(pad, '0') + s);
    }
    if (n == "ljust") return Value::string(s + std::string(pad, ' '));
    if (n == "rjust") return Value::string(std::string(pad, ' ') + s);
    CallArgs copy = a;
    return call_filter(in, "center", Value::string(s), copy);
  }
  return fail("'str' object has no attribute '", n, "'");
}

}  // namespace

bool has_method(const Value& self, const std::string& n) {
  if (self.is_string()) return is_str_method(n);
  if (self.is_dict() && !self.is_namespace())
    return n == "items" || n == "keys" || n == "values" || n == "get" || n == "pop" ||
           n == "popitem" || n == "update" || n == "setdefault" || n == "clear" || n == "copy";
  if (self.is_list())
    return n == "index" || n == "count" || n == "append" || n == "pop" || n == "extend" ||
           n == "insert" || n == "remove" || n == "sort" || n == "reverse" || n == "clear";
  return false;
}

Value get_method(const Value& self, const std::string& n) {
  if (!has_method(self, n)) return Value::undefined();
  const bool unsafe =
      (self.is_dict() && n != "items" && n != "keys" && n != "values" && n != "get") ||
      (self.is_list() && n != "index" && n != "count");
  if (unsafe)
    return Value::undefined("access to attribute '" + n + "' of '" + self.type_name() +
                            "' object is unsafe (the sandbox forbids modifying values)");
  return Value::function(n, [self, n](Interpreter& in, CallArgs& a) -> Expected<Value> {
    if (self.is_string()) return str_method(in, self.str(), n, a);
    if (self.is_dict()) {
      const auto& entries = self.dict_data()->entries;
      if (n == "get") {
        const Value* key = arg(a, 0, "key");
        if (key == nullptr) return fail("get expected at least 1 argument");
        const Value* dflt = arg(a, 1, "default");
        if (const Value* v = self.dict_data()->find(*key)) return *v;
        return dflt != nullptr ? *dflt : Value::none();
      }
      std::vector<Value> out;
      out.reserve(entries.size());
      for (const auto& [k, v] : entries) {
        if (n == "items")
          out.push_back(Value::list({k, v}, true));
        else if (n == "keys")
          out.push_back(k);
        else
          out.push_back(v);
      }
      TM_TRY(in.charge(entries.size()));
      return Value::list(std::move(out));
    }
    // list.index / list.count
    const Value* x = arg(a, 0, "value");
    if (x == nullptr) return fail(n, "() takes exactly one argument");
    int64_t count = 0;
    const auto& items = self.items();
    for (size_t i = 0; i < items.size(); ++i) {
      if (!equals(items[i], *x)) continue;
      if (n == "index") return Value::integer(static_cast<int64_t>(i));
      ++count;
    }
    if (n == "index") return fail(x->repr(), " is not in list");
    return Value::integer(count);
  });
}

void add_global_functions(std::unordered_map<std::string, Value>& vars) {
  vars["range"] = Value::function("range", [](Interpreter& in, CallArgs& a) -> Expected<Value> {
    int64_t b[3] = {0, 0, 1};
    if (a.args.empty() || a.args.size() > 3) return fail("range expected 1 to 3 arguments");
    for (const Value& v : a.args)
      if (!v.is_int() && !v.is_bool())
        return fail("'", v.type_name(), "' object cannot be interpreted as an integer");
    if (a.args.size() == 1) {
      b[1] = a.args[0].as_int();
    } else {
      b[0] = a.args[0].as_int();
      b[1] = a.args[1].as_int();
      if (a.args.size() == 3) b[2] = a.args[2].as_int();
    }
    if (b[2] == 0) return fail("range() arg 3 must not be zero");
    const long double n_ld =
        b[2] > 0 ? (static_cast<long double>(b[1]) - b[0]) / b[2]
                 : (static_cast<long double>(b[0]) - b[1]) / -static_cast<long double>(b[2]);
    if (n_ld > kMaxRange)
      return fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (", kMaxRange,
                  ").");
    std::vector<Value> items;
    for (int64_t i = b[0]; b[2] > 0 ? i < b[1] : i > b[1]; i += b[2]) {
      items.push_back(Value::integer(i));
      if (b[2] > 0 ? i > INT64_MAX - b[2] : i < INT64_MIN - b[2]) break;
    }
    TM_TRY(in.charge(items.size()));
    return Value::list(std::move(items));
  });
  vars["namespace"] =
      Value::function("namespace", [](Interpreter&, CallArgs& a) -> Expected<Value> {
        auto d = std::make_shared<DictData>();
        d->is_namespace = true;
        for (const Value& v : a.args) {
          if (!v.is_dict() || v.is_namespace())
            return fail("namespace() takes mappings or keywords");
          for (const auto& [k, val] : v.dict_data()->entries) d->set(k, val);
        }
        for (const auto& [k, v] : a.kwargs) {
          if (v.has_ref()) return fail("namespace() cannot store a namespace, macro or function");
          d->set(Value::string(k), v);
        }
        return Value::dict(std::move(d));
      });
  vars["dict"] = Value::function("dict", [](Interpreter&, CallArgs& a) -> Expected<Value> {
    auto d = std::make_shared<DictData>();
    for (const Value& v : a.args) {
      if (!v.is_dict() || v.is_namespace()) return fail("dict() takes a mapping or keywords");
      for (const auto& [k, val] : v.dict_data()->entries) d->set(k, val);
    }
    for (const auto& [k, v] : a.kwargs) d->set(Value::string(k), v);
    return Value::dict(std::move(d));
  });
  vars["raise_exception"] =
      Value::function("raise_exception", [](Interpreter&, CallArgs& a) -> Expected<Value> {
        return fail("raise_exception: ", a.args.empty() ? std::string() : a.args[0].to_str());
      });
}

}  // namespace tmill::tok::jinja
