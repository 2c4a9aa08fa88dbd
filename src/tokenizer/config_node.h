// config_node.h (private) — a position inside a parsed tokenizer.json, for typed access and errors
// that name the file and the JSON path, e.g.
// "[tokenizer] /x/tokenizer.json: pre_tokenizer.pretokenizers[1]: type \"UnicodeScripts\" ...".
#pragma once

#include "retain/core/error.h"
#include "retain/core/json.h"
#include "retain/tokenizer/regex.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace retain::tokenizer_detail {

class ConfigNode {
 public:
  ConfigNode(const json& value, std::string origin, std::string path)
      : value_(&value), origin_(std::move(origin)), path_(std::move(path)) {}

  const json& value() const { return *value_; }
  const std::string& origin() const { return origin_; }
  const std::string& path() const { return path_; }

  /// Throws "[tokenizer] ORIGIN: PATH: message".
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    std::string where = path_.empty() ? origin_ : origin_ + ": " + path_;
    ::retain::fail("tokenizer", "{}: {}", where, fmt::format(format, std::forward<Args>(args)...));
  }

  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool is_null() const { return value_->is_null(); }
  /// Whether the key is present with a non-null value.
  bool has(const std::string& key) const {
    if (!value_->is_object()) return false;
    auto it = value_->find(key);
    return it != value_->end() && !it->is_null();
  }
  /// Child by key; fails if absent (or null).
  ConfigNode at(const std::string& key) const {
    expect_object();
    auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) fail("missing key \"{}\"", key);
    return ConfigNode(*it, origin_, child_path(key));
  }
  /// Child by index of an array.
  ConfigNode at(size_t index) const {
    expect_array();
    return ConfigNode((*value_)[index], origin_, path_ + "[" + std::to_string(index) + "]");
  }
  size_t size() const { return value_->size(); }
  /// build(element) for each element of the array under `key`: the parts of a "Sequence" component.
  template <class Build>
  auto build_each(const std::string& key, Build build) const {
    ConfigNode list = at(key);
    list.expect_array();
    std::vector<decltype(build(list))> parts;
    for (size_t i = 0; i < list.size(); ++i) parts.push_back(build(list.at(i)));
    return parts;
  }

  void expect_object() const {
    if (!value_->is_object()) fail("expected a JSON object, found {}", type_name());
  }
  void expect_array() const {
    if (!value_->is_array()) fail("expected a JSON array, found {}", type_name());
  }
  std::string as_string() const {
    if (!value_->is_string()) fail("expected a string, found {}", type_name());
    return value_->get<std::string>();
  }
  bool as_bool() const {
    if (!value_->is_boolean()) fail("expected a boolean, found {}", type_name());
    return value_->get<bool>();
  }
  int64_t as_int() const {
    if (!value_->is_number_integer()) fail("expected an integer, found {}", type_name());
    return value_->get<int64_t>();
  }

  std::string get_string(const std::string& key) const { return at(key).as_string(); }
  std::string get_string_or(const std::string& key, const std::string& fallback) const {
    return has(key) ? at(key).as_string() : fallback;
  }
  std::optional<std::string> get_optional_string(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    return at(key).as_string();
  }
  bool get_bool(const std::string& key) const { return at(key).as_bool(); }
  bool get_bool_or(const std::string& key, bool fallback) const { return has(key) ? at(key).as_bool() : fallback; }
  int64_t get_int(const std::string& key) const { return at(key).as_int(); }
  int64_t get_int_or(const std::string& key, int64_t fallback) const { return has(key) ? at(key).as_int() : fallback; }

  /// The "type" tag of a component object.
  std::string type() const {
    expect_object();
    if (!has("type")) fail("missing key \"type\" (untagged legacy components are not supported)");
    return get_string("type");
  }

  const char* type_name() const { return detail::json_type_name(*value_); }

 private:
  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const json* value_;
  std::string origin_;
  std::string path_;
};

/// A `{"String": "..."}` or `{"Regex": "..."}` pattern object, compiled. A String pattern is
/// matched literally (HF escapes it into a regex, so an empty String matches everywhere).
inline Regex make_pattern(const ConfigNode& node) {
  node.expect_object();
  if (node.has("String")) return Regex::literal(node.get_string("String"));
  if (node.has("Regex")) {
    std::string pattern = node.get_string("Regex");
    try {
      return Regex(pattern);
    } catch (const Error& e) {
      node.fail("{}", e.what());
    }
  }
  node.fail("expected {{\"String\": ...}} or {{\"Regex\": ...}}, found {}", node.value().dump());
}

}  // namespace retain::tokenizer_detail
