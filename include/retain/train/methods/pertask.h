// retain/train/methods/pertask.h — PerTaskFT, the *oracle* baseline (methods.md §1): a separate LoRA per
// task, each trained from the base model alone (every other adapter disabled while task t trains),
// and at test time the adapter of the true task id.
#pragma once

#include "retain/train/methods/baselines.h"

namespace retain {

class PerTaskFT : public IncLoRA {
 public:
  explicit PerTaskFT(LoraSettings settings) : IncLoRA(std::move(settings)) {}
  std::string name() const override { return "pertask"; }
  bool is_oracle() const override { return true; }
  /// Adds task t's adapter "task<t>" and disables every other adapter of the model.
  void on_task_start(TaskContext& ctx) override;
  /// Enables only task `task_index`'s adapter; a task not trained yet has none, so the base model.
  void select_task(RunContext& run, int64_t task_index) override;
};

/// Enables the adapter `name` in every layer and disables all others ("" disables all).
void enable_only_adapter(CausalLM& model, const std::string& name);

}  // namespace retain
