// jinja_builtins.cpp — filters, tests, methods and global functions (see jinja_builtins.h).
#include "jinja_builtins.h"

#include "retain/core/suggest.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <set>

namespace retain::serve::jinja {

namespace {

using T = Value::Type;
[[noreturn]] void error(const std::string& message) { throw std::runtime_error(message); }

// The argument at `index`, else the keyword `name`, else `fallback`.
Value arg(const std::vector<Value>& args, const Kwargs& kwargs, size_t index, const char* name, Value fallback = {}) {
  if (index < args.size()) return args[index];
  for (const auto& [key, value] : kwargs)
    if (key == name) return value;
  return fallback;
}

void check_kwargs(const std::string& what, const Kwargs& kwargs, std::initializer_list<const char*> allowed) {
  for (const auto& [key, value] : kwargs) {
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }))
      error(fmt::format("{}() got an unexpected keyword argument '{}'", what, key));
  }
}

const std::string& need_string(const Value& v, const std::string& what) {
  if (!v.is(T::String)) error(fmt::format("{} expects a string, got {}", what, v.type_name()));
  return v.as_string();
}

int64_t need_int(const Value& v, const std::string& what) {
  if (!v.is(T::Int) && !v.is(T::Bool)) error(fmt::format("{} expects an integer, got {}", what, v.type_name()));
  return v.as_int();
}

std::string ascii_map(std::string s, int (*f)(int)) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x80) c = static_cast<char>(f(static_cast<unsigned char>(c)));
  return s;
}

std::string title_case(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
      start = false;
    } else {
      start = u < 0x80 && !std::isalnum(u);
    }
  }
  return out;
}

