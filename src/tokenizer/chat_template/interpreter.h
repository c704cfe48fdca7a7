// The tree-walking evaluator behind Template::render: scopes, statements, expressions,
// attribute/item access with Jinja2's rules, and the sandbox's counters. Filters, tests,
// methods and global functions live in builtins.cpp and reach back through this interface.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/chat_template/ast.h"
#include "tokenizer/chat_template/template.h"

namespace tmill::tok::jinja {

struct ParsedTemplate;

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};

class Interpreter {
 public:
  Interpreter(const ParsedTemplate& tmpl, const Limits& limits);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  Expected<std::string> render(const Variables& vars);

  const Limits& limits() const { return limits_; }
  // Counts work; fails once the budget is spent.
  Status charge(uint64_t units);
  // Fails if a string or list of `size` bytes/items would exceed the size cap.
  Status check_size(size_t size) const;
  // One more loop iteration (for-loops, filter loops); fails past the cap.
  Status count_iteration();

  Expected<Value> call(const Value& fn, CallArgs& args);
  Expected<Value> get_attr(const Value& obj, const std::string& name);  // obj.name
  Expected<Value> get_item(const Value& obj, const Value& key);         // obj[key]
  Expected<Value> apply_filter(const std::string& name, const Value& subject, CallArgs& args);
  Expected<bool> apply_test(const std::string& name, const Value& subject, CallArgs& args);
  // Python iteration: list items, dict keys, string code points; undefined iterates empty.
  Expected<std::vector<Value>> iterate(const Value& v);

 private:
  enum class Flow { Normal, Break, Continue };
  struct DepthGuard;

  Status exec_body(const Body& body, std::string& out);
  Status exec(const Node& n, std::string& out);
  Status exec_for(const Node& n, std::string& out);
  Status exec_set(const Node& n, std::string& out);
  Status exec_call_block(const Node& n, std::string& out);
  Status assign(const std::vector<std::string>& targets, const Value& v, size_t pos);

  Expected<Value> eval(const Expr& e);
  Expected<Value> eval_inner(const Expr& e);
  Expected<Value> eval_binary(const Expr& e);
  Expected<Value> eval_compare(const Expr& e);
  Expected<Value> eval_slice(const Expr& e);
  Status eval_args(const Expr& e, size_t first, CallArgs& out);

  Value lookup(const std::string& name) const;
  Value make_macro(const Node& n);
  Expected<Value> call_macro(const Node& n, const std::shared_ptr<Frame>& defining, CallArgs& args);
  Error located(size_t pos, const Error& e) const;

  const ParsedTemplate& tmpl_;
  const Limits& limits_;
  std::shared_ptr<Frame> frame_;
  Flow flow_ = Flow::Normal;
  uint64_t work_ = 0;
  uint64_t iterations_ = 0;
  int eval_depth_ = 0;
  int call_depth_ = 0;
};

// Built-ins (builtins.cpp).
std::string html_escape(std::string_view s);
Expected<Value> call_filter(Interpreter& in, const std::string& name, const Value& subject,
                            CallArgs& args);
Expected<bool> call_test(Interpreter& in, const std::string& name, const Value& subject,
                         CallArgs& args);
// Bound method `self.name`, or an undefined value when `self` has no such (safe) method.
Value get_method(const Value& self, const std::string& name);
bool has_method(const Value& self, const std::string& name);
// range, namespace, dict, raise_exception.
void add_global_functions(std::unordered_map<std::string, Value>& vars);

}  // namespace tmill::tok::jinja
