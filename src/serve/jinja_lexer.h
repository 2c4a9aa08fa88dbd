// jinja_lexer.h — splits a chat template into text and tag tokens, applying transformers' whitespace
// rules: a single trailing newline dropped, trim_blocks (the newline after a %} or #} goes),
// lstrip_blocks (spaces and tabs before a {% or {# at the start of a line go) and the - modifiers
// ({%- -%} {{- -}} {#- -#} strip all whitespace on that side). Comments are dropped here.
#pragma once

#include "jinja_ast.h"

#include <string>
#include <vector>

namespace retain::serve::jinja {

struct Token {
  enum class Kind { Text, BlockOpen, BlockClose, VarOpen, VarClose, Name, String, Int, Float, Op, End };
  Kind kind = Kind::End;
  std::string text;  // the text, the name, the unescaped string, the number or the operator
  Pos pos;
};

/// The tokens of `source`, ending with an End token. Errors (an unterminated tag, comment or string,
/// an unexpected character) throw retain::Error naming `where` and the line:column.
std::vector<Token> tokenize(const std::string& source, const std::string& where);

/// Throws retain::Error("chat_template", "WHERE:LINE:COLUMN: message").
[[noreturn]] void fail_at(const std::string& where, const Pos& pos, const std::string& message);

/// How a token reads in an error message: 'name', "string", end of template.
std::string describe(const Token& token);

}  // namespace retain::serve::jinja