std::string capitalize(const std::string& s) {
  std::string out = ascii_map(s, [](int c) { return std::tolower(c); });
  if (!out.empty() && static_cast<unsigned char>(out[0]) < 0x80)
    out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// str.strip(chars): without chars, Unicode whitespace; with chars, any of those code points.
std::string strip_chars(const std::string& s, const Value& chars, bool left, bool right) {
  if (chars.is_undefined() || chars.is(T::None)) return strip_space(s, left, right);
  const auto set_list = utf8_chars(need_string(chars, "strip()"));
  const std::set<std::string> set(set_list.begin(), set_list.end());
  const auto cs = utf8_chars(s);
  size_t begin = 0, end = cs.size();
  while (left && begin < end && set.count(cs[begin])) ++begin;
  while (right && end > begin && set.count(cs[end - 1])) --end;
  std::string out;
  for (size_t i = begin; i < end; ++i) out += cs[i];
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` between every code point (and at both ends).
    const auto cs = utf8_chars(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cs.size(); ++i) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      if (i < cs.size()) out += cs[i];
    }
    return out;
  }
  size_t at = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = s.find(from, at);
    if (found == std::string::npos) break;
    out.append(s, at, found - at);
    out += to;
    at = found + from.size();
    ++done;
  }
  out.append(s, at, std::string::npos);
  return out;
}

Value split(const std::string& s, const Value& sep, int64_t maxsplit) {
  std::vector<Value> parts;
  if (sep.is_undefined() || sep.is(T::None)) {
    // Runs of whitespace separate; none at the ends.
    std::string rest = strip_space(s, true, false);
    while (!rest.empty()) {
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(Value::string(rest));
        break;
      }
      const auto cs = utf8_chars(rest);
      std::string word;
      size_t i = 0, offset = 0;
      for (; i < cs.size(); ++i) {
        const std::string& c = cs[i];
        if (strip_space(c, true, true).empty()) break;  // a whitespace code point ends the word
        word += c;
        offset += c.size();
      }
      parts.push_back(Value::string(word));
      rest = strip_space(rest.substr(offset), true, false);
    }
    return Value::array(std::move(parts));
  }
  const std::string& separator = need_string(sep, "split()");
  if (separator.empty()) error("split(): empty separator");
  size_t at = 0;
  while (true) {
    const size_t found = (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) ? std::string::npos
                                                                                           : s.find(separator, at);
    if (found == std::string::npos) {
      parts.push_back(Value::string(s.substr(at)));
      break;
    }
    parts.push_back(Value::string(s.substr(at, found - at)));
    at = found + separator.size();
  }
  return Value::array(std::move(parts));
}

bool starts_or_ends(const std::string& s, const Value& pattern, bool start, const char* what) {
  const auto test = [&](const Value& p) {
    const std::string& x = need_string(p, what);
    return x.size() <= s.size() && (start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
  };
  if (pattern.is(T::Array)) return std::any_of(pattern.items().begin(), pattern.items().end(), test);
  return test(pattern);
}

// Python's list(x) for the iterables of a template.
std::vector<Value> to_list(const Value& v, const std::string& what) {
  switch (v.type()) {
    case T::Undefined:
      return {};
    case T::Array:
      return v.items();
    case T::String: {
      std::vector<Value> out;
      for (auto& c : utf8_chars(v.as_string())) out.push_back(Value::string(c));
      return out;
    }
    case T::Object: {
      std::vector<Value> out;
      for (const auto& [key, value] : v.fields().entries()) out.push_back(Value::string(key));
      return out;
    }
    default:
      error(fmt::format("{}: a {} is not iterable", what, v.type_name()));
  }
}

// Jinja's attribute lookup for selectattr/map/sort(attribute=...): "a.b" walks dicts, "0" indexes lists.
Value attribute_of(const Value& item, const std::string& path) {
  Value v = item;
  size_t at = 0;
  while (true) {
    const size_t dot = path.find('.', at);
    const std::string part = path.substr(at, dot == std::string::npos ? std::string::npos : dot - at);
    if (v.is_mapping()) {
      const Value* found = v.fields().find(part);
      v = found ? *found : Value::undefined(fmt::format("no attribute '{}'", part));
    } else if (v.is(T::Array) && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const size_t index = std::stoul(part);
      v = index < v.items().size() ? v.items()[index] : Value::undefined("index out of range");
    } else {
      return Value::undefined(fmt::format("no attribute '{}'", part));
    }
    if (dot == std::string::npos) return v;
    at = dot + 1;
  }
}

Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is(T::String)) return Value::string(ascii_map(v.as_string(), [](int c) { return std::tolower(c); }));
  return v;
}

std::string strftime_now(const std::string& format) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[256];
  const size_t n = std::strftime(buffer, sizeof buffer, format.c_str(), &local);
  return std::string(buffer, n);
}

Value select_like(const std::string& name, const Value& subject, const std::vector<Value>& args) {
  const bool by_attribute = name == "selectattr" || name == "rejectattr";
  const bool keep = name == "select" || name == "selectattr";
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.empty()) error(name + "() needs an attribute name");
    attribute = need_string(args[0], name + "() attribute");
    next = 1;
  }
  std::string test;
  std::vector<Value> test_args;
  if (next < args.size()) {
    test = need_string(args[next], name + "() test name");
    test_args.assign(args.begin() + static_cast<long>(next) + 1, args.end());
  }
  std::vector<Value> out;
  for (const Value& item : to_list(subject, name)) {
    const Value value = by_attribute ? attribute_of(item, attribute) : item;
    const bool passed = test.empty() ? value.truthy() : apply_test(test, value, test_args);
    if (passed == keep) out.push_back(item);
  }
  return Value::array(std::move(out));
}

}  // namespace

const std::vector<std::string>& filter_names() {
  static const std::vector<std::string> names = {
      "abs",   "capitalize", "count",   "d",         "default",    "first", "float",   "indent",     "int",
      "items", "join",       "last",    "length",    "list",       "lower", "map",     "reject",     "rejectattr",
      "replace", "reverse",  "round",   "safe",      "select",     "selectattr", "sort", "string",   "title",
      "tojson", "trim",      "unique",  "upper"};
  return names;
}

const std::vector<std::string>& test_names() {
  static const std::vector<std::string> names = {
      "boolean", "callable", "defined", "divisibleby", "eq",     "equalto", "even",     "false",    "float",
      "ge",      "gt",       "in",      "integer",     "iterable", "le",    "lower",    "lt",       "mapping",
      "ne",      "none",     "number",  "odd",         "sameas", "sequence", "string",  "true",     "undefined",
      "upper",   "==",       "!=",      "<",           "<=",     ">",       ">="};
  return names;
}

bool apply_test(const std::string& name, const Value& v, const std::vector<Value>& args) {
  const auto other = [&]() -> const Value& {
    if (args.empty()) error(fmt::format("the test '{}' needs an argument", name));
    return args[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is(T::None);
  if (name == "boolean") return v.is(T::Bool);
  if (name == "true") return v.is(T::Bool) && v.as_bool();
  if (name == "false") return v.is(T::Bool) && !v.as_bool();
  if (name == "string") return v.is(T::String);
  if (name == "number") return v.is(T::Int) || v.is(T::Float);
  if (name == "integer") return v.is(T::Int);
  if (name == "float") return v.is(T::Float);
  if (name == "mapping") return v.is(T::Object);
  if (name == "iterable") return v.is(T::Array) || v.is(T::String) || v.is(T::Object);
  if (name == "sequence") return v.is(T::Array) || v.is(T::String) || v.is(T::Object);
  if (name == "callable") return v.is(T::Function);
  if (name == "lower") return v.is(T::String) && ascii_map(v.as_string(), [](int c) { return std::tolower(c); }) == v.as_string();
  if (name == "upper") return v.is(T::String) && ascii_map(v.as_string(), [](int c) { return std::toupper(c); }) == v.as_string();
  if (name == "odd" || name == "even") {
    const int64_t i = need_int(v, "the test '" + name + "'");
    return (((i % 2) + 2) % 2 == 1) == (name == "odd");
  }
  if (name == "divisibleby") {
    const int64_t d = need_int(other(), "divisibleby");
    if (d == 0) error("divisibleby(0)");
    return need_int(v, "divisibleby") % d == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return equal(v, other());
  if (name == "ne" || name == "!=") return !equal(v, other());
  if (name == "lt" || name == "<") return less(v, other());
  if (name == "le" || name == "<=") return !less(other(), v);
  if (name == "gt" || name == ">") return less(other(), v);
  if (name == "ge" || name == ">=") return !less(v, other());
  if (name == "sameas") {
    const Value& o = other();
    if (v.type() != o.type()) return false;
    return v.is(T::None) || v.is(T::Undefined) || (v.is(T::Bool) && v.as_bool() == o.as_bool()) || equal(v, o);
  }
  if (name == "in") {
    const Value& c = other();
    if (c.is(T::String)) return v.is(T::String) && c.as_string().find(v.as_string()) != std::string::npos;
    if (c.is_mapping()) return v.is(T::String) && c.fields().find(v.as_string()) != nullptr;
    for (const Value& item : to_list(c, "in")) if (equal(item, v)) return true;
    return false;
  }
  error(fmt::format("unknown test '{}'{}", name, did_you_mean(name, test_names())));
}

Value apply_filter(const std::string& name, const Value& v, const std::vector<Value>& args, const Kwargs& kwargs) {
  const auto a = [&](size_t index, const char* key, Value fallback = {}) { return arg(args, kwargs, index, key, std::move(fallback)); };
  if (name == "safe") return v;
  if (name == "default" || name == "d") {
    const Value fallback = a(0, "default_value", Value::string(""));
    const bool boolean = a(1, "boolean", Value::boolean(false)).truthy();
    return (v.is_undefined() || (boolean && !v.truthy())) ? fallback : v;
  }
  if (name == "string") return Value::string(v.str());
  if (name == "tojson") {
    check_kwargs("tojson", kwargs, {"indent", "sort_keys", "ensure_ascii", "separators"});
    const Value indent = a(0, "indent", Value::none());
    if (a(99, "ensure_ascii", Value::boolean(false)).truthy()) error("tojson(ensure_ascii=true) is not supported");
    if (!a(99, "separators", Value::none()).is(T::None)) error("tojson(separators=...) is not supported");
    return Value::string(v.to_json(indent.is(T::None) ? -1 : static_cast<int>(need_int(indent, "tojson(indent)")),
                                   a(99, "sort_keys", Value::boolean(false)).truthy()));
  }
  if (name == "length" || name == "count") {
    if (v.is(T::String)) return Value::integer(static_cast<int64_t>(utf8_length(v.as_string())));
    if (v.is(T::Array)) return Value::integer(static_cast<int64_t>(v.items().size()));
    if (v.is_mapping()) return Value::integer(static_cast<int64_t>(v.fields().size()));
    if (v.is_undefined()) return Value::integer(0);
    error(fmt::format("a {} has no length", v.type_name()));
  }
  if (name == "first" || name == "last") {
    const auto items = to_list(v, name);
    if (items.empty()) return Value::undefined(fmt::format("'{}' of an empty sequence", name));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::array(to_list(v, "list"));
  if (name == "reverse") {
    if (v.is(T::String)) {
      auto cs = utf8_chars(v.as_string());
      std::string out;
      for (auto it = cs.rbegin(); it != cs.rend(); ++it) out += *it;
      return Value::string(out);
    }
    auto items = to_list(v, "reverse");
    std::reverse(items.begin(), items.end());
    return Value::array(std::move(items));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::array();
    if (!v.is_mapping()) error(fmt::format("items expects a dict, got {}", v.type_name()));
    std::vector<Value> out;
    for (const auto& [key, value] : v.fields().entries()) out.push_back(Value::array({Value::string(key), value}));
    return Value::array(std::move(out));
  }
  if (name == "join") {
    const std::string separator = need_string(a(0, "d", Value::string("")), "join() separator");
    const Value attribute = a(1, "attribute", Value::none());
    std::string out;
    bool first = true;
    for (const Value& item : to_list(v, "join")) {
      if (!first) out += separator;
      first = false;
      out += (attribute.is(T::None) ? item : attribute_of(item, attribute.str())).str();
    }
    return Value::string(out);
  }
  if (name == "unique") {
    std::vector<Value> out;
    for (const Value& item : to_list(v, "unique")) {
      const Value key = sort_key(item, false);
      if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equal(sort_key(o, false), key); }))
        out.push_back(item);
    }
    return Value::array(std::move(out));
  }
  if (name == "sort") {
    const bool reverse = a(0, "reverse", Value::boolean(false)).truthy();
    const bool case_sensitive = a(1, "case_sensitive", Value::boolean(false)).truthy();
    const Value attribute = a(2, "attribute", Value::none());
    auto items = to_list(v, "sort");
    const auto key = [&](const Value& item) {
      return sort_key(attribute.is(T::None) ? item : attribute_of(item, attribute.str()), case_sensitive);
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      return reverse ? less(key(y), key(x)) : less(key(x), key(y));
    });
    return Value::array(std::move(items));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr")
    return select_like(name, v, args);
  if (name == "map") {
    std::vector<Value> out;
    const Value attribute = a(99, "attribute");
    for (const Value& item : to_list(v, "map")) {
      if (!attribute.is_undefined()) {
        Value value = attribute_of(item, attribute.str());
        out.push_back(value.is_undefined() ? a(99, "default") : value);
      } else {
        if (args.empty()) error("map() needs a filter name or attribute=");
        out.push_back(apply_filter(need_string(args[0], "map() filter name"), item,
                                   std::vector<Value>(args.begin() + 1, args.end()), {}));
      }
    }
    return Value::array(std::move(out));
  }
  if (name == "int") {
    if (v.is(T::Float)) return Value::integer(static_cast<int64_t>(v.as_double()));
    if (v.is_number()) return Value::integer(v.as_int());
    if (v.is(T::String)) {
      try {
        size_t used = 0;
        const std::string text = strip_space(v.as_string(), true, true);
        const int64_t i = std::stoll(text, &used);
        if (used == text.size()) return Value::integer(i);
      } catch (const std::exception&) {
      }
    }
    return a(0, "default", Value::integer(0));
  }
  if (name == "float") {
    if (v.is_number()) return Value::floating(v.as_double());
    if (v.is(T::String)) {
      try {
        size_t used = 0;
        const std::string text = strip_space(v.as_string(), true, true);
        const double d = std::stod(text, &used);
        if (used == text.size()) return Value::floating(d);
      } catch (const std::exception&) {
      }
    }
    return a(0, "default", Value::floating(0));
  }
  if (name == "abs") {
    if (v.is(T::Float)) return Value::floating(std::fabs(v.as_double()));
    if (v.is_number()) return Value::integer(std::llabs(v.as_int()));
    error(fmt::format("abs expects a number, got {}", v.type_name()));
  }
  if (name == "round") {
    if (!v.is_number()) error(fmt::format("round expects a number, got {}", v.type_name()));
    const int64_t precision = need_int(a(0, "precision", Value::integer(0)), "round(precision)");
    const std::string method = a(1, "method", Value::string("common")).str();
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double x = v.as_double() * scale;
    const double r = method == "floor" ? std::floor(x) : method == "ceil" ? std::ceil(x) : std::round(x);
    return Value::floating(r / scale);
  }
  // The remaining filters work on strings.
  if (name == "trim" || name == "upper" || name == "lower" || name == "title" || name == "capitalize" ||
      name == "replace" || name == "indent") {
    const std::string s = v.str();
    if (name == "trim") return Value::string(strip_chars(s, a(0, "chars"), true, true));
    if (name == "upper") return Value::string(ascii_map(s, [](int c) { return std::toupper(c); }));
    if (name == "lower") return Value::string(ascii_map(s, [](int c) { return std::tolower(c); }));
    if (name == "title") return Value::string(title_case(s));
    if (name == "capitalize") return Value::string(capitalize(s));
    if (name == "replace") {
      return Value::string(replace_all(s, need_string(a(0, "old"), "replace() old"), need_string(a(1, "new"), "replace() new"),
                                       need_int(a(2, "count", Value::integer(-1)), "replace() count")));
    }
    const Value width = a(0, "width", Value::integer(4));
    const std::string pad = width.is(T::String) ? width.as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, need_int(width, "indent(width)"))), ' ');
    const bool first = a(1, "first", Value::boolean(false)).truthy();
    const bool blank = a(2, "blank", Value::boolean(false)).truthy();
    std::string out;
    size_t at = 0;
    for (int line = 0;; ++line) {
      const size_t nl = s.find('\n', at);
      const std::string text = s.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
      if ((line > 0 || first) && (blank || !text.empty())) out += pad;
      out += text;
      if (nl == std::string::npos) break;
      out += '\n';
      at = nl + 1;
    }
    return Value::string(out);
  }
  error(fmt::format("unknown filter '{}'{}", name, did_you_mean(name, filter_names())));
}

Value method(const Value& subject, const std::string& name) {
  const auto bind = [&](Function f) { return Value::function(subject.type_name() + "." + name, std::move(f)); };
  if (subject.is(T::String)) {
    const std::string s = subject.as_string();
    if (name == "startswith" || name == "endswith") {
      return bind([s, name](const std::vector<Value>& args, const Kwargs&) {
        if (args.empty()) error(name + "() takes at least 1 argument");
        return Value::boolean(starts_or_ends(s, args[0], name == "startswith", name.c_str()));
      });
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      return bind([s, name](const std::vector<Value>& args, const Kwargs&) {
        return Value::string(strip_chars(s, args.empty() ? Value() : args[0], name != "rstrip", name != "lstrip"));
      });
    }
    if (name == "split") {
      return bind([s](const std::vector<Value>& args, const Kwargs& kwargs) {
        return split(s, arg(args, kwargs, 0, "sep"), need_int(arg(args, kwargs, 1, "maxsplit", Value::integer(-1)), "split(maxsplit)"));
      });
    }
    if (name == "replace") {
      return bind([s](const std::vector<Value>& args, const Kwargs& kwargs) {
        if (args.size() < 2) error("replace() takes at least 2 arguments");
        return Value::string(replace_all(s, need_string(args[0], "replace() old"), need_string(args[1], "replace() new"),
                                         need_int(arg(args, kwargs, 2, "count", Value::integer(-1)), "replace() count")));
      });
    }
    if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
      return bind([subject, name](const std::vector<Value>&, const Kwargs&) { return apply_filter(name, subject, {}, {}); });
    }
    if (name == "find" || name == "count") {
      return bind([s, name](const std::vector<Value>& args, const Kwargs&) {
        if (args.empty()) error(name + "() takes at least 1 argument");
        const std::string& part = need_string(args[0], name + "()");
        if (name == "find") {
          const size_t at = s.find(part);
          return Value::integer(at == std::string::npos ? -1 : static_cast<int64_t>(utf8_length(s.substr(0, at))));
        }
        if (part.empty()) return Value::integer(static_cast<int64_t>(utf8_length(s) + 1));
        int64_t n = 0;
        for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + part.size())) ++n;
        return Value::integer(n);
      });
    }
    if (name == "join") {
      return bind([s](const std::vector<Value>& args, const Kwargs&) {
        if (args.empty()) error("join() takes 1 argument");
        return apply_filter("join", args[0], {Value::string(s)}, {});
      });
    }
    return Value::undefined(fmt::format("a string has no method '{}'", name));
  }
  if (subject.is(T::Object)) {
    if (name == "get") {
      return bind([subject](const std::vector<Value>& args, const Kwargs&) {
        if (args.empty()) error("get() takes at least 1 argument");
        const Value* found = args[0].is(T::String) ? subject.fields().find(args[0].as_string()) : nullptr;
        return found ? *found : (args.size() > 1 ? args[1] : Value::none());
      });
    }
    if (name == "items") return bind([subject](const std::vector<Value>&, const Kwargs&) { return apply_filter("items", subject, {}, {}); });
    if (name == "keys") return bind([subject](const std::vector<Value>&, const Kwargs&) { return apply_filter("list", subject, {}, {}); });
    if (name == "values") {
      return bind([subject](const std::vector<Value>&, const Kwargs&) {
        std::vector<Value> out;
        for (const auto& [key, value] : subject.fields().entries()) out.push_back(value);
        return Value::array(std::move(out));
      });
    }
  }
  return Value::undefined(fmt::format("a {} has no attribute '{}'", subject.type_name(), name));
}

Object global_functions() {
  Object g;
  g.set("raise_exception", Value::function("raise_exception", [](const std::vector<Value>& args, const Kwargs&) -> Value {
          throw TemplateRaised(args.empty() ? std::string("raise_exception() called") : args[0].str());
        }));
  g.set("namespace", Value::function("namespace", [](const std::vector<Value>& args, const Kwargs& kwargs) {
          Object fields;
          if (!args.empty()) {
            if (args.size() > 1 || !args[0].is(T::Object)) error("namespace() takes at most one dict and keyword arguments");
            fields = args[0].fields();
          }
          for (const auto& [key, value] : kwargs) fields.set(key, value);
          return Value::ns(std::move(fields));
        }));
  g.set("range", Value::function("range", [](const std::vector<Value>& args, const Kwargs&) {
          if (args.empty() || args.size() > 3) error("range() takes 1 to 3 integers");
          int64_t start = 0, stop, step = 1;
          if (args.size() == 1) {
            stop = need_int(args[0], "range()");
          } else {
            start = need_int(args[0], "range()");
            stop = need_int(args[1], "range()");
            if (args.size() == 3) step = need_int(args[2], "range()");
          }
          if (step == 0) error("range() step must not be zero");
          std::vector<Value> out;
          for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (out.size() >= 100000) error("range() is limited to 100000 items");
            out.push_back(Value::integer(i));
          }
          return Value::array(std::move(out));
        }));
  g.set("strftime_now", Value::function("strftime_now", [](const std::vector<Value>& args, const Kwargs&) {
          if (args.size() != 1) error("strftime_now() takes one format string");
          return Value::string(strftime_now(need_string(args[0], "strftime_now()")));
        }));
  return g;
}

}  // namespace retain::serve::jinja
