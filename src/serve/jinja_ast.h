// jinja_ast.h — the syntax tree of a parsed chat template: expressions, statements and the program.
#pragma once

#include "jinja_value.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace retain::serve::jinja {

/// A place in the template source, both from 1.
struct Pos {
  int line = 1;
  int column = 1;
};

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind {
    Literal,  // value
    Name,     // name
    List,     // args
    Tuple,    // args
    Dict,     // args: key, value, key, value, ...
    Attr,     // args[0].name
    Item,     // args[0][args[1]]
    Slice,    // args[0][args[1]:args[2]:args[3]], a missing part is null
    Call,     // args[0](args[1..], kwargs)
    Filter,   // args[0] | name(args[1..], kwargs)
    Test,     // args[0] is [not (negate)] name(args[1..])
    Unary,    // name (one of "-", "+", "not") args[0]
    Binary,   // args[0] name args[1]; name is an operator, "and", "or", "in", "not in"
    Ternary,  // args[0] if args[1] else args[2] (args[2] null when there is no else)
  };
  Kind kind = Kind::Literal;
  Pos pos;
  Value value;
  std::string name;
  bool negate = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    Text,      // text
    Output,    // {{ expr }}
    If,        // branches (condition, body)..., else_body
    For,       // targets in expr [if condition] body [else else_body]
    Set,       // targets (one name, or several for a tuple) = expr; or attribute: targets[0].attribute = expr
    SetBlock,  // targets[0] = rendered body
    Macro,     // name(params with defaults) body
    Break,
    Continue,
  };
  Kind kind = Kind::Text;
  Pos pos;
  std::string text;  // Text; the macro name
  ExprPtr expr;      // Output, For (the iterable), Set
  ExprPtr condition; // For's filter
  std::vector<std::pair<ExprPtr, Body>> branches;
  std::vector<std::string> targets;
  std::string attribute;  // Set on a namespace attribute
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro: name, default (null when none)
  Body body;
  Body else_body;
};

/// A parsed template: its body and the name of where it came from (for errors).
struct Template {
  std::string where;
  Body body;
};

}  // namespace retain::serve::jinja
