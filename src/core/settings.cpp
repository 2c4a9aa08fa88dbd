#include "retain/core/settings.h"

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

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}
}  // namespace

void reject_unknown_keys(const json& object, const std::vector<std::string>& known, const std::string& where) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    std::string best;
    size_t best_distance = std::string::npos;
    for (const auto& k : known) {
      const size_t d = edit_distance(it.key(), k);
      if (d < best_distance) best_distance = d, best = k;
    }
    const bool close = !best.empty() && best_distance <= std::max<size_t>(2, it.key().size() / 3);
    fail("config", "{}: unknown setting \"{}\"{} (known: {})", where, it.key(),
         close ? " — did you mean \"" + best + "\"?" : std::string(), fmt::join(known, ", "));
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
