// jinja_value.h — the runtime values of the chat-template renderer and their Python semantics:
// truthiness, equality, ordering, str() and repr(), and JSON in and out (tojson).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace retain::serve::jinja {

class Value;

/// Keyword arguments of a call, in call order.
using Kwargs = std::vector<std::pair<std::string, Value>>;
/// A callable: positional arguments and keyword arguments in, a value out; errors as std::runtime_error
/// (the evaluator adds the position).
using Function = std::function<Value(const std::vector<Value>&, const Kwargs&)>;

/// An insertion-ordered string-keyed map (a Python dict / Jinja namespace).
class Object {
 public:
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value value);
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
};

class Value {
 public:
  enum class Type { Undefined, None, Bool, Int, Float, String, Array, Object, Namespace, Function };

  Value() = default;  // undefined
  static Value undefined(std::string what = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(std::string s);
  static Value array(std::vector<Value> items = {});
  static Value object(Object o = {});
  static Value ns(Object o = {});
  static Value function(std::string name, Function f);
  static Value from_json(const nlohmann::json& j);

  Type type() const { return type_; }
  bool is(Type t) const { return type_ == t; }
  bool is_undefined() const { return type_ == Type::Undefined; }
  bool is_number() const { return type_ == Type::Int || type_ == Type::Float || type_ == Type::Bool; }
  bool is_mapping() const { return type_ == Type::Object || type_ == Type::Namespace; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return type_ == Type::Bool ? (b_ ? 1 : 0) : i_; }
  double as_double() const { return type_ == Type::Float ? d_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return *s_; }
  const std::vector<Value>& items() const { return *array_; }
  const Object& fields() const { return *object_; }
  Object& mutable_fields() const { return *object_; }
  const Function& callable() const { return *function_; }
  /// For undefined: what was looked up ("message.tool_calls"); for functions: the name.
  const std::string& description() const { return *s_; }

  /// Python truthiness: empty strings, lists and dicts, 0, none and undefined are false.
  bool truthy() const;
  /// Python str(): strings as they are, None/True/False, ints, floats as repr, containers as repr.
  std::string str() const;
  /// Python repr(): 'quoted' strings, [a, b], {'k': v}.
  std::string repr() const;
  /// json.dumps(ensure_ascii=False): indent < 0 is compact with ", " and ": ".
  std::string to_json(int indent = -1, bool sort_keys = false) const;
  /// "string", "list", "dict", ... as Python names the type (for errors).
  std::string type_name() const;

 private:
  Type type_ = Type::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<std::string> s_;
  std::shared_ptr<std::vector<Value>> array_;
  std::shared_ptr<Object> object_;
  std::shared_ptr<Function> function_;
};

/// Python ==: numbers (bool included) by value, strings, lists and dicts element-wise; other
/// types equal only to themselves (undefined == undefined, none == none).
bool equal(const Value& a, const Value& b);
/// Python <, for numbers with numbers and strings with strings (code point order); throws
/// std::runtime_error otherwise.
bool less(const Value& a, const Value& b);

/// The number of code points of UTF-8 text (Python len() of a str).
size_t utf8_length(const std::string& s);
/// The code points of UTF-8 text, each as its UTF-8 bytes (Python list(str)).
std::vector<std::string> utf8_chars(const std::string& s);
/// Whether `c` (a code point) is whitespace as JavaScript's trim() and Jinja's lexer regard it.
bool is_unicode_space(uint32_t c);
/// Strips Unicode whitespace (str.strip() without arguments) from the left and/or right.
std::string strip_space(const std::string& s, bool left, bool right);

}  // namespace retain::serve::jinja
