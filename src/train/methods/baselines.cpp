#include "retain/train/methods/baselines.h"

#include "retain/core/error.h"
#include "retain/train/adapter_checkpoint.h"

namespace retain {

LoraConfig LoraSettings::to_lora_config() const {
  LoraConfig c;
  c.r = r;
  c.lora_alpha = alpha;
  c.lora_dropout = dropout;
  c.target_modules = target_modules;
  c.use_rslora = use_rslora;
  return c;
}

void LoraSettings::validate(const std::string& where) const {
  RETAIN_CHECK(r >= 1, "config", "{}.r must be at least 1, got {}", where, r);
  RETAIN_CHECK(dropout >= 0 && dropout < 1, "config", "{}.dropout must be in [0, 1), got {}", where, dropout);
  RETAIN_CHECK(!target_modules.empty(), "config", "{}.target_modules is empty: name at least one module", where);
}

std::vector<at::Tensor> adapter_parameters(CausalLM& model, const std::string& name) {
  std::vector<at::Tensor> out;
  for (auto& [module_name, linear] : model->linear_layers())
    if (auto adapter = linear->adapter(name))
      for (auto& p : adapter->parameters()) out.push_back(p);
  return out;
}

std::vector<at::Tensor> SeqFT::trainable(TaskContext& ctx) {
  std::vector<at::Tensor> out;
  for (auto& [name, p] : ctx.run.model->base_parameters()) out.push_back(p);
  return out;
}

void SeqLoRA::on_run_start(RunContext& run) {
  add_lora_adapter(run.model, settings_.to_lora_config(), "seq", run.seed);
  run.model->to(run.device);
}

std::vector<at::Tensor> SeqLoRA::trainable(TaskContext& ctx) { return adapter_parameters(ctx.run.model, "seq"); }

void SeqLoRA::on_task_start(TaskContext& ctx) { tasks_trained_ = ctx.task_index + 1; }

void SeqLoRA::save(RunContext& run, const std::filesystem::path& dir) {
  save_peft_adapter(dir / "adapter", run.model, settings_.to_lora_config(), "seq");
  AdapterCheckpoint manifest{name(), {}, {"adapter"}};
  for (int64_t t = 0; t < tasks_trained_; ++t) manifest.tasks.push_back(run.tasks[t].name);
  write_adapter_manifest(dir, manifest);
}

void IncLoRA::on_task_start(TaskContext& ctx) {
  // Earlier adapters stay in the forward (summed) and frozen: the trainer only updates trainable().
  add_lora_adapter(ctx.run.model, settings_.to_lora_config(), adapter_name(ctx.task_index),
                   ctx.run.seed + static_cast<uint64_t>(ctx.task_index));
  ctx.run.model->to(ctx.run.device);
}

std::vector<at::Tensor> IncLoRA::trainable(TaskContext& ctx) {
  return adapter_parameters(ctx.run.model, adapter_name(ctx.task_index));
}

void IncLoRA::save(RunContext& run, const std::filesystem::path& dir) {
  AdapterCheckpoint manifest{name(), {}, {}};
  for (int64_t t = 0; t < static_cast<int64_t>(run.tasks.size()); ++t)
    if (!adapter_parameters(run.model, adapter_name(t)).empty()) {
      save_peft_adapter(dir / adapter_name(t), run.model, settings_.to_lora_config(), adapter_name(t));
      manifest.tasks.push_back(run.tasks[t].name);
      manifest.adapters.push_back(adapter_name(t));
    }
  if (!manifest.adapters.empty()) write_adapter_manifest(dir, manifest);
}

void IncLoRA::load_state(RunContext& run, int64_t tasks_done, const MethodState& state) {
  for (int64_t t = 0; t < tasks_done; ++t) {
    add_lora_adapter(run.model, settings_.to_lora_config(), adapter_name(t), run.seed + static_cast<uint64_t>(t));
    for (auto& p : adapter_parameters(run.model, adapter_name(t))) p.requires_grad_(false);
  }
  run.model->to(run.device);
}

void MultiTask::on_run_start(RunContext& run) {
  for (auto& [name, p] : run.model->base_parameters()) base_.emplace_back(name, p.detach().clone());
}

void MultiTask::on_task_start(TaskContext& ctx) {
  // Every stage restarts from the base model, so stage t is joint training on tasks 1..t.
  torch::NoGradGuard no_grad;
  auto params = ctx.run.model->base_parameters();
  RETAIN_CHECK(params.size() == base_.size(), "mtl", "the model changed shape since the run started");
  for (size_t i = 0; i < params.size(); ++i) params[i].second.copy_(base_[i].second);
}

std::vector<TokenizedExample> MultiTask::training_examples(TaskContext& ctx) {
  std::vector<TokenizedExample> all;
  for (int64_t t = 0; t <= ctx.task_index; ++t)
    all.insert(all.end(), ctx.run.train_data[t].begin(), ctx.run.train_data[t].end());
  return all;
}

std::vector<at::Tensor> MultiTask::trainable(TaskContext& ctx) {
  std::vector<at::Tensor> out;
  for (auto& [name, p] : ctx.run.model->base_parameters()) out.push_back(p);
  return out;
}

}  // namespace retain
