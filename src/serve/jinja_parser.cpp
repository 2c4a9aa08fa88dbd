// jinja_parser.cpp — recursive descent over the tokens of jinja_lexer (see jinja_parser.h).
#include "jinja_parser.h"

#include "jinja_builtins.h"
#include "jinja_lexer.h"

#include "retain/core/suggest.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

namespace retain::serve::jinja {

namespace {

using K = Token::Kind;

ExprPtr make(Expr::Kind kind, Pos pos, std::vector<ExprPtr> args = {}, std::string name = {}) {
  auto e = std::make_shared<Expr>();
  e->kind = kind;
  e->pos = pos;
  e->args = std::move(args);
  e->name = std::move(name);
  return e;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& where) : tokens_(std::move(tokens)), where_(where) {}

  Body parse_all() {
    Body body = parse_body({}, "", {});
    if (peek().kind != K::End) {
      // parse_body stops at an end tag nobody opened.
      fail_at(where_, peek(1).pos, fmt::format("unexpected '{}' with no open tag to close", peek(1).text));
    }
    return body;
  }

 private:
  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool is_op(const char* op, size_t ahead = 0) const { return peek(ahead).kind == K::Op && peek(ahead).text == op; }
  bool is_name(const char* name, size_t ahead = 0) const {
    return peek(ahead).kind == K::Name && peek(ahead).text == name;
  }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool accept_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  [[noreturn]] void expected(const std::string& what) const {
    fail_at(where_, peek().pos, fmt::format("expected {}, got {}", what, describe(peek())));
  }
  void expect_op(const char* op, const std::string& context = "") {
    if (!accept_op(op)) expected(fmt::format("'{}'{}", op, context));
  }
  void expect_block_close(const std::string& tag) {
    if (peek().kind != K::BlockClose) expected(fmt::format("'%}}' to close the '{}' tag", tag));
    next();
  }
  std::string expect_identifier(const std::string& what) {
    if (peek().kind != K::Name) expected(what);
    return next().text;
  }

  // ---- statements -------------------------------------------------------------------------------

