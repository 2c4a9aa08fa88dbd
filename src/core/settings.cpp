#include "retain/core/settings.h"

#include "retain/core/suggest.h"

#include <algorithm>

namespace retain::settings::detail {

std::string describe_expected(const bool&) { return "true or false"; }
std::string describe_expected(const int64_t&) { return "an integer"; }
std::string describe_expected(const double&) { return "a number"; }
std::string describe_expected(const std::string&) { return "a string"; }
std::string describe_expected(const std::vector<std::string>&) { return "a list of strings"; }

bool assign(bool& field, const json& value) {
  if (!value.is_boolean()) return false;
  field = value.get<bool>();
  return true;
}

bool assign(int64_t& field, const json& value) {
  if (value.is_number_integer()) {
    field = value.get<int64_t>();
    return true;
  }
  if (value.is_number_float()) {  // 1e3 written for 1000 is fine; 2.5 is not an integer
    const double d = value.get<double>();
    if (d != static_cast<double>(static_cast<int64_t>(d))) return false;
    field = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

bool assign(double& field, const json& value) {
  if (!value.is_number()) return false;
  field = value.get<double>();
  return true;
}

bool assign(std::string& field, const json& value) {
  if (!value.is_string()) return false;
  field = value.get<std::string>();
  return true;
}

bool assign(std::vector<std::string>& field, const json& value) {
  if (!value.is_array()) return false;
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string()) return false;
    out.push_back(item.get<std::string>());
  }
  field = std::move(out);
  return true;
}

void reject_unknown_keys(const json& object, const std::vector<std::string>& known, const std::string& where) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    const auto suggestion = closest_match(it.key(), known);
    fail("config", "{}: unknown setting \"{}\"{} (known: {})", where, it.key(),
         suggestion ? " — did you mean \"" + *suggestion + "\"?" : std::string(), fmt::join(known, ", "));
  }
}

json parse_override_value(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error&) {
    return json(text);
  }
}

}  // namespace retain::settings::detail
