#include "tokenizer/chat_template/interpreter.h"

#include <cmath>

#include "tokenizer/chat_template/lexer.h"
#include "tokenizer/chat_template/parser.h"
#include "tokenizer/chat_template/pystr.h"

namespace tmill::tok::jinja {

namespace {
constexpr int kMaxValueDepth = 256;
const char kErrorPrefix[] = "template error at ";
}  // namespace

struct Interpreter::DepthGuard {
  explicit DepthGuard(Interpreter& in) : in_(in) { ++in_.eval_depth_; }
  ~DepthGuard() { --in_.eval_depth_; }
  Status check() const {
    if (in_.eval_depth_ > in_.limits_.max_eval_depth)
      return fail("evaluation nested too deeply (limit ", in_.limits_.max_eval_depth, ")");
    return {};
  }
  Interpreter& in_;
};

Interpreter::Interpreter(const ParsedTemplate& tmpl, const Limits& limits)
    : tmpl_(tmpl), limits_(limits) {}

// Macros hold their defining frame weakly (the frame holds the macro), so there are no reference
// cycles; a macro cannot outlive its frame because namespaces may not store callables.
Interpreter::~Interpreter() = default;

Status Interpreter::charge(uint64_t units) {
  work_ += units;
  if (work_ > limits_.max_work)
    return fail("template exceeded its work budget (", limits_.max_work, " steps)");
  return {};
}

Status Interpreter::check_size(size_t size) const {
  if (size > limits_.max_output_bytes)
    return fail("template built a value larger than the limit (", limits_.max_output_bytes,
                " bytes)");
  return {};
}

Status Interpreter::count_iteration() {
  if (++iterations_ > limits_.max_loop_iterations)
    return fail("template exceeded the loop iteration limit (", limits_.max_loop_iterations, ")");
  return charge(1);
}

Error Interpreter::located(size_t pos, const Error& e) const {
  if (e.message.rfind(kErrorPrefix, 0) == 0) return e;
  return fail(kErrorPrefix, describe_position(tmpl_.source, pos), ": ", e.message);
}

Expected<std::string> Interpreter::render(const Variables& vars) {
  auto globals = std::make_shared<Frame>();
  add_global_functions(globals->vars);
  for (const auto& [k, v] : vars) globals->vars[k] = v;
  frame_ = std::make_shared<Frame>();
  frame_->parent = globals;
  std::string out;
  TM_TRY(exec_body(tmpl_.body, out));
  return out;
}

Value Interpreter::lookup(const std::string& name) const {
  for (const Frame* f = frame_.get(); f != nullptr; f = f->parent.get()) {
    auto it = f->vars.find(name);
    if (it != f->vars.end()) return it->second;
  }
  return Value::undefined("'" + name + "' is undefined");
}

// ---- statements ----

Status Interpreter::exec_body(const Body& body, std::string& out) {
  for (const NodePtr& n : body) {
    TM_TRY(exec(*n, out));
    if (flow_ != Flow::Normal) return {};
  }
  return {};
}

Status Interpreter::exec(const Node& n, std::string& out) {
  DepthGuard guard(*this);
  if (Status s = guard.check(); !s.ok()) return located(n.pos, s.error());
  TM_TRY(charge(1));
  switch (n.kind) {
    case Node::Kind::Text:
      out += n.text;
      break;
    case Node::Kind::Output: {
      TM_ASSIGN(Value v, eval(*n.expr));
      if (v.is_string())
        out += v.str();
      else
        out += v.to_str();
      break;
    }
    case Node::Kind::If:
      for (size_t i = 0; i < n.conds.size(); ++i) {
        TM_ASSIGN(Value c, eval(*n.conds[i]));
        if (c.truthy()) return exec_body(n.bodies[i], out);
      }
      if (n.bodies.size() > n.conds.size()) return exec_body(n.bodies.back(), out);
      return {};
    case Node::Kind::For:
      TM_TRY(exec_for(n, out));
      break;
    case Node::Kind::Set:
    case Node::Kind::SetBlock:
    case Node::Kind::FilterBlock:
      TM_TRY(exec_set(n, out));
      break;
    case Node::Kind::Macro:
      frame_->vars[n.text] = make_macro(n);
      break;
    case Node::Kind::CallBlock:
      TM_TRY(exec_call_block(n, out));
      break;
    case Node::Kind::Break:
      flow_ = Flow::Break;
      return {};
    case Node::Kind::Continue:
      flow_ = Flow::Continue;
      return {};
    case Node::Kind::Scope:
      return exec_body(n.body, out);
  }
  if (out.size() > limits_.max_output_bytes)
    return located(
        n.pos, fail("template output exceeds the limit (", limits_.max_output_bytes, " bytes)"));
  return {};
}

Expected<std::vector<Value>> Interpreter::iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined:
      return std::vector<Value>{};
    case Value::Type::List:
      return v.items();
    case Value::Type::Dict: {
      if (v.is_namespace()) break;
      std::vector<Value> keys;
      keys.reserve(v.dict_data()->entries.size());
      for (const auto& [k, val] : v.dict_data()->entries) keys.push_back(k);
      return keys;
    }
    case Value::Type::String: {
      std::vector<Value> chars;
      for (std::string_view cp : split_code_points(v.str()))
        chars.push_back(Value::string(std::string(cp)));
      return chars;
    }
    default:
      break;
  }
  return fail("'", v.type_name(), "' object is not iterable");
}

