#include "retain/train/registry.h"

#include "retain/core/error.h"
#include "retain/core/settings.h"
#include "retain/core/suggest.h"
#include "retain/train/methods/asr.h"
#include "retain/train/methods/baselines.h"
#include "retain/train/methods/ewc.h"
#include "retain/train/methods/inflora.h"
#include "retain/train/methods/lwf.h"
#include "retain/train/methods/olora.h"
#include "retain/train/methods/osft.h"
#include "retain/train/methods/pertask.h"
#include "retain/train/methods/replay.h"
#include "retain/train/methods/seta.h"

namespace retain {

namespace {
// A row for class M constructed from its settings type S (read, validated, kept for the factory).
template <class S, class M>
MethodEntry row(std::string name, double lr, std::string source) {
  auto parse = [name](const json& table, const std::string& where) {
    S s;
    settings::read(s, table, where);
    s.validate(where);
    return MethodSpec{name, settings::to_json(s), [s] { return std::unique_ptr<Method>(std::make_unique<M>(s)); }};
  };
  return {name, {lr, std::move(source)}, parse};
}
}  // namespace

const std::vector<MethodEntry>& method_table() {
  // The papers' decoder-LLM (7B) learning rates where their code has them; docs/protocol.md
  // cites each file. A 7B model's learning rate is usually far too small for retain's own small
  // models: set [optim].lr or sweep it (--sweep optim.lr=...) there.
  static const std::vector<MethodEntry> table = {
      row<NoMethodSettings, SeqFT>("seqft", 1e-5, "TRACE scripts/train_seq_naive.sh (full fine-tuning, LLaMA-2-7B)"),
      row<LoraSettings, SeqLoRA>("seqlora", 1e-4, "TRACE scripts/train_lora.sh (LoRA r 8, LLaMA-2-7B)"),
      row<LoraSettings, IncLoRA>("inclora", 1e-4, "O-LoRA scripts_llama/order_1.sh (tasks after the first; LLaMA-7B)"),
      row<OLoraSettings, OLoRA>("olora", 1e-4, "O-LoRA scripts_llama/order_1.sh (tasks after the first; LLaMA-7B)"),
      row<InfLoraSettings, InfLoRA>("inflora", 3e-4, "gainlora gen_script_long_order3_t5_inflora.sh (InfLoRA on T5-large)"),
      row<OsftSettings, OSFT>("osft", 1e-5,
                              "orthogonal-subspace-learning notebooks/llama-single-gpu-code/test.py (LLaMA-2-7B)"),
      row<EwcSettings, EWC>("ewc", 1e-5, "TRACE scripts/train_seq_cl.sh (LLaMA-2-7B)"),
      row<LwfSettings, LwF>("lwf", 1e-5, "TRACE scripts/train_seq_cl.sh (LLaMA-2-7B)"),
      row<ReplaySettings, Replay>("replay", 1e-5, "TRACE scripts/train_replay.sh (LLaMA-2-7B)"),
      row<NoMethodSettings, MultiTask>("mtl", 1e-5, "no public setting; seqft's (full fine-tuning, TRACE)"),
      row<LoraSettings, PerTaskFT>("pertask", 1e-4, "TRACE scripts/train_lora.sh (one LoRA per task)"),
      row<AsrSettings, ASR>("asr", 1e-4, "Any-SSR scripts/train_lora_*.sh (LLaMA-2-7B-chat)"),
      row<SetaSettings, SETA>("seta", 1e-4, "no public code (our design: the adapters' 1e-4)"),
  };
  return table;
}

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& e : method_table()) out.push_back(e.name);
    return out;
  }();
  return names;
}

const MethodEntry& method_entry(const std::string& name) {
  for (const auto& e : method_table())
    if (e.name == name) return e;
  const auto& names = method_names();
  fail("method", "unknown method \"{}\"{} (available: {})", name, did_you_mean(name, names), fmt::join(names, ", "));
}

MethodSpec parse_method(const std::string& name, const json& settings) {
  return method_entry(name).parse(settings, "method." + name);
}

std::unique_ptr<Method> make_method(const std::string& name, const json& settings) {
  return parse_method(name, settings).make();
}

json method_settings(const std::string& name, const json& settings) { return parse_method(name, settings).resolved; }

MethodDefaultLr method_default_lr(const std::string& name) { return method_entry(name).default_lr; }

}  // namespace retain
