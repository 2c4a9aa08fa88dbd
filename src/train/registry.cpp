#include "retain/train/registry.h"

#include "retain/core/error.h"
#include "retain/core/settings.h"
#include "retain/core/suggest.h"
#include "retain/train/baselines.h"

namespace retain {

namespace {
struct NoSettings {
  template <class V>
  void visit(V&) {}
};

void check_known(const std::string& name) {
  const auto& names = method_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    fail("method", "unknown method \"{}\"{} (available: {})", name, did_you_mean(name, names), fmt::join(names, ", "));
}
}  // namespace

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = {"seqft", "seqlora", "inclora", "mtl"};
  return names;
}

std::unique_ptr<Method> make_method(const std::string& name, const json& settings) {
  check_known(name);
  const std::string where = "method." + name;
  if (name == "seqlora" || name == "inclora") {
    LoraSettings lora;
    settings::read(lora, settings, where);
    if (name == "seqlora") return std::make_unique<SeqLoRA>(lora);
    return std::make_unique<IncLoRA>(lora);
  }
  NoSettings none;
  settings::read(none, settings, where);
  if (name == "seqft") return std::make_unique<SeqFT>();
  return std::make_unique<MultiTask>();
}

json method_settings(const std::string& name, const json& settings) {
  check_known(name);
  if (name == "seqlora" || name == "inclora") {
    LoraSettings lora;
    settings::read(lora, settings, "method." + name);
    return settings::to_json(lora);
  }
  return json::object();
}

}  // namespace retain
