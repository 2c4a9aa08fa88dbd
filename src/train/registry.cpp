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

#include <map>

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

MethodDefaultLr method_default_lr(const std::string& name) {
  check_known(name);
  // The papers' decoder-LLM (7B) settings where their code has them; docs/methods/defaults.md cites
  // each file. A 7B model's learning rate is usually far too small for retain's own small models:
  // set [optim].lr or sweep it (--sweep optim.lr=...) there.
  static const std::map<std::string, MethodDefaultLr> table = {
      {"seqft", {1e-5, "TRACE scripts/train_seq_naive.sh (full fine-tuning, LLaMA-2-7B)"}},
      {"seqlora", {1e-4, "TRACE scripts/train_lora.sh (LoRA r 8, LLaMA-2-7B)"}},
      {"inclora", {1e-4, "O-LoRA scripts_llama/order_1.sh (tasks after the first; LLaMA-7B)"}},
      {"olora", {1e-4, "O-LoRA scripts_llama/order_1.sh (tasks after the first; LLaMA-7B)"}},
      {"inflora", {3e-4, "gainlora gen_script_long_order3_t5_inflora.sh (InfLoRA on T5-large)"}},
      {"osft", {1e-5, "orthogonal-subspace-learning notebooks/llama-single-gpu-code/test.py (LLaMA-2-7B)"}},
      {"ewc", {1e-5, "TRACE scripts/train_seq_cl.sh (LLaMA-2-7B)"}},
      {"lwf", {1e-5, "TRACE scripts/train_seq_cl.sh (LLaMA-2-7B)"}},
      {"replay", {1e-5, "TRACE scripts/train_replay.sh (LLaMA-2-7B)"}},
      {"mtl", {1e-5, "no public setting; seqft's (full fine-tuning, TRACE)"}},
      {"pertask", {1e-4, "TRACE scripts/train_lora.sh (one LoRA per task)"}},
      {"asr", {1e-4, "Any-SSR scripts/train_lora_*.sh (LLaMA-2-7B-chat)"}},
      {"seta", {1e-4, "no public code (our design: the adapters' 1e-4)"}},
  };
  return table.at(name);
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
