// jinja_value.cpp — runtime values of the chat-template renderer (see jinja_value.h).
#include "jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace retain::serve::jinja {

const Value* Object::find(const std::string& key) const {
  for (const auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

Value* Object::find(const std::string& key) {
  for (auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

void Object::set(const std::string& key, Value value) {
  if (Value* existing = find(key)) {
    *existing = std::move(value);
    return;
  }
  entries_.emplace_back(key, std::move(value));
}

Value Value::undefined(std::string what) {
  Value v;
  v.s_ = std::make_shared<std::string>(std::move(what));
  return v;
}
Value Value::none() {
  Value v;
  v.type_ = Type::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.type_ = Type::Int;
  v.i_ = i;
  return v;
}
Value Value::floating(double d) {
  Value v;
  v.type_ = Type::Float;
  v.d_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.s_ = std::make_shared<std::string>(std::move(s));
  return v;
}
Value Value::array(std::vector<Value> items) {
  Value v;
  v.type_ = Type::Array;
  v.array_ = std::make_shared<std::vector<Value>>(std::move(items));
  return v;
}
Value Value::object(Object o) {
  Value v;
  v.type_ = Type::Object;
  v.object_ = std::make_shared<Object>(std::move(o));
  return v;
}
Value Value::ns(Object o) {
  Value v = object(std::move(o));
  v.type_ = Type::Namespace;
  return v;
}
Value Value::function(std::string name, Function f) {
  Value v;
  v.type_ = Type::Function;
  v.s_ = std::make_shared<std::string>(std::move(name));
  v.function_ = std::make_shared<Function>(std::move(f));
  return v;
}

Value Value::from_json(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return none();
    case nlohmann::json::value_t::boolean:
      return boolean(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return integer(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return integer(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::json::value_t::number_float:
      return floating(j.get<double>());
    case nlohmann::json::value_t::string:
      return string(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      for (const auto& item : j) items.push_back(from_json(item));
      return array(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Object o;
      for (const auto& [key, item] : j.items()) o.set(key, from_json(item));
      return object(std::move(o));
    }
    default:
      throw std::runtime_error("cannot use a binary JSON value in a template");
  }
}

bool Value::truthy() const {
  switch (type_) {
    case Type::Undefined:
    case Type::None:
      return false;
    case Type::Bool:
      return b_;
    case Type::Int:
      return i_ != 0;
    case Type::Float:
      return d_ != 0;
    case Type::String:
      return !s_->empty();
    case Type::Array:
      return !array_->empty();
    case Type::Object:
      return object_->size() > 0;
    case Type::Namespace:
    case Type::Function:
      return true;
  }
  return false;
}

namespace {

// Python's repr of a float: the shortest digits that read back the same; fixed notation for
// exponents in [-4, 16) with ".0" on whole numbers, else d.ddde±XX.
std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  std::string sci;
  int digits = 1;
  for (; digits <= 17; ++digits) {
    sci = fmt::format("{:.{}e}", d, digits - 1);
    if (std::stod(sci) == d) break;
  }
  const int exponent = std::stoi(sci.substr(sci.find('e') + 1));
  if (exponent >= -4 && exponent < 16) {
    std::string text = fmt::format("{:.{}f}", d, std::max(0, digits - 1 - exponent));
    if (text.find('.') == std::string::npos) text += ".0";
    return text;
  }
  const std::string mantissa = sci.substr(0, sci.find('e'));
  return fmt::format("{}e{}{:02d}", mantissa, exponent < 0 ? '-' : '+', std::abs(exponent));
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  out += '"';
}

void python_string_repr(std::string& out, const std::string& s) {
  const char quote = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  out += quote;
  for (unsigned char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == static_cast<unsigned char>(quote))
      out += std::string("\\") + quote;
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  out += quote;
}

void to_json_into(std::string& out, const Value& v, int indent, bool sort_keys, int depth) {
  const auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<size_t>(indent * level), ' ');
  };
  const char* item_separator = indent >= 0 ? "," : ", ";
  switch (v.type()) {
    case Value::Type::Undefined:
    case Value::Type::None:
      out += "null";
      return;
    case Value::Type::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Type::Int:
      out += std::to_string(v.as_int());
      return;
    case Value::Type::Float:
      if (std::isnan(v.as_double()) || std::isinf(v.as_double())) {
        out += std::isnan(v.as_double()) ? "NaN" : (v.as_double() > 0 ? "Infinity" : "-Infinity");
        return;
      }
      out += float_repr(v.as_double());
      return;
    case Value::Type::String:
      json_string(out, v.as_string());
      return;
    case Value::Type::Array: {
      const auto& items = v.items();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_separator;
        if (indent >= 0) newline(depth + 1);
        to_json_into(out, items[i], indent, sort_keys, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out += ']';
      return;
    }
    case Value::Type::Object:
    case Value::Type::Namespace: {
      auto entries = v.fields().entries();
      if (entries.empty()) {
        out += "{}";
        return;
      }
      if (sort_keys)
        std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += item_separator;
        if (indent >= 0) newline(depth + 1);
        json_string(out, entries[i].first);
        out += ": ";
        to_json_into(out, entries[i].second, indent, sort_keys, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out += '}';
      return;
    }
    case Value::Type::Function:
      throw std::runtime_error("cannot convert a function ('" + v.description() + "') to JSON");
  }
}

}  // namespace

std::string Value::repr() const {
  std::string out;
  switch (type_) {
    case Type::String:
      python_string_repr(out, *s_);
      return out;
    case Type::Array: {
      out += '[';
      for (size_t i = 0; i < array_->size(); ++i) {
        if (i) out += ", ";
        out += (*array_)[i].repr();
      }
      out += ']';
      return out;
    }
    case Type::Object: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : object_->entries()) {
        if (!first) out += ", ";
        first = false;
        python_string_repr(out, key);
        out += ": ";
        out += value.repr();
      }
      out += '}';
      return out;
    }
    default:
      return str();
  }
}

std::string Value::str() const {
  switch (type_) {
    case Type::Undefined:
      return "";
    case Type::None:
      return "None";
    case Type::Bool:
      return b_ ? "True" : "False";
    case Type::Int:
      return std::to_string(i_);
    case Type::Float:
      return float_repr(d_);
    case Type::String:
      return *s_;
    case Type::Array:
    case Type::Object:
      return repr();
    case Type::Namespace:
      return "<Namespace>";
    case Type::Function:
      return "<function " + *s_ + ">";
  }
  return "";
}

std::string Value::to_json(int indent, bool sort_keys) const {
  std::string out;
  to_json_into(out, *this, indent, sort_keys, 0);
  return out;
}

std::string Value::type_name() const {
  switch (type_) {
    case Type::Undefined:
      return "undefined";
    case Type::None:
      return "none";
    case Type::Bool:
      return "bool";
    case Type::Int:
      return "int";
    case Type::Float:
      return "float";
    case Type::String:
      return "string";
    case Type::Array:
      return "list";
    case Type::Object:
      return "dict";
    case Type::Namespace:
      return "namespace";
    case Type::Function:
      return "function";
  }
  return "?";
}

bool equal(const Value& a, const Value& b) {
  using T = Value::Type;
  if (a.is_number() && b.is_number()) {
    if (a.is(T::Float) || b.is(T::Float)) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::Undefined:
    case T::None:
      return true;
    case T::String:
      return a.as_string() == b.as_string();
    case T::Array: {
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!equal(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case T::Object:
    case T::Namespace: {
      if (a.fields().size() != b.fields().size()) return false;
      for (const auto& [key, value] : a.fields().entries()) {
        const Value* other = b.fields().find(key);
        if (!other || !equal(value, *other)) return false;
      }
      return true;
    }
    default:
      return &a.callable() == &b.callable();
  }
}

bool less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is(Value::Type::Float) || b.is(Value::Type::Float)) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is(Value::Type::String) && b.is(Value::Type::String)) return a.as_string() < b.as_string();
  if (a.is(Value::Type::Array) && b.is(Value::Type::Array)) {
    return std::lexicographical_compare(a.items().begin(), a.items().end(), b.items().begin(), b.items().end(), less);
  }
  throw std::runtime_error("cannot compare " + a.type_name() + " with " + b.type_name() + " by order");
}

namespace {

// Decodes one code point at s[i] (advancing i); invalid bytes decode as themselves.
uint32_t decode(const std::string& s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
  if (i + extra >= s.size()) extra = 0;
  uint32_t code = extra == 0 ? c : (c & (0x3f >> extra));
  for (int k = 1; k <= extra; ++k) {
    const auto next = static_cast<unsigned char>(s[i + k]);
    if ((next & 0xc0) != 0x80) {
      extra = 0;
      code = c;
      break;
    }
    code = (code << 6) | (next & 0x3f);
  }
  i += 1 + extra;
  return code;
}

}  // namespace

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) decode(s, i);
  return n;
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    decode(s, i);
    chars.push_back(s.substr(start, i - start));
  }
  return chars;
}

bool is_unicode_space(uint32_t c) {
  // Python's str.isspace(): the ASCII separators, U+0085, U+00A0, U+1680, U+2000..U+200A,
  // U+2028, U+2029, U+202F, U+205F and U+3000.
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

std::string strip_space(const std::string& s, bool left, bool right) {
  size_t begin = 0, end = s.size();
  if (left) {
    while (begin < end) {
      size_t i = begin;
      if (!is_unicode_space(decode(s, i))) break;
      begin = i;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
      size_t i = start;
      if (!is_unicode_space(decode(s, i)) || i != end) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

}  // namespace retain::serve::jinja