Status Interpreter::assign(const std::vector<std::string>& targets, const Value& v, size_t pos) {
  if (targets.size() == 1) {
    frame_->vars[targets[0]] = v;
    return {};
  }
  TM_ASSIGN(std::vector<Value> parts, iterate(v));
  if (parts.size() != targets.size())
    return located(pos,
                   fail("cannot unpack ", parts.size(), " values into ", targets.size(), " names"));
  for (size_t i = 0; i < targets.size(); ++i) frame_->vars[targets[i]] = parts[i];
  return {};
}

Status Interpreter::exec_for(const Node& n, std::string& out) {
  TM_ASSIGN(Value seq, eval(*n.expr));
  auto items_or = iterate(seq);
  if (!items_or.ok()) return located(n.expr->pos, items_or.error());
  std::vector<Value> items = std::move(items_or).value();
  const std::shared_ptr<Frame> outer = frame_;
  struct Restore {
    Interpreter& in;
    std::shared_ptr<Frame> f;
    ~Restore() { in.frame_ = f; }
  } restore{*this, outer};
  if (n.cond) {  // `for x in xs if cond`: filter first (loop.length counts what is kept)
    std::vector<Value> kept;
    for (Value& item : items) {
      if (Status s = count_iteration(); !s.ok()) return located(n.pos, s.error());
      frame_ = std::make_shared<Frame>();
      frame_->parent = outer;
      TM_TRY(assign(n.targets, item, n.pos));
      TM_ASSIGN(Value c, eval(*n.cond));
      if (c.truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    frame_ = std::make_shared<Frame>();
    frame_->parent = outer;
    return exec_body(n.else_body, out);
  }
  const int64_t length = static_cast<int64_t>(items.size());
  auto index = std::make_shared<int64_t>(0);
  Value cycle =
      Value::function("loop.cycle", [index](Interpreter&, CallArgs& a) -> Expected<Value> {
        if (a.args.empty()) return fail("no items for cycling given");
        return a.args[static_cast<size_t>(*index % static_cast<int64_t>(a.args.size()))];
      });
  for (int64_t i = 0; i < length; ++i) {
    if (Status s = count_iteration(); !s.ok()) return located(n.pos, s.error());
    *index = i;
    frame_ = std::make_shared<Frame>();
    frame_->parent = outer;
    const Value& item = items[static_cast<size_t>(i)];
    TM_TRY(assign(n.targets, item, n.pos));
    auto loop = std::make_shared<DictData>();
    loop->entries.reserve(13);
    loop->entries.emplace_back(Value::string("index"), Value::integer(i + 1));
    loop->entries.emplace_back(Value::string("index0"), Value::integer(i));
    loop->entries.emplace_back(Value::string("revindex"), Value::integer(length - i));
    loop->entries.emplace_back(Value::string("revindex0"), Value::integer(length - i - 1));
    loop->entries.emplace_back(Value::string("first"), Value::boolean(i == 0));
    loop->entries.emplace_back(Value::string("last"), Value::boolean(i + 1 == length));
    loop->entries.emplace_back(Value::string("length"), Value::integer(length));
    loop->entries.emplace_back(Value::string("depth"), Value::integer(1));
    loop->entries.emplace_back(Value::string("depth0"), Value::integer(0));
    loop->entries.emplace_back(
        Value::string("previtem"),
        i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
    loop->entries.emplace_back(Value::string("nextitem"),
                               i + 1 < length ? items[static_cast<size_t>(i + 1)]
                                              : Value::undefined("there is no next item"));
    loop->entries.emplace_back(Value::string("cycle"), cycle);
    frame_->vars["loop"] = Value::dict(std::move(loop));
    TM_TRY(exec_body(n.body, out));
    if (out.size() > limits_.max_output_bytes)
      return located(
          n.pos, fail("template output exceeds the limit (", limits_.max_output_bytes, " bytes)"));
    if (flow_ == Flow::Break) {
      flow_ = Flow::Normal;
      break;
    }
    flow_ = Flow::Normal;
  }
  return {};
}

Status Interpreter::exec_set(const Node& n, std::string& out) {
  (void)out;
  Value v;
  if (n.kind == Node::Kind::Set) {
    TM_ASSIGN(v, eval(*n.expr));
  } else {
    std::string body;
    TM_TRY(exec_body(n.body, body));
    v = Value::string(std::move(body));
    if (n.expr) {
      const std::shared_ptr<Frame> saved = frame_;
      frame_ = std::make_shared<Frame>();
      frame_->parent = saved;
      frame_->vars["__body__"] = v;
      auto r = eval(*n.expr);
      frame_ = saved;
      if (!r.ok()) return r.error();
      v = std::move(r).value();
    }
    if (n.kind == Node::Kind::FilterBlock) {
      out += v.to_str();
      return {};
    }
  }
  if (!n.text.empty()) {  // set ns.attr = value
    Value ns = lookup(n.targets[0]);
    if (!ns.is_namespace())
      return located(n.pos, fail("cannot assign attribute on non-namespace object"));
    if (v.has_ref())
      return located(n.pos, fail("storing a namespace, macro or function in a namespace is not "
                                 "supported"));
    if (v.depth() + 1 > kMaxValueDepth) return located(n.pos, fail("value nested too deeply"));
    ns.dict_data()->set(Value::string(n.text), v);
    ns.dict_data()->depth = std::max(ns.dict_data()->depth, v.depth() + 1);
    return {};
  }
  return assign(n.targets, v, n.pos);
}

Value Interpreter::make_macro(const Node& n) {
  const Node* node = &n;
  std::shared_ptr<Frame> defining = frame_;
  std::weak_ptr<Frame> weak = defining;
  return Value::function(n.text, [node, weak](Interpreter& in, CallArgs& a) -> Expected<Value> {
    auto f = weak.lock();
    if (!f) return fail("macro '", node->text, "' is no longer available");
    return in.call_macro(*node, f, a);
  });
}

Expected<Value> Interpreter::call_macro(const Node& n, const std::shared_ptr<Frame>& defining,
                                        CallArgs& a) {
  if (call_depth_ >= limits_.max_call_depth)
    return fail("macro calls nested too deeply (limit ", limits_.max_call_depth, ")");
  const std::string& name = n.kind == Node::Kind::Macro ? n.text : std::string("caller");
  if (a.args.size() > n.params.size())
    return fail("macro '", name, "' takes not more than ", n.params.size(), " argument(s)");
  auto frame = std::make_shared<Frame>();
  frame->parent = defining;
  std::vector<bool> given(n.params.size(), false);
  for (size_t i = 0; i < a.args.size(); ++i) {
    frame->vars[n.params[i].name] = a.args[i];
    given[i] = true;
  }
  for (auto& [k, v] : a.kwargs) {
    if (k == "caller") {
      frame->vars["caller"] = v;
      continue;
    }
    size_t i = 0;
    while (i < n.params.size() && n.params[i].name != k) ++i;
    if (i == n.params.size()) return fail("macro '", name, "' takes no keyword argument '", k, "'");
    if (given[i]) return fail("macro '", name, "' got multiple values for argument '", k, "'");
    frame->vars[k] = v;
    given[i] = true;
  }
  const std::shared_ptr<Frame> saved = frame_;
  const Flow saved_flow = flow_;
  frame_ = frame;
  ++call_depth_;
  struct Restore {
    Interpreter& in;
    std::shared_ptr<Frame> f;
    Flow flow;
    ~Restore() {
      in.frame_ = f;
      in.flow_ = flow;
      --in.call_depth_;
    }
  } restore{*this, saved, saved_flow};
  for (size_t i = 0; i < n.params.size(); ++i) {
    if (given[i]) continue;
    if (n.params[i].default_value) {
      TM_ASSIGN(Value d, eval(*n.params[i].default_value));
      frame->vars[n.params[i].name] = std::move(d);
    } else {
      frame->vars[n.params[i].name] =
          Value::undefined("parameter '" + n.params[i].name + "' was not provided");
    }
  }
  flow_ = Flow::Normal;
  std::string out;
  TM_TRY(exec_body(n.body, out));
  return Value::string(std::move(out));
}

Status Interpreter::exec_call_block(const Node& n, std::string& out) {
  const Expr& call = *n.expr;
  TM_ASSIGN(Value callee, eval(*call.args[0]));
  CallArgs args;
  TM_TRY(eval_args(call, 1, args));
  const Node* node = &n;
  std::shared_ptr<Frame> defining = frame_;
  std::weak_ptr<Frame> weak = defining;
  args.kwargs.emplace_back(
      "caller",
      Value::function("caller", [node, weak](Interpreter& in, CallArgs& a) -> Expected<Value> {
        auto f = weak.lock();
        if (!f) return fail("caller is no longer available");
        return in.call_macro(*node, f, a);
      }));
  auto r = this->call(callee, args);
  if (!r.ok()) return located(call.pos, r.error());
  out += r->to_str();
  return {};
}

// ---- expressions ----

Expected<Value> Interpreter::eval(const Expr& e) {
  DepthGuard guard(*this);
  if (Status s = guard.check(); !s.ok()) return located(e.pos, s.error());
  if (Status s = charge(1); !s.ok()) return located(e.pos, s.error());
  auto r = eval_inner(e);
  if (!r.ok()) return located(e.pos, r.error());
  return r;
}

Status Interpreter::eval_args(const Expr& e, size_t first, CallArgs& out) {
  for (size_t i = first; i < e.args.size(); ++i) {
    TM_ASSIGN(Value v, eval(*e.args[i]));
    out.args.push_back(std::move(v));
  }
  for (const auto& [k, ex] : e.kwargs) {
    TM_ASSIGN(Value v, eval(*ex));
    out.kwargs.emplace_back(k, std::move(v));
  }
  return {};
}

Expected<Value> Interpreter::call(const Value& fn, CallArgs& args) {
  if (fn.is_function()) return fn.callable()->fn(*this, args);
  if (fn.is_undefined())
    return fail(fn.str().empty() ? std::string("undefined value is not callable") : fn.str());
  return fail("'", fn.type_name(), "' object is not callable");
}

Expected<Value> Interpreter::get_attr(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::Undefined:
      return fail(obj.str().empty() ? "undefined value has no attributes" : obj.str());
    case Value::Type::Dict:
      if (!obj.is_namespace() && has_method(obj, name)) return get_method(obj, name);
      if (const Value* v = obj.dict_data()->find(std::string_view(name))) return *v;
      return Value::undefined("'" + std::string(obj.is_namespace() ? "Namespace" : "dict") +
                              " object' has no attribute '" + name + "'");
    default: {
      Value m = get_method(obj, name);
      if (!m.is_undefined()) return m;
      if (!m.str().empty()) return m;
      return Value::undefined("'" + std::string(obj.type_name()) + " object' has no attribute '" +
                              name + "'");
    }
  }
}

Expected<Value> Interpreter::get_item(const Value& obj, const Value& key) {
  switch (obj.type()) {
    case Value::Type::Undefined:
      return fail(obj.str().empty() ? "undefined value is not subscriptable" : obj.str());
    case Value::Type::Dict:
      if (key.is_list() && !key.is_tuple()) return fail("unhashable type: 'list'");
      if (key.is_dict()) return fail("unhashable type: 'dict'");
      if (const Value* v = obj.dict_data()->find(key)) return *v;
      break;
    case Value::Type::List:
      if (obj.is_generator()) return fail("'generator' object is not subscriptable");
      if (key.is_int() || key.is_bool()) {
        const auto& items = obj.items();
        int64_t i = key.as_int();
        const auto n = static_cast<int64_t>(items.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
        return Value::undefined(std::string(obj.type_name()) + " index out of range");
      }
      break;
    case Value::Type::String:
      if (key.is_int() || key.is_bool()) {
        TM_TRY(charge(obj.str().size() / 64));
        auto cps = split_code_points(obj.str());
        int64_t i = key.as_int();
        const auto n = static_cast<int64_t>(cps.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return Value::string(std::string(cps[static_cast<size_t>(i)]));
        return Value::undefined("string index out of range");
      }
      break;
    default:
      break;
  }
  if (key.is_string()) {
    if (!obj.is_dict() && !obj.is_list() && !obj.is_string())
      return Value::undefined("'" + std::string(obj.type_name()) + " object' has no attribute '" +
                              key.str() + "'");
    if (obj.is_namespace())
      return Value::undefined("'Namespace object' has no attribute '" + key.str() + "'");
    Value m = get_method(obj, key.str());
    if (!m.is_undefined() || !m.str().empty()) return m;
  }
  return Value::undefined("'" + std::string(obj.type_name()) + " object' has no item " +
                          key.repr());
}

Expected<Value> Interpreter::apply_filter(const std::string& name, const Value& subject,
                                          CallArgs& args) {
  return call_filter(*this, name, subject, args);
}

Expected<bool> Interpreter::apply_test(const std::string& name, const Value& subject,
                                       CallArgs& args) {
  return call_test(*this, name, subject, args);
}

Expected<Value> Interpreter::eval_inner(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::Literal:
      return e.value;
    case Expr::Kind::Name:
      return lookup(e.name);
    case Expr::Kind::List:
    case Expr::Kind::Tuple: {
      std::vector<Value> items;
      items.reserve(e.args.size());
      for (const ExprPtr& a : e.args) {
        TM_ASSIGN(Value v, eval(*a));
        if (v.depth() + 1 > kMaxValueDepth) return fail("value nested too deeply");
        items.push_back(std::move(v));
      }
      return Value::list(std::move(items), e.kind == Expr::Kind::Tuple);
    }
    case Expr::Kind::Dict: {
      auto d = std::make_shared<DictData>();
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        TM_ASSIGN(Value k, eval(*e.args[i]));
        TM_ASSIGN(Value v, eval(*e.args[i + 1]));
        if ((k.is_list() && !k.is_tuple()) || k.is_dict() || k.is_undefined())
          return fail("unhashable or undefined dict key of type '", k.type_name(), "'");
        if (v.depth() + 1 > kMaxValueDepth) return fail("value nested too deeply");
        d->set(std::move(k), std::move(v));
      }
      return Value::dict(std::move(d));
    }
    case Expr::Kind::Attr: {
      TM_ASSIGN(Value obj, eval(*e.args[0]));
      return get_attr(obj, e.name);
    }
    case Expr::Kind::Item: {
      TM_ASSIGN(Value obj, eval(*e.args[0]));
      TM_ASSIGN(Value key, eval(*e.args[1]));
      return get_item(obj, key);
    }
    case Expr::Kind::Slice:
      return eval_slice(e);
    case Expr::Kind::Call: {
      TM_ASSIGN(Value fn, eval(*e.args[0]));
      CallArgs args;
      TM_TRY(eval_args(e, 1, args));
      return call(fn, args);
    }
    case Expr::Kind::Filter: {
      TM_ASSIGN(Value subject, eval(*e.args[0]));
      CallArgs args;
      TM_TRY(eval_args(e, 1, args));
      return apply_filter(e.name, subject, args);
    }
    case Expr::Kind::Test: {
      TM_ASSIGN(Value subject, eval(*e.args[0]));
      CallArgs args;
      TM_TRY(eval_args(e, 1, args));
      TM_ASSIGN(bool r, apply_test(e.name, subject, args));
      return Value::boolean(e.negated ? !r : r);
    }
    case Expr::Kind::Unary: {
      TM_ASSIGN(Value v, eval(*e.args[0]));
      if (e.name == "not") return Value::boolean(!v.truthy());
      if (!v.is_number())
        return fail(v.is_undefined() && !v.str().empty()
                        ? v.str()
                        : std::string("bad operand type for unary ") + e.name + ": '" +
                              v.type_name() + "'");
      if (e.name == "+") return v.is_float() ? v : Value::integer(v.as_int());
      if (v.is_float()) return Value::number(-v.as_float());
      if (v.as_int() == INT64_MIN) return fail("integer overflow");
      return Value::integer(-v.as_int());
    }
    case Expr::Kind::Binary:
      return eval_binary(e);
    case Expr::Kind::Compare:
      return eval_compare(e);
    case Expr::Kind::Cond: {
      TM_ASSIGN(Value c, eval(*e.args[0]));
      if (c.truthy()) return eval(*e.args[1]);
      if (e.args[2]) return eval(*e.args[2]);
      return Value::undefined("the inline if expression evaluated to false and has no else");
    }
  }
  return fail("unknown expression");
}

namespace {

Error undefined_or_type_error(const Value& a, const Value& b, const std::string& op) {
  if (a.is_undefined() && !a.str().empty()) return Error{a.str()};
  if (b.is_undefined() && !b.str().empty()) return Error{b.str()};
  return fail("unsupported operand type(s) for ", op, ": '", a.type_name(), "' and '",
              b.type_name(), "'");
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// printf-style `str % args` for %s, %r, %d, %i, %f and %%.
Expected<std::string> percent_format(const std::string& fmt, const Value& args) {
  std::vector<Value> list = args.is_tuple() ? args.items() : std::vector<Value>{args};
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) return fail("incomplete format");
    const char c = fmt[i];
    if (c == '%') {
      out += '%';
      continue;
    }
    if (next >= list.size()) return fail("not enough arguments for format string");
    const Value& v = list[next++];
    if (c == 's') {
      out += v.to_str();
    } else if (c == 'r') {
      out += v.repr();
    } else if ((c == 'd' || c == 'i') && v.is_number()) {
      out += std::to_string(v.is_float() ? static_cast<int64_t>(v.as_float()) : v.as_int());
    } else if (c == 'f' && v.is_number()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%f", v.as_float());
      out += buf;
    } else {
      return fail("unsupported format character '", c, "'");
    }
  }
  if (next < list.size()) return fail("not all arguments converted during string formatting");
  return out;
}

}  // namespace

Expected<Value> Interpreter::eval_binary(const Expr& e) {
  const std::string& op = e.name;
  TM_ASSIGN(Value a, eval(*e.args[0]));
  if (op == "and") return a.truthy() ? eval(*e.args[1]) : a;
  if (op == "or") return a.truthy() ? a : eval(*e.args[1]);
  TM_ASSIGN(Value b, eval(*e.args[1]));
  if (op == "~") {
    std::string s = a.to_str();
    s += b.to_str();
    TM_TRY(check_size(s.size()));
    TM_TRY(charge(s.size() / 64));
    return Value::string(std::move(s));
  }
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool nums = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) {
      int64_t r;
      if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) return fail("integer overflow");
      return Value::integer(r);
    }
    if (nums) return Value::number(a.as_float() + b.as_float());
    if (a.is_string() && b.is_string()) {
      TM_TRY(check_size(a.str().size() + b.str().size()));
      TM_TRY(charge((a.str().size() + b.str().size()) / 64));
      if (a.is_markup() || b.is_markup()) {  // Markup + str escapes the str
        return Value::markup((a.is_markup() ? a.str() : html_escape(a.str())) +
                             (b.is_markup() ? b.str() : html_escape(b.str())));
      }
      return Value::string(a.str() + b.str());
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && !a.is_generator() &&
        !b.is_generator()) {
      TM_TRY(check_size(a.items().size() + b.items().size()));
      TM_TRY(charge(a.items().size() + b.items().size()));
      std::vector<Value> items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(items), a.is_tuple());
    }
    return undefined_or_type_error(a, b, "+");
  }
  if (op == "-") {
    if (ints) {
      int64_t r;
      if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) return fail("integer overflow");
      return Value::integer(r);
    }
    if (nums) return Value::number(a.as_float() - b.as_float());
    return undefined_or_type_error(a, b, "-");
  }
  if (op == "*") {
    if (ints) {
      int64_t r;
      if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) return fail("integer overflow");
      return Value::integer(r);
    }
    if (nums) return Value::number(a.as_float() * b.as_float());
    const Value* seq = a.is_string() || a.is_list() ? &a : &b;
    const Value* count = seq == &a ? &b : &a;
    if ((seq->is_string() || (seq->is_list() && !seq->is_generator())) &&
        (count->is_int() || count->is_bool())) {
      const int64_t n = std::max<int64_t>(0, count->as_int());
      const size_t unit = seq->is_string() ? seq->str().size() : seq->items().size();
      if (unit != 0 && static_cast<uint64_t>(n) > limits_.max_output_bytes / unit)
        return fail("template built a value larger than the limit (", limits_.max_output_bytes,
                    " bytes)");
      const size_t total = unit * static_cast<size_t>(n);
      TM_TRY(charge(total / 16));
      if (seq->is_string()) {
        std::string s;
        s.reserve(total);
        for (int64_t i = 0; i < n; ++i) s += seq->str();
        return Value::string(std::move(s));
      }
      std::vector<Value> items;
      items.reserve(total);
      for (int64_t i = 0; i < n; ++i)
        items.insert(items.end(), seq->items().begin(), seq->items().end());
      return Value::list(std::move(items), seq->is_tuple());
    }
    return undefined_or_type_error(a, b, "*");
  }
  if (op == "/") {
    if (!nums) return undefined_or_type_error(a, b, "/");
    if (b.as_float() == 0.0) return fail("division by zero");
    return Value::number(a.as_float() / b.as_float());
  }
  if (op == "//" || op == "%") {
    if (op == "%" && a.is_string()) {
      TM_ASSIGN(std::string s, percent_format(a.str(), b));
      TM_TRY(check_size(s.size()));
      return Value::string(std::move(s));
    }
    if (!nums) return undefined_or_type_error(a, b, op);
    if (ints) {
      if (b.as_int() == 0) return fail("integer division or modulo by zero");
      if (a.as_int() == INT64_MIN && b.as_int() == -1) {
        if (op == "%") return Value::integer(0);
        return fail("integer overflow");
      }
      const int64_t q = floor_div(a.as_int(), b.as_int());
      return Value::integer(op == "//" ? q : a.as_int() - q * b.as_int());
    }
    const double x = a.as_float(), y = b.as_float();
    if (y == 0.0) return fail("float division by zero");
    if (op == "//") return Value::number(std::floor(x / y));
    double m = std::fmod(x, y);
    if (m != 0.0 && ((m < 0) != (y < 0))) m += y;
    return Value::number(m);
  }
  if (op == "**") {
    if (!nums) return undefined_or_type_error(a, b, "**");
    if (ints && b.as_int() >= 0) {
      int64_t base = a.as_int(), exp = b.as_int(), r = 1;
      while (exp > 0) {
        if (exp & 1) {
          if (__builtin_mul_overflow(r, base, &r)) return fail("integer overflow");
        }
        exp >>= 1;
        if (exp > 0 && __builtin_mul_overflow(base, base, &base)) return fail("integer overflow");
      }
      return Value::integer(r);
    }
    if (a.as_float() == 0.0 && b.as_float() < 0)
      return fail("0.0 cannot be raised to a negative power");
    return Value::number(std::pow(a.as_float(), b.as_float()));
  }
  return fail("unknown operator '", op, "'");
}

