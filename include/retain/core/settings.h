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
// overrides and help text. Field types: bool, int64_t, double, std::string, std::vector<std::string>,
// and enums that name their values through EnumNames (below).
#pragma once

#include "retain/core/error.h"
#include "retain/core/json.h"

#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace retain::settings {

/// The names of an enum's values, for enum fields: specialise it next to the enum, names in the
/// order help and error messages list them:
///
///   template <> struct settings::EnumNames<Schedule> {
///     static constexpr std::pair<const char*, Schedule> values[] = {
///         {"constant", Schedule::Constant}, {"linear", Schedule::Linear}, {"cosine", Schedule::Cosine}};
///   };
///
/// A field is read from its name once, where the settings are read; an unknown name is an error
/// naming the key and the names (`optim.schedule = "cosin" is not known: expected constant | linear
/// | cosine`). Written back (to_json, describe) as the same name.
template <class E>
struct EnumNames;

/// The name of `value` ("?" for a value the table lacks).
template <class E>
const char* name_of(E value) {
  for (const auto& [name, v] : EnumNames<E>::values)
    if (v == value) return name;
  return "?";
}

/// The value named `name`, if any.
template <class E>
std::optional<E> value_named(const std::string& name) {
  for (const auto& [n, v] : EnumNames<E>::values)
    if (name == n) return v;
  return std::nullopt;
}

/// "constant | linear | cosine".
template <class E>
std::string names_of() {
  std::string out;
  for (const auto& [name, v] : EnumNames<E>::values) out += (out.empty() ? "" : " | ") + std::string(name);
  return out;
}

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
    using Field = std::decay_t<decltype(field)>;
    if constexpr (std::is_enum_v<Field>) {
      if (!it->is_string())
        fail("config", "{}.{} = {} has the wrong type: expected one of {}", where, key, it->dump(), names_of<Field>());
      const auto value = value_named<Field>(it->template get<std::string>());
      if (!value)
        fail("config", "{}.{} = \"{}\" is not known: expected {}", where, key, it->template get<std::string>(),
             names_of<Field>());
      field = *value;
    } else if (!detail::assign(field, *it)) {
      fail("config", "{}.{} = {} has the wrong type: expected {}", where, key, it->dump(),
           detail::describe_expected(field));
    }
  };
  section.visit(visitor);
  detail::reject_unknown_keys(object, known, where);
}

/// The resolved values of `section`, in visit order.
template <class Section>
json to_json(Section& section) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  auto visitor = [&](const char* key, auto& field, const char*) {
    if constexpr (std::is_enum_v<std::decay_t<decltype(field)>>)
      out[key] = name_of(field);
    else
      out[key] = field;
  };
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
    json value;
    if constexpr (std::is_enum_v<std::decay_t<decltype(field)>>)
      value = name_of(field);
    else
      value = field;
    lines.push_back(prefix + key + " = " + value.dump() + "  # " + help);
  };
  section.visit(visitor);
  return lines;
}

}  // namespace retain::settings
