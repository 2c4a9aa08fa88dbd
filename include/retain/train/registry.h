// retain/train/registry.h — continual-learning methods by name. One explicit table (no
// self-registering statics), one line per method: its name, its settings type and class, and the
// learning rate its paper's public scripts use. Adding a method is one header, one source file and
// one line in registry.cpp.
#pragma once

#include "retain/core/json.h"
#include "retain/train/method.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace retain {

/// The learning rate a method trains with when the run leaves it unset ([optim].lr = 0 and no lr in
/// [method.<name>]): the value its paper's public training scripts use, with where it comes from.
struct MethodDefaultLr {
  double lr = 0;
  std::string source;  // "TRACE scripts/train_seq_naive.sh (LLaMA-2-7B)", ...
};

/// A method with its settings table parsed and validated (once): what the run saves and a factory.
struct MethodSpec {
  std::string name;
  json resolved;  // every setting, defaults filled in (the saved run config's [method.<name>])
  std::function<std::unique_ptr<Method>()> make;
};

/// One row of the table.
struct MethodEntry {
  std::string name;
  MethodDefaultLr default_lr;
  /// Reads `table` (null: the defaults) into the method's settings type; unknown keys and bad values
  /// are errors naming `where`.key.
  std::function<MethodSpec(const json& table, const std::string& where)> parse;
};

/// Every method, in the order of the comparison tables.
const std::vector<MethodEntry>& method_table();
/// The row of `name`; an unknown name is an error with the closest valid one.
const MethodEntry& method_entry(const std::string& name);
/// The names of method_table(), in order.
const std::vector<std::string>& method_names();

/// method_entry(name).parse(settings, "method.<name>").
MethodSpec parse_method(const std::string& name, const json& settings);
/// parse_method(name, settings).make(): for tests and tools that build one method directly.
std::unique_ptr<Method> make_method(const std::string& name, const json& settings);
/// parse_method(name, settings).resolved.
json method_settings(const std::string& name, const json& settings);
/// method_entry(name).default_lr.
MethodDefaultLr method_default_lr(const std::string& name);

}  // namespace retain
