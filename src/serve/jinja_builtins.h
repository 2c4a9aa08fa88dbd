// jinja_builtins.h — the filters, tests, string/dict methods and global functions of the chat-template
// renderer, with Python Jinja2's behaviour. Errors are std::runtime_error without a position; the
// evaluator adds where and line:column.
#pragma once

#include "jinja_value.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace retain::serve::jinja {

/// Thrown by raise_exception(message): the template's own message.
struct TemplateRaised : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The names of the filters and tests, for parse-time checks and "did you mean" suggestions.
const std::vector<std::string>& filter_names();
const std::vector<std::string>& test_names();

/// `subject | name(args..., kwargs...)`.
Value apply_filter(const std::string& name, const Value& subject, const std::vector<Value>& args, const Kwargs& kwargs);

/// `subject is name(args...)`.
bool apply_test(const std::string& name, const Value& subject, const std::vector<Value>& args);

/// The method `name` of a string or dict, bound to `subject`; undefined when it has no such method.
Value method(const Value& subject, const std::string& name);

/// The global functions: raise_exception, namespace, range, strftime_now.
Object global_functions();

}  // namespace retain::serve::jinja
