// retain/train/registry.h — continual-learning methods by name. An explicit table (no self-registering
// statics): adding a method is one header, one source file and one line here.
#pragma once

#include "retain/core/json.h"
#include "retain/train/method.h"

#include <memory>
#include <string>
#include <vector>

namespace retain {

/// Names of every registered method, in the order of the comparison tables.
const std::vector<std::string>& method_names();

/// A method from its name and its settings table (`[method.<name>]` of the run config; null for the
/// defaults). Unknown names and unknown settings are errors with the closest valid name.
std::unique_ptr<Method> make_method(const std::string& name, const json& settings);

/// The resolved settings of a method (defaults filled in), for the saved run config.
json method_settings(const std::string& name, const json& settings);

/// The learning rate a method trains with when the run leaves it unset ([optim].lr = 0 and no lr in
/// [method.<name>]): the value its paper's public training scripts use, with where it comes from.
struct MethodDefaultLr {
  double lr = 0;
  std::string source;  // "TRACE scripts/train_seq_naive.sh (LLaMA-2-7B)", ...
};
MethodDefaultLr method_default_lr(const std::string& name);

}  // namespace retain
