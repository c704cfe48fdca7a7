// Syntax tree of a parsed template. Built by the parser, walked by the interpreter; immutable
// after parsing (a Template owns it, renders share it).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/chat_template/value.h"

namespace tmill::tok::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,  // value
    Name,     // name
    List,     // args = items
    Tuple,    // args = items
    Dict,     // args = k0, v0, k1, v1, ...
    Attr,     // args[0].name
    Item,     // args[0][args[1]]
    Slice,    // args[0][args[1]:args[2]:args[3]] (null = omitted)
    Call,     // args[0](args[1:], kwargs)
    Filter,   // args[0] | name(args[1:], kwargs)
    Test,     // args[0] is [not] name(args[1:])
    Unary,    // name = "not", "-", "+"; args[0]
    Binary,   // name = operator; args[0], args[1]
    Compare,  // args[0] ops[0] args[1] ops[1] args[2] ... (chained, as Python)
    Cond,     // args[1] if args[0] else args[2] (args[2] null: undefined)
  };
  Kind kind;
  size_t pos = 0;
  std::string name;
  Value value;
  bool negated = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Node {
  enum class Kind {
    Text,         // text
    Output,       // {{ expr }}
    If,           // conds[i] -> bodies[i]; bodies.size() == conds.size() + 1 when there is an else
    For,          // for targets in expr [if cond] body [else else_body]
    Set,          // set targets = expr, or set target.attr = expr (attr non-empty)
    SetBlock,     // set targets[0] %}body{% endset (expr: optional filter chain over __body__)
    Macro,        // macro name(params) body
    CallBlock,    // call(params) expr body: expr is a call; body becomes `caller`
    FilterBlock,  // filter chain (expr, over the name __body__) applied to the rendered body
    Break,
    Continue,
    Scope,  // generation ... endgeneration: body rendered in place
  };
  Kind kind;
  size_t pos = 0;
  std::string text;  // Text; macro name; set attr
  ExprPtr expr;
  ExprPtr cond;  // For's inline filter
  std::vector<ExprPtr> conds;
  std::vector<Body> bodies;
  std::vector<std::string> targets;
  Body body, else_body;
  std::vector<MacroParam> params;
};

}  // namespace tmill::tok::jinja
