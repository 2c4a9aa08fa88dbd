// jinja_parser.h — tokens to the syntax tree, with Jinja2's operator precedence (lowest first):
// x if c else y; or; and; not; comparisons and in / not in; + -; ~; * / // %; **; unary - +;
// then postfix .attr [index] [a:b:c] (call) and the filters | f and tests `is t`, which bind tightest.
#pragma once

#include "jinja_ast.h"

#include <string>

namespace retain::serve::jinja {

/// Parses a template. Errors throw retain::Error naming `where`, the line:column and what was
/// expected there ("expected 'endif' to close the 'if' at 3:5, got end of template").
Template parse_template(const std::string& source, const std::string& where);

}  // namespace retain::serve::jinja
