// retain/core/error.h — the one exception type of the library and the checks that throw it.
//
// Library code never exits: it throws retain::Error with the component in brackets, what happened,
// and what was expected, e.g. "[safetensors] model.safetensors: tensor 'lm_head.weight' has shape
// [10, 4], expected [12, 4] (vocab_size 12 × hidden_size 4)". Only apps/retain/main.cpp turns an
// exception into a message and an exit code.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace retain {

/// Every error the library raises on purpose. `component()` is the bracketed part of the message.
class Error : public std::runtime_error {
 public:
  Error(std::string component, const std::string& message)
      : std::runtime_error("[" + component + "] " + message), component_(std::move(component)), message_(message) {}
  const std::string& component() const noexcept { return component_; }
  /// The message without the "[component] " prefix.
  const std::string& message() const noexcept { return message_; }

 private:
  std::string component_;
  std::string message_;
};

/// Throws retain::Error("[component] formatted message").
template <typename... Args>
[[noreturn]] void fail(const std::string& component, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(component, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace retain

/// RETAIN_CHECK(cond, "component", "message {}", args...): throws retain::Error when cond is false.
#define RETAIN_CHECK(cond, component, ...)       \
  do {                                           \
    if (!(cond)) ::retain::fail(component, __VA_ARGS__); \
  } while (0)
