// jinja_eval.h — renders a parsed chat template: scopes (a for loop has its own, an if does not),
// the loop variable, namespaces, macros, and expression evaluation with Python semantics.
#pragma once

#include "jinja_ast.h"

#include <string>

namespace retain::serve::jinja {

/// Renders `program` with `variables` as the globals (next to raise_exception, namespace, range and
/// strftime_now). Errors throw retain::Error naming the template and the line:column of the
/// expression or tag that failed.
std::string render(const Template& program, const Object& variables);

}  // namespace retain::serve::jinja
