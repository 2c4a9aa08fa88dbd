// retain/train/trainer.h — the one training loop: AdamW, warm-up + schedule, gradient clipping,
// gradient accumulation, answer-token loss; methods take part through train/method.h.
#pragma once

#include "retain/core/settings.h"
#include "retain/train/method.h"
#include "retain/train/schedule.h"

#include <functional>
#include <string>
#include <vector>

namespace retain {

struct OptimizerSettings {
  double lr = 1e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  int64_t epochs = 1;
  int64_t batch_size = 8;  // examples per optimizer step = batch_size × grad_accum
  int64_t grad_accum = 1;
  double warmup_ratio = 0.0;
  Schedule schedule = Schedule::Linear;
  double max_grad_norm = 1.0;  // 0 = no clipping
  int64_t max_steps = 0;       // per task; > 0: exactly this many, cycling the data (transformers' meaning)

  template <class V>
  void visit(V& v) {
    v("lr", lr, "peak learning rate");
    v("weight_decay", weight_decay, "AdamW decoupled weight decay");
    v("beta1", beta1, "AdamW β1");
    v("beta2", beta2, "AdamW β2");
    v("eps", eps, "AdamW ε");
    v("epochs", epochs, "passes over each task's training examples");
    v("batch_size", batch_size, "examples per micro-batch");
    v("grad_accum", grad_accum, "micro-batches per optimizer step");
    v("warmup_ratio", warmup_ratio, "share of a task's steps spent warming up");
    v("schedule", schedule, "constant | linear | cosine");
    v("max_grad_norm", max_grad_norm, "clip the global gradient norm (0: off)");
    v("max_steps", max_steps,
      "optimizer steps per task; > 0 sets the count exactly, cycling the re-shuffled data as often as needed "
      "(epochs is then ignored), as transformers' TrainingArguments.max_steps; 0: epochs decide");
  }
  /// Every value in range; errors name `where`.key and the accepted values (`schedule` is checked
  /// where it is read: settings::EnumNames).
  void validate(const std::string& where = "optim") const;
};

/// The names of OptimizerSettings' keys, in visit order (what `[method.<name>]` tables may override).
const std::vector<std::string>& optimizer_keys();

/// One optimizer step's record, passed to the observer.
struct StepInfo {
  int64_t task_index = 0;
  int64_t epoch = 0;
  int64_t step = 0;         // optimizer step within the task, from 0
  int64_t total_steps = 0;  // of the task
  double loss = 0;          // answer-token cross-entropy of the step (mean over its tokens)
  double extra_loss = 0;    // the method's term, summed over the step's micro-batches
  double lr = 0;
  double grad_norm = 0;     // before clipping
  int64_t tokens = 0;       // tokens in the step's batches (padding excluded)
  double seconds = 0;       // wall time of the step
};

/// Where a task's training stands at an optimizer-step boundary: with the trainable parameters'
/// values, enough to continue bitwise on the CPU (--resume).
struct TrainingState {
  int64_t steps_done = 0;
  std::vector<std::pair<std::string, at::Tensor>> optimizer;  // AdamW::state()
  std::vector<std::pair<std::string, at::Tensor>> rng;        // "cpu", "cuda": default generators' states
};

/// Mid-task checkpoints: `save` is called after an optimizer step whenever `every_steps` steps or
/// `every_minutes` minutes have passed since the last one (0 = that trigger off), never after the
/// task's last step. With `resume` set, training continues from it instead of starting the task over
/// (on_task_start still runs first; the caller restores the trainable parameters in `restore`).
struct StepCheckpointing {
  int64_t every_steps = 0;
  double every_minutes = 0;
  std::function<void(const TrainingState&)> save;
  const TrainingState* resume = nullptr;
  std::function<void()> restore;  // called after on_task_start and trainable(), before the first step
};

struct TaskTrainingSummary {
  int64_t steps = 0;
  double first_loss = 0, last_loss = 0;
  int64_t tokens = 0;
  double seconds = 0;
};

/// Trains task ctx.task_index with `method` (hooks on_task_start … on_task_end included).
/// Deterministic for a given seed on the CPU. `observe` is called after every optimizer step.
/// The default random generators are seeded from (run seed, task index) at the start of every task,
/// so that a task's dropout masks do not depend on what ran before it (resume needs this).
TaskTrainingSummary train_task(Method& method, TaskContext& ctx, const OptimizerSettings& settings,
                               const std::function<void(const StepInfo&)>& observe = {},
                               const StepCheckpointing* checkpointing = nullptr);

/// Number of optimizer steps train_task will make for `examples` examples: max_steps when it is set,
/// else ⌈⌈examples / batch_size⌉ / grad_accum⌉ × epochs.
int64_t steps_per_task(int64_t examples, const OptimizerSettings& settings);

/// Warm-up steps of a task of `total_steps`: ⌈warmup_ratio · total_steps⌉, as transformers'
/// TrainingArguments.get_warmup_steps.
int64_t warmup_steps(const OptimizerSettings& settings, int64_t total_steps);

/// One optimizer step of a task: its epoch (a pass over the data; max_steps cycles through as many as
/// it needs) and its micro-batches as example indices.
struct PlannedStep {
  int64_t epoch = 0;
  std::vector<std::vector<int64_t>> micro_batches;
};

/// Every optimizer step train_task makes for task `task_index` of a run seeded `run_seed`, whose
/// training examples have token counts `lengths`: the seeded length-grouped batches of each epoch
/// (data/batching.h), grad_accum micro-batches per step (the last step of an epoch may have fewer),
/// epochs re-shuffled until the step count is reached. train_task trains on exactly this plan;
/// `retain plan` writes it out for peers.
std::vector<PlannedStep> plan_task_steps(const std::vector<int64_t>& lengths, const OptimizerSettings& settings,
                                         uint64_t run_seed, int64_t task_index);

}  // namespace retain
