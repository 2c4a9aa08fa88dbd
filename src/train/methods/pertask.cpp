#include "retain/train/methods/pertask.h"

namespace retain {

void enable_only_adapter(CausalLM& model, const std::string& name) {
  for (auto& [module_name, linear] : model->linear_layers())
    for (auto& [adapter_name, adapter] : linear->adapters()) adapter->enabled = !name.empty() && adapter_name == name;
}

void PerTaskFT::on_task_start(TaskContext& ctx) {
  IncLoRA::on_task_start(ctx);
  // Trained from the base model: earlier tasks' adapters take no part in task t's forward.
  enable_only_adapter(ctx.run.model, adapter_name(ctx.task_index));
}

void PerTaskFT::select_task(RunContext& run, int64_t task_index) {
  // A task not trained yet has no adapter: nothing matches and the model is the base model.
  enable_only_adapter(run.model, adapter_name(task_index));
}

}  // namespace retain
