// retain/train/methods/baselines.h — the baselines every comparison includes (methods.md §1).
//
//   seqft    full fine-tuning, task after task
//   seqlora  one LoRA, trained task after task
//   inclora  a new LoRA per task; earlier ones frozen and kept summed in the forward
//   mtl      joint training on the tasks seen so far, restarted from the base model at each stage:
//            stage T is the multi-task upper bound of the papers (all tasks at once)
#pragma once

#include "retain/model/lora.h"
#include "retain/train/method.h"

#include <map>

namespace retain {

/// LoRA settings shared by the adapter baselines (paper defaults: r 8, α 32, q and v).
struct LoraSettings {
  int64_t r = 8;
  double alpha = 32;
  double dropout = 0.0;
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  bool use_rslora = false;

  template <class V>
  void visit(V& v) {
    v("r", r, "LoRA rank");
    v("alpha", alpha, "LoRA α (scaling α / r)");
    v("dropout", dropout, "dropout on the LoRA input while training");
    v("target_modules", target_modules, "module names (suffix match, as PEFT)");
    v("use_rslora", use_rslora, "scale by α / √r");
  }
  LoraConfig to_lora_config() const;
  /// Throws naming the bad key (`where`.key).
  void validate(const std::string& where) const;
};

class SeqFT : public Method {
 public:
  explicit SeqFT(NoMethodSettings = {}) {}
  std::string name() const override { return "seqft"; }
  /// Nothing but the loop's gradients: data parallel as it is.
  bool supports_data_parallel() const override { return true; }
  bool updates_base() const override { return true; }
  std::vector<at::Tensor> trainable(TaskContext& ctx) override;
};

class SeqLoRA : public Method {
 public:
  explicit SeqLoRA(LoraSettings settings) : settings_(std::move(settings)) {}
  std::string name() const override { return "seqlora"; }
  /// Nothing but the loop's gradients: data parallel as it is.
  bool supports_data_parallel() const override { return true; }
  void on_run_start(RunContext& run) override;
  void on_task_start(TaskContext& ctx) override;
  std::vector<at::Tensor> trainable(TaskContext& ctx) override;
  /// DIR/adapter (PEFT) and DIR/adapters.json (train/adapter_checkpoint.h).
  void save(RunContext& run, const std::filesystem::path& dir) override;

 private:
  LoraSettings settings_;
  int64_t tasks_trained_ = 0;  // tasks the adapter has been trained on (for adapters.json)
};

class IncLoRA : public Method {
 public:
  explicit IncLoRA(LoraSettings settings) : settings_(std::move(settings)) {}
  std::string name() const override { return "inclora"; }
  /// Nothing but the loop's gradients: data parallel as it is.
  bool supports_data_parallel() const override { return true; }
  void on_task_start(TaskContext& ctx) override;
  std::vector<at::Tensor> trainable(TaskContext& ctx) override;
  /// DIR/task<t> (PEFT) per task trained, and DIR/adapters.json (train/adapter_checkpoint.h).
  void save(RunContext& run, const std::filesystem::path& dir) override;
  /// Re-creates the frozen adapters of the first `tasks_done` tasks (their values come from the model
  /// state the runner restores).
  void load_state(RunContext& run, int64_t tasks_done, const MethodState& state) override;
  /// Adapter name of task t: "task<t>".
  static std::string adapter_name(int64_t task_index) { return "task" + std::to_string(task_index); }

 private:
  LoraSettings settings_;
};

class MultiTask : public Method {
 public:
  explicit MultiTask(NoMethodSettings = {}) {}
  std::string name() const override { return "mtl"; }
  /// Nothing but the loop's gradients: data parallel as it is.
  bool supports_data_parallel() const override { return true; }
  bool updates_base() const override { return true; }
  void on_run_start(RunContext& run) override;
  void on_task_start(TaskContext& ctx) override;
  std::vector<TokenizedExample> training_examples(TaskContext& ctx) override;
  int64_t max_steps_multiplier(const TaskContext& ctx) const override { return ctx.task_index + 1; }
  std::vector<at::Tensor> trainable(TaskContext& ctx) override;

 private:
  std::vector<std::pair<std::string, at::Tensor>> base_;  // the base model's weights
};

/// Parameters of the adapter `name` in every layer that has one.
std::vector<at::Tensor> adapter_parameters(CausalLM& model, const std::string& name);

}  // namespace retain
