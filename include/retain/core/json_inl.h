// Implementation of the json_get templates declared in retain/core/json.h.
#pragma once

#include "retain/core/error.h"

#include <cmath>
#include <limits>
#include <type_traits>

namespace retain {

namespace detail {
const char* json_type_name(const json& value);
template <typename T>
const char* expected_type_name() {
  if constexpr (std::is_same_v<T, bool>) return "a boolean";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else return "a value of the expected type";
}
template <typename T>
bool json_is(const json& v) {
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_integral_v<T>) {
    if (v.is_number_integer()) return true;
    if (!v.is_number_float()) return false;
    // A whole float within T's range (casting one outside it is undefined: fuzz/model_config.cpp).
    const double d = v.get<double>();
    const double limit = std::ldexp(1.0, std::numeric_limits<T>::digits);  // 2^63 for int64: T holds [-limit, limit)
    return d >= (std::is_signed_v<T> ? -limit : 0.0) && d < limit && d == std::trunc(d);
  }
  else if constexpr (std::is_floating_point_v<T>) return v.is_number();
  else if constexpr (std::is_same_v<T, std::string>) return v.is_string();
  else return true;
}
}  // namespace detail

template <typename T>
T json_get(const json& object, const std::string& key, const std::string& where, const std::string& component) {
  if (!object.is_object()) fail(component, "{}: expected a JSON object, found {}", where, detail::json_type_name(object));
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) fail(component, "{}: missing key \"{}\" ({} expected)", where, key, detail::expected_type_name<T>());
  if (!detail::json_is<T>(*it))
    fail(component, "{}: key \"{}\" is {}, expected {}", where, key, detail::json_type_name(*it), detail::expected_type_name<T>());
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (it->is_number_float()) return static_cast<T>(it->template get<double>());
  }
  return it->template get<T>();
}

template <typename T>
T json_get_or(const json& object, const std::string& key, const T& fallback, const std::string& where,
              const std::string& component) {
  if (!object.is_object()) fail(component, "{}: expected a JSON object, found {}", where, detail::json_type_name(object));
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  return json_get<T>(object, key, where, component);
}

}  // namespace retain
