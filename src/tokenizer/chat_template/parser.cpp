#include "tokenizer/chat_template/parser.h"

#include <initializer_list>

#include "tokenizer/chat_template/lexer.h"

namespace tmill::tok::jinja {
namespace {

class Parser {
 public:
  Parser(const LexResult& lexed, int max_nesting)
      : t_(lexed.tokens), src_(lexed.source), max_depth_(max_nesting) {}

  Status parse_all(Body& body) {
    TM_ASSIGN(std::string end, parse_body(body, {}, 0));
    (void)end;
    return {};
  }

 private:
  // Bounds recursion: every recursive parse function holds one.
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) { ++p_.depth_; }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  // Left-deep chains (a + b + c, x|f|g, a.b.c) deepen the tree without recursing in the parser:
  // each link counts as one level of nesting until the chain's function returns.
  struct ChainGuard {
    explicit ChainGuard(Parser& p) : p_(p) {}
    ~ChainGuard() { p_.depth_ -= links_; }
    Status step() {
      ++links_;
      ++p_.depth_;
      return p_.check_depth();
    }
    Parser& p_;
    int links_ = 0;
  };

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  void advance() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().kind == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().kind == Tok::Name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }

  Error error_at(size_t pos, const std::string& what) const {
    return fail("template syntax error at ", describe_position(src_, pos), ": ", what);
  }
  std::string describe(const Token& tok) const {
    switch (tok.kind) {
      case Tok::Eof:
        return "end of template";
      case Tok::BlockEnd:
        return "end of block tag";
      case Tok::VarEnd:
        return "end of print tag";
      case Tok::Text:
        return "template text";
      case Tok::String:
        return "string literal";
      default:
        return "'" + tok.text + "'";
    }
  }
  Error unexpected(const std::string& expected) const {
    return error_at(cur().pos, "expected " + expected + ", got " + describe(cur()));
  }
  Status check_depth() const {
    if (depth_ > max_depth_) return error_at(cur().pos, "template is nested too deeply");
    return {};
  }
  Status expect_op(const char* op) {
    if (!skip_op(op)) return unexpected(std::string("'") + op + "'");
    return {};
  }
  Status expect_block_end() {
    if (cur().kind != Tok::BlockEnd) return unexpected("end of block tag '%}'");
    advance();
    return {};
  }
  Expected<std::string> expect_name() {
    if (cur().kind != Tok::Name) return unexpected("a name");
    std::string n = cur().text;
    advance();
    return n;
  }

  ExprPtr make(Expr::Kind kind, size_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }

  // ---- statements ----

