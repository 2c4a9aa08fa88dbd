// retain/core/settings.h — typed configuration sections bound to JSON/TOML by a visitor.
//
// A section is a plain struct with defaults and a `visit` that names each field once:
//
//   struct OptimizerSettings {
//     double lr = 1e-4;
//     std::string schedule = "linear";
//     template <class V> void visit(V& v) {
//       v("lr", lr, "peak learning rate");
//       v("schedule", schedule, "constant | linear | cosine");
//     }
//   };
//
// From that one list come reading (unknown keys and wrong types are errors naming the section, key
// and what was expected), writing (the resolved values, saved with every run), `--set key=value`
// overrides and help text. Field types: bool, int64_t, double, std::string, std::vector<std::string>.
#pragma once

#include "retain/core/error.h"
#include "retain/core/json.h"

#include <set>
#include <string>
#include <vector>

namespace retain::settings {

namespace detail {
std::string describe_expected(const bool&);
std::string describe_expected(const int64_t&);
std::string describe_expected(const double&);
std::string describe_expected(const std::string&);
std::string describe_expected(const std::vector<std::string>&);
/// Assigns `value` to `field` when the JSON type fits; false otherwise.
bool assign(bool& field, const json& value);
bool assign(int64_t& field, const json& value);
bool assign(double& field, const json& value);
bool assign(std::string& field, const json& value);
bool assign(std::vector<std::string>& field, const json& value);
/// Throws for keys of `object` not in `known`, suggesting the closest known key.
void reject_unknown_keys(const json& object, const std::vector<std::string>& known, const std::string& where);
/// "1e-4" → 0.0001, "true" → true, "[\"a\"]" → list; text that is not JSON stays a string.
json parse_override_value(const std::string& text);
}  // namespace detail

/// Reads the keys present in `object` into `section`; absent keys keep their defaults.
template <class Section>
void read(Section& section, const json& object, const std::string& where) {
  if (object.is_null()) return;
  if (!object.is_object()) fail("config", "{}: expected a table of settings, found {}", where, object.dump());
  std::vector<std::string> known;
  auto visitor = [&](const char* key, auto& field, const char*) {
    known.emplace_back(key);
    auto it = object.find(key);
    if (it == object.end()) return;
    if (!detail::assign(field, *it))
      fail("config", "{}.{} = {} has the wrong type: expected {}", where, key, it->dump(), detail::describe_expected(field));
  };
  section.visit(visitor);
  detail::reject_unknown_keys(object, known, where);
}

/// The resolved values of `section`, in visit order.
template <class Section>
json to_json(Section& section) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  auto visitor = [&](const char* key, auto& field, const char*) { out[key] = field; };
  section.visit(visitor);
  return json::parse(out.dump());
}

/// Applies one override "key=value" (key within this section). Unknown key: error with a suggestion.
template <class Section>
void set(Section& section, const std::string& key, const std::string& value_text, const std::string& where) {
  json object = json::object();
  object[key] = detail::parse_override_value(value_text);
  read(section, object, where);
}

/// "key  (type, default)  help" lines for --help output.
template <class Section>
std::vector<std::string> describe(Section& section, const std::string& prefix) {
  std::vector<std::string> lines;
  auto visitor = [&](const char* key, auto& field, const char* help) {
    lines.push_back(prefix + key + " = " + json(field).dump() + "  # " + help);
  };
  section.visit(visitor);
  return lines;
}

}  // namespace retain::settings
