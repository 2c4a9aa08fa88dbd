#include "retain/train/registry.h"

#include "retain/core/error.h"
#include "retain/core/settings.h"
#include "retain/core/suggest.h"
#include "retain/train/asr.h"
#include "retain/train/baselines.h"
#include "retain/train/ewc.h"
#include "retain/train/inflora.h"
#include "retain/train/lwf.h"
#include "retain/train/olora.h"
#include "retain/train/osft.h"
#include "retain/train/pertask.h"
#include "retain/train/replay.h"
#include "retain/train/seta.h"

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
  static const std::vector<std::string> names = {"seqft", "seqlora", "inclora", "olora", "inflora", "osft", "ewc", "lwf", "replay", "mtl", "pertask", "asr", "seta"};
  return names;
}

std::unique_ptr<Method> make_method(const std::string& name, const json& settings) {
  check_known(name);
  const std::string where = "method." + name;
  if (name == "seqlora" || name == "inclora" || name == "pertask") {
    LoraSettings lora;
    settings::read(lora, settings, where);
    if (name == "seqlora") return std::make_unique<SeqLoRA>(lora);
    if (name == "pertask") return std::make_unique<PerTaskFT>(lora);
    return std::make_unique<IncLoRA>(lora);
  }
  if (name == "olora") {
    OLoraSettings s;
    settings::read(s, settings, where);
    return std::make_unique<OLoRA>(s);  // the constructor validates orthogonal_loss and the lambdas
  }
  if (name == "inflora") {
    InfLoraSettings s;
    settings::read(s, settings, where);
    return std::make_unique<InfLoRA>(s);  // the constructor validates
  }
  if (name == "osft") {
    OsftSettings s;
    settings::read(s, settings, where);
    return std::make_unique<OSFT>(s);  // the constructor validates
  }
  if (name == "asr") {
    AsrSettings s;
    settings::read(s, settings, where);
    return std::make_unique<ASR>(s);  // the constructor validates
  }
  if (name == "seta") {
    SetaSettings s;
    settings::read(s, settings, where);
    return std::make_unique<SETA>(s);  // the constructor validates
  }
  if (name == "ewc") {
    EwcSettings s;
    settings::read(s, settings, where);
    return std::make_unique<EWC>(s);
  }
  if (name == "replay") {
    ReplaySettings s;
    settings::read(s, settings, where);
    return std::make_unique<Replay>(s);
  }
  if (name == "lwf") {
    LwfSettings s;
    settings::read(s, settings, where);
    return std::make_unique<LwF>(s);
  }
  NoSettings none;
  settings::read(none, settings, where);
  if (name == "seqft") return std::make_unique<SeqFT>();
  return std::make_unique<MultiTask>();
}

json method_settings(const std::string& name, const json& settings) {
  check_known(name);
  const std::string where = "method." + name;
  if (name == "seqlora" || name == "inclora" || name == "pertask") {
    LoraSettings lora;
    settings::read(lora, settings, where);
    return settings::to_json(lora);
  }
  if (name == "olora") {
    OLoraSettings s;
    settings::read(s, settings, where);
    s.validate(where);
    return settings::to_json(s);
  }
  if (name == "inflora") {
    InfLoraSettings s;
    settings::read(s, settings, where);
    s.validate(where);
    return settings::to_json(s);
  }
  if (name == "osft") {
    OsftSettings s;
    settings::read(s, settings, where);
    s.validate(where);
    return settings::to_json(s);
  }
  if (name == "asr") {
    AsrSettings s;
    settings::read(s, settings, where);
    s.validate(where);
    return settings::to_json(s);
  }
  if (name == "seta") {
    SetaSettings s;
    settings::read(s, settings, where);
    s.validate(where);
    return settings::to_json(s);
  }
  if (name == "ewc") {
    EwcSettings s;
    settings::read(s, settings, where);
    s.validate();
    return settings::to_json(s);
  }
  if (name == "replay") {
    ReplaySettings s;
    settings::read(s, settings, where);
    s.validate();
    return settings::to_json(s);
  }
  if (name == "lwf") {
    LwfSettings s;
    settings::read(s, settings, where);
    s.validate(where);
    return settings::to_json(s);
  }
  return json::object();
}

}  // namespace retain