Expected<Value> Interpreter::eval_compare(const Expr& e) {
  TM_ASSIGN(Value left, eval(*e.args[0]));
  for (size_t i = 0; i < e.ops.size(); ++i) {
    TM_ASSIGN(Value right, eval(*e.args[i + 1]));
    const std::string& op = e.ops[i];
    bool r = false;
    if (op == "==") {
      r = equals(left, right);
    } else if (op == "!=") {
      r = !equals(left, right);
    } else if (op == "in" || op == "not in") {
      if (right.is_string()) {
        if (!left.is_string())
          return fail("'in <string>' requires string as left operand, not ", left.type_name());
        r = right.str().find(left.str()) != std::string::npos;
      } else if (right.is_list()) {
        for (const Value& item : right.items())
          if (equals(item, left)) {
            r = true;
            break;
          }
      } else if (right.is_dict() && !right.is_namespace()) {
        r = right.dict_data()->find(left) != nullptr;
      } else if (!right.is_undefined()) {
        return fail("argument of type '", right.type_name(), "' is not iterable");
      }
      if (op == "not in") r = !r;
    } else {
      if (left.is_undefined() || right.is_undefined())
        return undefined_or_type_error(left, right, op);
      if (op == "<") {
        TM_ASSIGN(r, less_than(left, right));
      } else if (op == ">") {
        TM_ASSIGN(r, less_than(right, left));
      } else if (op == "<=") {
        TM_ASSIGN(bool gt, less_than(right, left));
        r = !gt;
      } else {
        TM_ASSIGN(bool lt, less_than(left, right));
        r = !lt;
      }
    }
    if (!r) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Expected<Value> Interpreter::eval_slice(const Expr& e) {
  TM_ASSIGN(Value obj, eval(*e.args[0]));
  int64_t bounds[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  for (int k = 0; k < 3; ++k) {
    if (!e.args[static_cast<size_t>(k) + 1]) continue;
    TM_ASSIGN(Value v, eval(*e.args[static_cast<size_t>(k) + 1]));
    if (v.is_none() || v.is_undefined()) continue;
    if (!v.is_int() && !v.is_bool())
      return fail("slice indices must be integers or None, not ", v.type_name());
    bounds[k] = v.as_int();
    given[k] = true;
  }
  const int64_t step = bounds[2];
  if (step == 0) return fail("slice step cannot be zero");
  std::vector<std::string_view> cps;
  if (obj.is_string()) {
    TM_TRY(charge(obj.str().size() / 64));
    cps = split_code_points(obj.str());
  } else if (!obj.is_list() || obj.is_generator()) {
    if (obj.is_undefined()) return fail(obj.str().empty() ? "undefined value" : obj.str());
    return fail("'", obj.type_name(), "' object is not subscriptable");
  }
  const int64_t n = static_cast<int64_t>(obj.is_string() ? cps.size() : obj.items().size());
  auto clamp = [&](int64_t v, bool is_given, int64_t dflt) {
    if (!is_given) return dflt;
    if (v < 0) v += n;
    if (step > 0) return std::clamp<int64_t>(v, 0, n);
    return std::clamp<int64_t>(v, -1, n - 1);
  };
  const int64_t start = clamp(bounds[0], given[0], step > 0 ? 0 : n - 1);
  const int64_t stop = clamp(bounds[1], given[1], step > 0 ? n : -1);
  std::vector<int64_t> idx;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    idx.push_back(i);
    if (step > 0 ? i > INT64_MAX - step : i < INT64_MIN - step) break;
  }
  TM_TRY(charge(idx.size()));
  if (obj.is_string()) {
    std::string s;
    for (int64_t i : idx) s += cps[static_cast<size_t>(i)];
    return Value::string(std::move(s));
  }
  std::vector<Value> items;
  items.reserve(idx.size());
  for (int64_t i : idx) items.push_back(obj.items()[static_cast<size_t>(i)]);
  return Value::list(std::move(items), obj.is_tuple());
}

// ---- Template ----

Expected<Template> Template::parse(std::string_view text) {
  TM_ASSIGN(ParsedTemplate parsed, parse_template(text));
  return Template(std::make_shared<const ParsedTemplate>(std::move(parsed)));
}

Expected<std::string> Template::render(const Variables& vars, const Limits& limits) const {
  Interpreter in(*parsed_, limits);
  return in.render(vars);
}

}  // namespace tmill::tok::jinja