  // Parses nodes until a {% NAME %} with NAME in `ends` (left unconsumed: pos_ at its '{%').
  // `opener`/`opened_at` name the tag this body belongs to, for errors.
  Body parse_body(std::initializer_list<const char*> ends, const std::string& opener, Pos opened_at) {
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.kind == K::End) {
        if (ends.size() == 0) return body;
        fail_at(where_, t.pos,
                fmt::format("expected '{}' to close the '{}' at {}:{}, got end of template", *(ends.end() - 1), opener,
                            opened_at.line, opened_at.column));
      }
      if (t.kind == K::Text) {
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::Text;
        n->pos = t.pos;
        n->text = t.text;
        body.push_back(n);
        next();
      } else if (t.kind == K::VarOpen) {
        next();
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::Output;
        n->pos = t.pos;
        n->expr = parse_tuple();
        if (peek().kind != K::VarClose) expected("'}}' to close the '{{'");
        next();
        body.push_back(n);
      } else if (t.kind == K::BlockOpen) {
        const Token& name = peek(1);
        if (name.kind == K::Name) {
          for (const char* end : ends)
            if (name.text == end) return body;
          if (name.text.rfind("end", 0) == 0 || name.text == "elif" || name.text == "else") {
            if (ends.size() == 0)
              fail_at(where_, name.pos, fmt::format("unexpected '{}' with no open tag to close", name.text));
            fail_at(where_, name.pos,
                    fmt::format("unexpected '{}': expected '{}' to close the '{}' at {}:{}", name.text, *(ends.end() - 1),
                                opener, opened_at.line, opened_at.column));
          }
        }
        body.push_back(parse_statement());
      } else {
        expected("template text or a tag");
      }
    }
  }

  NodePtr parse_statement() {
    const Pos open = next().pos;  // {%
    if (peek().kind != K::Name) expected("a tag name after '{%'");
    const Token& name_token = next();
    const std::string name = name_token.text;
    auto n = std::make_shared<Node>();
    n->pos = open;
    if (name == "if") {
      n->kind = Node::Kind::If;
      ExprPtr condition = parse_expression();
      expect_block_close("if");
      while (true) {
        Body body = parse_body({"elif", "else", "endif"}, "if", open);
        n->branches.emplace_back(condition, std::move(body));
        next();  // {%
        const std::string tag = next().text;
        if (tag == "elif") {
          condition = parse_expression();
          expect_block_close("elif");
          continue;
        }
        if (tag == "else") {
          expect_block_close("else");
          n->else_body = parse_body({"endif"}, "if", open);
          next();
          next();
        }
        expect_block_close("endif");
        break;
      }
    } else if (name == "for") {
      n->kind = Node::Kind::For;
      do {
        n->targets.push_back(expect_identifier("a loop variable name"));
      } while (accept_op(","));
      if (!accept_name("in")) expected("'in' after the loop variable");
      n->expr = parse_tuple(/*with_condition=*/false);
      if (accept_name("if")) n->condition = parse_expression();
      if (is_name("recursive")) fail_at(where_, peek().pos, "recursive loops are not supported");
      expect_block_close("for");
      n->body = parse_body({"else", "endfor"}, "for", open);
      next();
      if (next().text == "else") {
        expect_block_close("else");
        n->else_body = parse_body({"endfor"}, "for", open);
        next();
        next();
      }
      expect_block_close("endfor");
    } else if (name == "set") {
      n->targets.push_back(expect_identifier("a variable name after 'set'"));
      if (accept_op(".")) {
        n->attribute = expect_identifier("an attribute name after '.'");
      } else {
        while (accept_op(",")) n->targets.push_back(expect_identifier("a variable name after ','"));
      }
      if (accept_op("=")) {
        n->kind = Node::Kind::Set;
        n->expr = parse_tuple();
        expect_block_close("set");
      } else {
        if (!n->attribute.empty() || n->targets.size() != 1) expected("'='");
        if (peek().kind != K::BlockClose) expected("'=' or '%}'");
        next();
        n->kind = Node::Kind::SetBlock;
        n->body = parse_body({"endset"}, "set", open);
        next();
        next();
        expect_block_close("endset");
      }
    } else if (name == "macro") {
      n->kind = Node::Kind::Macro;
      n->text = expect_identifier("a macro name");
      expect_op("(", " after the macro name");
      while (!accept_op(")")) {
        std::string param = expect_identifier("a parameter name");
        ExprPtr fallback;
        if (accept_op("=")) fallback = parse_expression();
        n->params.emplace_back(std::move(param), fallback);
        if (!is_op(")")) expect_op(",", " or ')' in the parameter list");
      }
      expect_block_close("macro");
      n->body = parse_body({"endmacro"}, "macro", open);
      next();
      next();
      expect_block_close("endmacro");
    } else if (name == "break" || name == "continue") {
      n->kind = name == "break" ? Node::Kind::Break : Node::Kind::Continue;
      expect_block_close(name);
    } else {
      static const std::vector<std::string> kUnsupported = {"raw",    "call",  "filter", "extends", "block",
                                                            "include", "import", "from",   "with",    "generation"};
      if (std::find(kUnsupported.begin(), kUnsupported.end(), name) != kUnsupported.end())
        fail_at(where_, name_token.pos, fmt::format("the '{}' tag is not supported by retain's chat-template renderer", name));
      fail_at(where_, name_token.pos,
              fmt::format("unknown tag '{}' (expected if, for, set, macro, break or continue)", name));
    }
    return n;
  }

  // ---- expressions ------------------------------------------------------------------------------

  // An expression, or several separated by commas (a tuple without parentheses).
  ExprPtr parse_tuple(bool with_condition = true) {
    const Pos pos = peek().pos;
    ExprPtr first = with_condition ? parse_expression() : parse_or();
    if (!is_op(",")) return first;
    std::vector<ExprPtr> items{first};
    while (accept_op(",")) {
      if (peek().kind == K::BlockClose || peek().kind == K::VarClose || is_op(")") || is_name("if")) break;
      items.push_back(with_condition ? parse_expression() : parse_or());
    }
    return make(Expr::Kind::Tuple, pos, std::move(items));
  }

  ExprPtr parse_expression() {
    ExprPtr value = parse_or();
    while (is_name("if")) {
      const Pos pos = next().pos;
      ExprPtr condition = parse_or();
      ExprPtr otherwise;
      if (accept_name("else")) otherwise = parse_expression();
      value = make(Expr::Kind::Ternary, pos, {value, condition, otherwise});
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const Pos pos = next().pos;
      left = make(Expr::Kind::Binary, pos, {left, parse_and()}, "or");
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const Pos pos = next().pos;
      left = make(Expr::Kind::Binary, pos, {left, parse_not()}, "and");
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      const Pos pos = next().pos;
      return make(Expr::Kind::Unary, pos, {parse_not()}, "not");
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr left = parse_math1();
    while (true) {
      const Token& t = peek();
      std::string op;
      if (t.kind == K::Op && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" ||
                              t.text == ">=")) {
        op = t.text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && is_name("in", 1)) {
        op = "not in";
        next();
        next();
      } else {
        return left;
      }
      left = make(Expr::Kind::Binary, t.pos, {left, parse_math1()}, op);
    }
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      left = make(Expr::Kind::Binary, t.pos, {left, parse_concat()}, t.text);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const Pos pos = next().pos;
      left = make(Expr::Kind::Binary, pos, {left, parse_math2()}, "~");
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      left = make(Expr::Kind::Binary, t.pos, {left, parse_pow()}, t.text);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary();
    while (is_op("**")) {
      const Pos pos = next().pos;
      left = make(Expr::Kind::Binary, pos, {left, parse_unary()}, "**");
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter = true) {
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      node = make(Expr::Kind::Unary, t.pos, {parse_unary(false)}, t.text);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(node);
    if (with_filter) node = parse_filters(node);
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    switch (t.kind) {
      case K::Name: {
        next();
        auto e = make(Expr::Kind::Literal, t.pos);
        auto literal = std::const_pointer_cast<Expr>(e);
        if (t.text == "true" || t.text == "True") {
          literal->value = Value::boolean(true);
        } else if (t.text == "false" || t.text == "False") {
          literal->value = Value::boolean(false);
        } else if (t.text == "none" || t.text == "None") {
          literal->value = Value::none();
        } else {
          literal->kind = Expr::Kind::Name;
          literal->name = t.text;
        }
        return e;
      }
      case K::String: {
        std::string text;
        while (peek().kind == K::String) text += next().text;  // adjacent literals concatenate
        auto e = std::const_pointer_cast<Expr>(make(Expr::Kind::Literal, t.pos));
        e->value = Value::string(std::move(text));
        return e;
      }
      case K::Int:
      case K::Float: {
        next();
        auto e = std::const_pointer_cast<Expr>(make(Expr::Kind::Literal, t.pos));
        try {
          e->value = t.kind == K::Int ? Value::integer(std::stoll(t.text)) : Value::floating(std::stod(t.text));
        } catch (const std::exception&) {
          fail_at(where_, t.pos, fmt::format("number '{}' is out of range", t.text));
        }
        return e;
      }
      case K::Op:
        if (t.text == "(") {
          next();
          if (accept_op(")")) return make(Expr::Kind::Tuple, t.pos);
          ExprPtr inner = parse_expression();
          if (is_op(",")) {
            std::vector<ExprPtr> items{inner};
            while (accept_op(",") && !is_op(")")) items.push_back(parse_expression());
            inner = make(Expr::Kind::Tuple, t.pos, std::move(items));
          }
          expect_op(")", fmt::format(" to close the '(' at {}:{}", t.pos.line, t.pos.column));
          return inner;
        }
        if (t.text == "[") {
          next();
          std::vector<ExprPtr> items;
          while (!accept_op("]")) {
            items.push_back(parse_expression());
            if (!is_op("]")) expect_op(",", fmt::format(" or ']' in the list opened at {}:{}", t.pos.line, t.pos.column));
          }
          return make(Expr::Kind::List, t.pos, std::move(items));
        }
        if (t.text == "{") {
          next();
          std::vector<ExprPtr> items;
          while (!accept_op("}")) {
            items.push_back(parse_expression());
            expect_op(":", " between a key and its value");
            items.push_back(parse_expression());
            if (!is_op("}")) expect_op(",", fmt::format(" or '}}' in the dict opened at {}:{}", t.pos.line, t.pos.column));
          }
          return make(Expr::Kind::Dict, t.pos, std::move(items));
        }
        break;
      default:
        break;
    }
    expected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".")) {
        const Pos pos = next().pos;
        const Token& t = peek();
        if (t.kind == K::Name) {
          next();
          node = make(Expr::Kind::Attr, pos, {node}, t.text);
        } else if (t.kind == K::Int) {
          next();
          auto index = std::const_pointer_cast<Expr>(make(Expr::Kind::Literal, t.pos));
          index->value = Value::integer(std::stoll(t.text));
          node = make(Expr::Kind::Item, pos, {node, index});
        } else {
          expected("an attribute name after '.'");
        }
      } else if (is_op("[")) {
        node = parse_subscript(node);
      } else if (is_op("(")) {
        node = parse_call(node, Expr::Kind::Call, "");
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    const Pos pos = next().pos;  // [
    ExprPtr parts[3];
    int part = 0;
    bool slice = false;
    if (!is_op(":")) parts[0] = parse_expression();
    while (accept_op(":")) {
      slice = true;
      if (++part > 2) expected("']' (a slice has at most start:stop:step)");
      if (!is_op(":") && !is_op("]")) parts[part] = parse_expression();
    }
    expect_op("]", fmt::format(" to close the '[' at {}:{}", pos.line, pos.column));
    if (!slice) {
      if (!parts[0]) fail_at(where_, pos, "expected an index inside '[]'");
      return make(Expr::Kind::Item, pos, {object, parts[0]});
    }
    return make(Expr::Kind::Slice, pos, {object, parts[0], parts[1], parts[2]});
  }

  // Parses "(args)" after `callee`: a Call, or the arguments of a Filter / Test named `name`.
  ExprPtr parse_call(ExprPtr subject, Expr::Kind kind, const std::string& name, Pos pos = {}) {
    const Pos open = next().pos;  // (
    auto e = std::const_pointer_cast<Expr>(make(kind, kind == Expr::Kind::Call ? open : pos, {subject}, name));
    while (!accept_op(")")) {
      if (peek().kind == K::Name && is_op("=", 1)) {
        std::string key = next().text;
        next();
        e->kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        if (!e->kwargs.empty()) fail_at(where_, peek().pos, "a positional argument follows a keyword argument");
        e->args.push_back(parse_expression());
      }
      if (!is_op(")")) expect_op(",", fmt::format(" or ')' in the arguments opened at {}:{}", open.line, open.column));
    }
    return e;
  }

  ExprPtr parse_filters(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        next();
        const Token& t = peek();
        const std::string name = expect_identifier("a filter name after '|'");
        const auto& filters = filter_names();
        if (std::find(filters.begin(), filters.end(), name) == filters.end())
          fail_at(where_, t.pos, fmt::format("unknown filter '{}'{}", name, did_you_mean(name, filters)));
        if (is_op("("))
          node = parse_call(node, Expr::Kind::Filter, name, t.pos);
        else
          node = make(Expr::Kind::Filter, t.pos, {node}, name);
      } else if (is_name("is")) {
        next();
        const bool negate = accept_name("not");
        const Token& t = peek();
        const std::string name = expect_identifier("a test name after 'is'");
        const auto& tests = test_names();
        if (std::find(tests.begin(), tests.end(), name) == tests.end())
          fail_at(where_, t.pos, fmt::format("unknown test '{}'{}", name, did_you_mean(name, tests)));
        ExprPtr test;
        if (is_op("(")) {
          test = parse_call(node, Expr::Kind::Test, name, t.pos);
        } else {
          const Token& a = peek();
          const bool takes_argument =
              (a.kind == K::Name && a.text != "else" && a.text != "or" && a.text != "and" && a.text != "if" &&
               a.text != "is" && a.text != "in" && a.text != "not") ||
              a.kind == K::String || a.kind == K::Int || a.kind == K::Float || is_op("[") || is_op("{");
          std::vector<ExprPtr> args;
          args.reserve(2);
          args.push_back(node);
          if (takes_argument) args.push_back(parse_postfix(parse_primary()));
          test = make(Expr::Kind::Test, t.pos, std::move(args), name);
        }
        std::const_pointer_cast<Expr>(test)->negate = negate;
        node = test;
      } else if (is_op("(")) {
        node = parse_call(node, Expr::Kind::Call, "");
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  const std::string& where_;
};

}  // namespace

Template parse_template(const std::string& source, const std::string& where) {
  Template program;
  program.where = where;
  program.body = Parser(tokenize(source, where), where).parse_all();
  return program;
}

}  // namespace retain::serve::jinja