  // Parses nodes until a block tag whose name is in `ends` (consumed; returned) or the end of
  // the template (allowed only when `ends` is empty).
  Expected<std::string> parse_body(Body& body, std::initializer_list<const char*> ends,
                                   size_t open_pos) {
    DepthGuard g(*this);
    TM_TRY(check_depth());
    while (true) {
      const Token& tok = cur();
      if (tok.kind == Tok::Eof) {
        if (ends.size() == 0) return std::string();
        return error_at(open_pos, std::string("unclosed block: expected '") + *ends.begin() +
                                      "' before the end of the template");
      }
      if (tok.kind == Tok::Text) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::Text;
        n->pos = tok.pos;
        n->text = tok.text;
        body.push_back(std::move(n));
        advance();
        continue;
      }
      if (tok.kind == Tok::VarBegin) {
        advance();
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::Output;
        n->pos = tok.pos;
        TM_ASSIGN(n->expr, parse_tuple(true));
        if (cur().kind != Tok::VarEnd) return unexpected("end of print tag '}}'");
        advance();
        body.push_back(std::move(n));
        continue;
      }
      if (tok.kind != Tok::BlockBegin) return unexpected("template text or a tag");
      advance();
      if (cur().kind != Tok::Name) return unexpected("a statement name");
      const std::string name = cur().text;
      for (const char* e : ends) {
        if (name == e) {
          advance();
          return name;
        }
      }
      TM_ASSIGN(NodePtr node, parse_statement(name, tok.pos));
      body.push_back(std::move(node));
    }
  }

  Expected<NodePtr> parse_statement(const std::string& name, size_t pos) {
    auto n = std::make_unique<Node>();
    n->pos = pos;
    advance();  // the statement name
    if (name == "if") {
      n->kind = Node::Kind::If;
      TM_ASSIGN(ExprPtr cond, parse_expression());
      n->conds.push_back(std::move(cond));
      TM_TRY(expect_block_end());
      while (true) {
        n->bodies.emplace_back();
        TM_ASSIGN(std::string end, parse_body(n->bodies.back(), {"elif", "else", "endif"}, pos));
        if (end == "elif") {
          TM_ASSIGN(ExprPtr c, parse_expression());
          n->conds.push_back(std::move(c));
          TM_TRY(expect_block_end());
          continue;
        }
        TM_TRY(expect_block_end());
        if (end == "else") {
          n->bodies.emplace_back();
          TM_ASSIGN(std::string end2, parse_body(n->bodies.back(), {"endif"}, pos));
          (void)end2;
          TM_TRY(expect_block_end());
        }
        return n;
      }
    }
    if (name == "for") {
      n->kind = Node::Kind::For;
      TM_TRY(parse_targets(n->targets, false));
      if (!skip_name("in")) return unexpected("'in'");
      TM_ASSIGN(n->expr, parse_tuple(false));
      if (skip_name("if")) {
        TM_ASSIGN(n->cond, parse_expression());
      }
      if (is_name("recursive")) return error_at(cur().pos, "recursive loops are not supported");
      TM_TRY(expect_block_end());
      ++loop_depth_;
      TM_ASSIGN(std::string end, parse_body(n->body, {"else", "endfor"}, pos));
      --loop_depth_;
      TM_TRY(expect_block_end());
      if (end == "else") {
        TM_ASSIGN(std::string end2, parse_body(n->else_body, {"endfor"}, pos));
        (void)end2;
        TM_TRY(expect_block_end());
      }
      return n;
    }
    if (name == "set") {
      TM_TRY(parse_targets(n->targets, true));
      if (n->targets.size() == 1 && skip_op(".")) {
        TM_ASSIGN(n->text, expect_name());
      }
      if (skip_op("=")) {
        n->kind = Node::Kind::Set;
        TM_ASSIGN(n->expr, parse_tuple(true));
        TM_TRY(expect_block_end());
        return n;
      }
      if (n->targets.size() != 1 || !n->text.empty())
        return unexpected("'=' (block assignment takes one name)");
      n->kind = Node::Kind::SetBlock;
      if (is_op("|")) {
        auto subject = make(Expr::Kind::Name, cur().pos);
        subject->name = "__body__";
        TM_ASSIGN(n->expr, parse_filter_chain(std::move(subject)));
      }
      TM_TRY(expect_block_end());
      TM_ASSIGN(std::string end, parse_body(n->body, {"endset"}, pos));
      (void)end;
      TM_TRY(expect_block_end());
      return n;
    }
    if (name == "macro") {
      n->kind = Node::Kind::Macro;
      TM_ASSIGN(n->text, expect_name());
      TM_TRY(parse_params(n->params));
      TM_TRY(expect_block_end());
      const int saved = loop_depth_;
      loop_depth_ = 0;
      TM_ASSIGN(std::string end, parse_body(n->body, {"endmacro"}, pos));
      loop_depth_ = saved;
      (void)end;
      if (cur().kind == Tok::Name) advance();  // {% endmacro name %}
      TM_TRY(expect_block_end());
      return n;
    }
    if (name == "call") {
      n->kind = Node::Kind::CallBlock;
      if (is_op("(")) TM_TRY(parse_params(n->params));
      TM_ASSIGN(n->expr, parse_expression());
      if (n->expr->kind != Expr::Kind::Call)
        return error_at(n->expr->pos, "'call' needs a macro call");
      TM_TRY(expect_block_end());
      const int saved = loop_depth_;
      loop_depth_ = 0;
      TM_ASSIGN(std::string end, parse_body(n->body, {"endcall"}, pos));
      loop_depth_ = saved;
      (void)end;
      TM_TRY(expect_block_end());
      return n;
    }
    if (name == "filter") {
      n->kind = Node::Kind::FilterBlock;
      auto subject = make(Expr::Kind::Name, cur().pos);
      subject->name = "__body__";
      TM_ASSIGN(n->expr, parse_filter_chain(std::move(subject), true));
      TM_TRY(expect_block_end());
      TM_ASSIGN(std::string end, parse_body(n->body, {"endfilter"}, pos));
      (void)end;
      TM_TRY(expect_block_end());
      return n;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return error_at(pos, "'" + name + "' outside of a loop");
      n->kind = name == "break" ? Node::Kind::Break : Node::Kind::Continue;
      TM_TRY(expect_block_end());
      return n;
    }
    if (name == "generation") {
      n->kind = Node::Kind::Scope;
      TM_TRY(expect_block_end());
      TM_ASSIGN(std::string end, parse_body(n->body, {"endgeneration"}, pos));
      (void)end;
      TM_TRY(expect_block_end());
      return n;
    }
    return error_at(pos, "unknown or unsupported tag '" + name + "'");
  }

  // `a`, `a, b`, `(a, b)`; for `set`, also `ns` followed by `.attr` (handled by the caller).
  Status parse_targets(std::vector<std::string>& targets, bool for_set) {
    const bool paren = skip_op("(");
    while (true) {
      TM_ASSIGN(std::string n, expect_name());
      targets.push_back(std::move(n));
      if (for_set && is_op(".")) break;
      if (!skip_op(",")) break;
      if (cur().kind != Tok::Name) break;  // trailing comma
    }
    if (paren) TM_TRY(expect_op(")"));
    return {};
  }

  Status parse_params(std::vector<MacroParam>& params) {
    TM_TRY(expect_op("("));
    while (!is_op(")")) {
      MacroParam p;
      TM_ASSIGN(p.name, expect_name());
      if (skip_op("=")) {
        TM_ASSIGN(p.default_value, parse_expression());
      }
      params.push_back(std::move(p));
      if (!skip_op(",")) break;
    }
    return expect_op(")");
  }

  // ---- expressions ----

  // expression [, expression ...] -> a tuple when there is a comma.
  Expected<ExprPtr> parse_tuple(bool with_condexpr) {
    const size_t pos = cur().pos;
    ExprPtr first;
    if (with_condexpr) {
      TM_ASSIGN(first, parse_expression());
    } else {
      TM_ASSIGN(first, parse_or());
    }
    if (!is_op(",")) return first;
    auto tuple = make(Expr::Kind::Tuple, pos);
    tuple->args.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().kind == Tok::BlockEnd || cur().kind == Tok::VarEnd || is_op(")") || is_name("if"))
        break;
      ExprPtr e;
      if (with_condexpr) {
        TM_ASSIGN(e, parse_expression());
      } else {
        TM_ASSIGN(e, parse_or());
      }
      tuple->args.push_back(std::move(e));
    }
    return tuple;
  }

  Expected<ExprPtr> parse_expression() {
    DepthGuard g(*this);
    TM_TRY(check_depth());
    TM_ASSIGN(ExprPtr e, parse_or());
    ChainGuard chain(*this);
    while (is_name("if")) {
      TM_TRY(chain.step());
      const size_t pos = cur().pos;
      advance();
      auto cond = make(Expr::Kind::Cond, pos);
      TM_ASSIGN(ExprPtr test, parse_or());
      cond->args.push_back(std::move(test));
      cond->args.push_back(std::move(e));
      if (skip_name("else")) {
        TM_ASSIGN(ExprPtr other, parse_expression());
        cond->args.push_back(std::move(other));
      } else {
        cond->args.push_back(nullptr);
      }
      e = std::move(cond);
    }
    return e;
  }

  Expected<ExprPtr> binary(const char* op, size_t pos, ExprPtr l, ExprPtr r) {
    auto e = make(Expr::Kind::Binary, pos);
    e->name = op;
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }

  Expected<ExprPtr> parse_or() {
    TM_ASSIGN(ExprPtr e, parse_and());
    ChainGuard chain(*this);
    while (is_name("or")) {
      TM_TRY(chain.step());
      const size_t pos = cur().pos;
      advance();
      TM_ASSIGN(ExprPtr r, parse_and());
      TM_ASSIGN(e, binary("or", pos, std::move(e), std::move(r)));
    }
    return e;
  }

  Expected<ExprPtr> parse_and() {
    TM_ASSIGN(ExprPtr e, parse_not());
    ChainGuard chain(*this);
    while (is_name("and")) {
      TM_TRY(chain.step());
      const size_t pos = cur().pos;
      advance();
      TM_ASSIGN(ExprPtr r, parse_not());
      TM_ASSIGN(e, binary("and", pos, std::move(e), std::move(r)));
    }
    return e;
  }

  Expected<ExprPtr> parse_not() {
    DepthGuard g(*this);
    TM_TRY(check_depth());
    if (is_name("not")) {
      auto e = make(Expr::Kind::Unary, cur().pos);
      advance();
      e->name = "not";
      TM_ASSIGN(ExprPtr operand, parse_not());
      e->args.push_back(std::move(operand));
      return e;
    }
    return parse_compare();
  }

  Expected<ExprPtr> parse_compare() {
    const size_t pos = cur().pos;
    TM_ASSIGN(ExprPtr first, parse_math1());
    ExprPtr cmp;
    ChainGuard chain(*this);
    while (true) {
      std::string op;
      if (cur().kind == Tok::Op &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
           cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().kind == Tok::Name && peek().text == "in") {
        op = "not in";
        advance();
        advance();
      } else {
        break;
      }
      TM_TRY(chain.step());
      if (!cmp) {
        cmp = make(Expr::Kind::Compare, pos);
        cmp->args.push_back(std::move(first));
      }
      TM_ASSIGN(ExprPtr operand, parse_math1());
      cmp->ops.push_back(op);
      cmp->args.push_back(std::move(operand));
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  Expected<ExprPtr> parse_math1() {
    TM_ASSIGN(ExprPtr e, parse_concat());
    ChainGuard chain(*this);
    while (is_op("+") || is_op("-")) {
      TM_TRY(chain.step());
      const size_t pos = cur().pos;
      const char* op = cur().text == "+" ? "+" : "-";
      advance();
      TM_ASSIGN(ExprPtr r, parse_concat());
      TM_ASSIGN(e, binary(op, pos, std::move(e), std::move(r)));
    }
    return e;
  }

  Expected<ExprPtr> parse_concat() {
    TM_ASSIGN(ExprPtr e, parse_math2());
    ChainGuard chain(*this);
    while (is_op("~")) {
      TM_TRY(chain.step());
      const size_t pos = cur().pos;
      advance();
      TM_ASSIGN(ExprPtr r, parse_math2());
      TM_ASSIGN(e, binary("~", pos, std::move(e), std::move(r)));
    }
    return e;
  }

  Expected<ExprPtr> parse_math2() {
    TM_ASSIGN(ExprPtr e, parse_pow());
    ChainGuard chain(*this);
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      TM_TRY(chain.step());
      const size_t pos = cur().pos;
      const std::string op = cur().text;
      advance();
      TM_ASSIGN(ExprPtr r, parse_pow());
      auto b = make(Expr::Kind::Binary, pos);
      b->name = op;
      b->args.push_back(std::move(e));
      b->args.push_back(std::move(r));
      e = std::move(b);
    }
    return e;
  }

  Expected<ExprPtr> parse_pow() {
    TM_ASSIGN(ExprPtr e, parse_unary(true));
    ChainGuard chain(*this);
    while (is_op("**")) {
      TM_TRY(chain.step());
      const size_t pos = cur().pos;
      advance();
      TM_ASSIGN(ExprPtr r, parse_unary(true));
      TM_ASSIGN(e, binary("**", pos, std::move(e), std::move(r)));
    }
    return e;
  }

  Expected<ExprPtr> parse_unary(bool with_filter) {
    DepthGuard g(*this);
    TM_TRY(check_depth());
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = make(Expr::Kind::Unary, cur().pos);
      e->name = cur().text;
      advance();
      TM_ASSIGN(ExprPtr operand, parse_unary(false));
      e->args.push_back(std::move(operand));
    } else {
      TM_ASSIGN(e, parse_primary());
    }
    TM_ASSIGN(e, parse_postfix(std::move(e)));
    if (with_filter) {
      TM_ASSIGN(e, parse_filter_expr(std::move(e)));
    }
    return e;
  }

  Expected<ExprPtr> parse_primary() {
    const Token& tok = cur();
    const size_t pos = tok.pos;
    switch (tok.kind) {
      case Tok::Name: {
        auto e = make(Expr::Kind::Literal, pos);
        const std::string& n = tok.text;
        if (n == "true" || n == "True") {
          e->value = Value::boolean(true);
        } else if (n == "false" || n == "False") {
          e->value = Value::boolean(false);
        } else if (n == "none" || n == "None") {
          e->value = Value::none();
        } else {
          e->kind = Expr::Kind::Name;
          e->name = n;
        }
        advance();
        return e;
      }
      case Tok::String: {
        std::string s;
        while (cur().kind == Tok::String) {
          s += cur().text;
          advance();
        }
        auto e = make(Expr::Kind::Literal, pos);
        e->value = Value::string(std::move(s));
        return e;
      }
      case Tok::Int:
      case Tok::Float: {
        auto e = make(Expr::Kind::Literal, pos);
        e->value =
            tok.kind == Tok::Int ? Value::integer(tok.int_value) : Value::number(tok.float_value);
        advance();
        return e;
      }
      case Tok::Op:
        if (tok.text == "(") {
          advance();
          if (skip_op(")")) return make(Expr::Kind::Tuple, pos);
          TM_ASSIGN(ExprPtr e, parse_tuple(true));
          TM_TRY(expect_op(")"));
          return e;
        }
        if (tok.text == "[") {
          advance();
          auto e = make(Expr::Kind::List, pos);
          while (!is_op("]")) {
            TM_ASSIGN(ExprPtr item, parse_expression());
            e->args.push_back(std::move(item));
            if (!skip_op(",")) break;
          }
          TM_TRY(expect_op("]"));
          return e;
        }
        if (tok.text == "{") {
          advance();
          auto e = make(Expr::Kind::Dict, pos);
          while (!is_op("}")) {
            TM_ASSIGN(ExprPtr key, parse_expression());
            TM_TRY(expect_op(":"));
            TM_ASSIGN(ExprPtr value, parse_expression());
            e->args.push_back(std::move(key));
            e->args.push_back(std::move(value));
            if (!skip_op(",")) break;
          }
          TM_TRY(expect_op("}"));
          return e;
        }
        break;
      default:
        break;
    }
    return unexpected("an expression");
  }

  Expected<ExprPtr> parse_postfix(ExprPtr e) {
    ChainGuard chain(*this);
    while (true) {
      if (!is_op(".") && !is_op("[") && !is_op("(")) return e;
      TM_TRY(chain.step());
      const size_t pos = cur().pos;
      if (skip_op(".")) {
        if (cur().kind == Tok::Int) {
          auto item = make(Expr::Kind::Item, pos);
          auto idx = make(Expr::Kind::Literal, cur().pos);
          idx->value = Value::integer(cur().int_value);
          advance();
          item->args.push_back(std::move(e));
          item->args.push_back(std::move(idx));
          e = std::move(item);
          continue;
        }
        auto attr = make(Expr::Kind::Attr, pos);
        TM_ASSIGN(attr->name, expect_name());
        attr->args.push_back(std::move(e));
        e = std::move(attr);
      } else if (skip_op("[")) {
        TM_ASSIGN(e, parse_subscript(std::move(e), pos));
      } else if (is_op("(")) {
        TM_ASSIGN(e, parse_call(std::move(e)));
      } else {
        return e;
      }
    }
  }

  Expected<ExprPtr> parse_subscript(ExprPtr obj, size_t pos) {
    ExprPtr start, stop, step;
    if (!is_op(":")) {
      TM_ASSIGN(start, parse_expression());
      if (skip_op("]")) {
        auto item = make(Expr::Kind::Item, pos);
        item->args.push_back(std::move(obj));
        item->args.push_back(std::move(start));
        return item;
      }
    }
    TM_TRY(expect_op(":"));
    if (!is_op(":") && !is_op("]")) {
      TM_ASSIGN(stop, parse_expression());
    }
    if (skip_op(":") && !is_op("]")) {
      TM_ASSIGN(step, parse_expression());
    }
    TM_TRY(expect_op("]"));
    auto slice = make(Expr::Kind::Slice, pos);
    slice->args.push_back(std::move(obj));
    slice->args.push_back(std::move(start));
    slice->args.push_back(std::move(stop));
    slice->args.push_back(std::move(step));
    return slice;
  }

  // Parses `(args, name=value)` into e->args (after any existing) and e->kwargs.
  Status parse_args(Expr& e) {
    TM_TRY(expect_op("("));
    while (!is_op(")")) {
      if (is_op("*") || is_op("**")) return error_at(cur().pos, "*args/**kwargs are not supported");
      if (cur().kind == Tok::Name && peek().kind == Tok::Op && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        TM_ASSIGN(ExprPtr v, parse_expression());
        e.kwargs.emplace_back(std::move(key), std::move(v));
      } else {
        if (!e.kwargs.empty())
          return error_at(cur().pos, "positional argument follows keyword argument");
        TM_ASSIGN(ExprPtr v, parse_expression());
        e.args.push_back(std::move(v));
      }
      if (!skip_op(",")) break;
    }
    return expect_op(")");
  }

  Expected<ExprPtr> parse_call(ExprPtr callee) {
    auto call = make(Expr::Kind::Call, cur().pos);
    call->args.push_back(std::move(callee));
    TM_TRY(parse_args(*call));
    return call;
  }

  Expected<std::string> parse_dotted_name() {
    TM_ASSIGN(std::string n, expect_name());
    while (is_op(".") && peek().kind == Tok::Name) {
      advance();
      n += "." + cur().text;
      advance();
    }
    return n;
  }

  // `| name(args) | name ...` applied to `subject`; with `first_without_pipe`, the first
  // filter has no leading '|' (the {% filter %} statement).
  Expected<ExprPtr> parse_filter_chain(ExprPtr subject, bool first_without_pipe = false) {
    bool first = first_without_pipe;
    ChainGuard chain(*this);
    while (first || is_op("|")) {
      TM_TRY(chain.step());
      if (!first) advance();
      first = false;
      auto f = make(Expr::Kind::Filter, cur().pos);
      TM_ASSIGN(f->name, parse_dotted_name());
      f->args.push_back(std::move(subject));
      if (is_op("(")) TM_TRY(parse_args(*f));
      subject = std::move(f);
    }
    return subject;
  }

  Expected<ExprPtr> parse_filter_expr(ExprPtr e) {
    ChainGuard chain(*this);
    while (true) {
      if (!is_op("|") && !is_name("is") && !is_op("(")) return e;
      TM_TRY(chain.step());
      if (is_op("|")) {
        TM_ASSIGN(e, parse_filter_chain(std::move(e)));
      } else if (is_name("is")) {
        auto t = make(Expr::Kind::Test, cur().pos);
        advance();
        t->negated = skip_name("not");
        TM_ASSIGN(t->name, parse_dotted_name());
        t->args.push_back(std::move(e));
        if (is_op("(")) {
          TM_TRY(parse_args(*t));
        } else if ((cur().kind == Tok::Name || cur().kind == Tok::String ||
                    cur().kind == Tok::Int || cur().kind == Tok::Float || is_op("[") ||
                    is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if") &&
                   !is_name("in") && !is_name("not") && !is_name("is")) {
          TM_ASSIGN(ExprPtr arg, parse_primary());
          TM_ASSIGN(arg, parse_postfix(std::move(arg)));
          t->args.push_back(std::move(arg));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        TM_ASSIGN(e, parse_call(std::move(e)));
      } else {
        return e;
      }
    }
  }

  const std::vector<Token>& t_;
  const std::string& src_;
  size_t i_ = 0;
  int depth_ = 0;
  int max_depth_;
  int loop_depth_ = 0;
};

}  // namespace

Expected<ParsedTemplate> parse_template(std::string_view text, int max_nesting) {
  TM_ASSIGN(LexResult lexed, lex(text));
  ParsedTemplate out;
  {
    Parser parser(lexed, max_nesting);
    TM_TRY(parser.parse_all(out.body));
  }
  out.source = std::move(lexed.source);
  return out;
}

}  // namespace tmill::tok::jinja
