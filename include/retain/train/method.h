// retain/train/method.h — the plugin interface of continual-learning methods.
//
// There is one training loop (train/trainer.h). A method never owns a copy of it: it takes part
// through a small lifecycle of hooks that receive explicit context and return values.
//
//   on_run_start(run)                      once, all tasks known (mtl, pertask)
//   for each task t:
//     on_task_start(ctx)                   add adapters, snapshot the model, compute bases, ...
//     training_examples(ctx) -> examples   what the loop trains on (replay mixes in its buffer)
//     trainable(ctx) -> parameters         what the optimizer updates during task t
//     for each step:
//       forward(ctx, batch) -> logits
//       extra_loss(ctx, batch, logits)     O-LoRA orthogonality, EWC penalty, LwF distillation
//       after_backward(ctx)                gradient surgery (OSFT projection)
//       after_step(ctx)                    re-projection of the applied update
//     on_task_end(ctx)                     freeze, accumulate Fisher, fill buffers, absorb router
//   prepare_evaluation(run)                set the model up for task-agnostic inference
//   routing_accuracy(run)                  routing methods: share of test prompts routed right
//   report(run)                            extra results.json fields after the last task (seta's experts)
//   save(dir)                              the method's own state (checkpoints)
//   state() / load_state(tasks_done)       what --resume needs besides the model's parameters
//
// Data parallel (docs/distributed.md): with several ranks every rank runs every hook; the loop
// shards each batch and sums the gradients, so forward/extra_loss/after_backward/after_step see only
// their rank's rows and then the summed gradient. A method that computes statistics over examples
// (a Fisher, covariances, router features) must shard that work itself and reduce it explicitly
// through run.dist (dist/process_group.h: shard_range, all_reduce_sum, all_gather_rows), so that
// every rank holds the same result; it then says so with supports_data_parallel(). A method that
// does not is refused when there is more than one rank.
#pragma once

#include "retain/core/json.h"
#include "retain/data/batching.h"
#include "retain/data/task.h"
#include "retain/dist/process_group.h"
#include "retain/model/causal_lm.h"
#include "retain/tokenizer/tokenizer.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace retain {

/// What every hook of a run may read. The model is a shared handle: methods modify it in place.
struct RunContext {
  CausalLM model{nullptr};
  const Tokenizer* tokenizer = nullptr;
  at::Device device = at::kCPU;
  std::vector<Task> tasks;                                 // in training order
  std::vector<std::vector<TokenizedExample>> train_data;   // tokenized train split of each task
  TokenizeOptions tokenize;                                // how train_data was tokenized
  uint64_t seed = 0;
  bool autocast_bf16 = false;  // CUDA only: forward passes under bf16 autocast (run.autocast)
  /// The data-parallel ranks this run is one of (a world of 1 when alone). Never null.
  std::shared_ptr<DistContext> dist = single_process_context();
};

/// What the hooks of task t may read.
struct TaskContext {
  RunContext& run;
  int64_t task_index;  // 0-based position in run.tasks
  const Task& task() const { return run.tasks[task_index]; }
  const std::vector<TokenizedExample>& train_examples() const { return run.train_data[task_index]; }
};

/// A method's own state after some tasks, beyond the model's parameters (which the runner saves and
/// restores by name): Fisher diagonals, replay buffers, bases, routers, ... For --resume.
struct MethodState {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  json meta = json::object();
  /// The tensor `name`; an error naming it and the method when absent.
  const at::Tensor& tensor(const std::string& name) const;
};

/// The settings of a method that has none ([method.seqft] and [method.mtl] take only [optim] keys).
struct NoMethodSettings {
  template <class V>
  void visit(V&) {}
  void validate(const std::string&) const {}
};

class Method {
 public:
  virtual ~Method() = default;

  /// Registry name ("seqft", "inclora", ...).
  virtual std::string name() const = 0;
  /// Oracle methods use the true task id at test time; reports label them so.
  virtual bool is_oracle() const { return false; }
  /// Whether the method trains correctly on several data-parallel ranks: its hooks give every rank
  /// the same state (statistics over examples sharded and reduced through run.dist, or none at all).
  /// False: the run is refused when there is more than one rank (or dist.simulate_ranks > 1).
  virtual bool supports_data_parallel() const { return false; }
  /// Whether training changes the base model's weights (then checkpoints hold a full model folder).
  virtual bool updates_base() const { return false; }
  /// Once per run, before the first task.
  virtual void on_run_start(RunContext& run) {}
  virtual void on_task_start(TaskContext& ctx) {}
  /// The examples task t trains on. Default: its own train split.
  virtual std::vector<TokenizedExample> training_examples(TaskContext& ctx) { return ctx.train_examples(); }
  /// How many tasks' worth of optim.max_steps task t trains for (1; mtl: t + 1, the tasks in its
  /// union, so that with max_steps it sees as many examples as a sequential method has by then —
  /// what optim.epochs gives it by itself). Has no effect when epochs decide the steps.
  virtual int64_t max_steps_multiplier(const TaskContext& ctx) const { return 1; }
  /// The parameters the optimizer updates during task t (each requires_grad on return).
  virtual std::vector<at::Tensor> trainable(TaskContext& ctx) = 0;
  /// Logits (B, T, V) of a training batch. Default: the model on input_ids with attention_mask.
  virtual at::Tensor forward(TaskContext& ctx, const Batch& batch);
  /// A loss term added to the answer-token cross-entropy of each micro-batch; undefined = none.
  virtual at::Tensor extra_loss(TaskContext& ctx, const Batch& batch, const at::Tensor& logits) { return {}; }
  virtual void after_backward(TaskContext& ctx) {}
  virtual void after_step(TaskContext& ctx) {}
  virtual void on_task_end(TaskContext& ctx) {}
  /// Sets the model up for evaluation after `tasks_seen` tasks (task-agnostic unless is_oracle()).
  virtual void prepare_evaluation(RunContext& run, int64_t tasks_seen) {}
  /// For oracle methods: sets the model up for task `task_index` before it is scored.
  virtual void select_task(RunContext& run, int64_t task_index) {}
  /// Routing methods (asr): after `tasks_seen` tasks, the share of each seen task's test prompts
  /// routed to that task (tasks_seen values in [0, 1]); nullopt = the method does not route.
  virtual std::optional<std::vector<double>> routing_accuracy(RunContext& run, int64_t tasks_seen) {
    return std::nullopt;
  }
  /// Settings resolved against the model (e.g. a layer count scaled to its depth), written over the
  /// method's table of the saved config. Called before on_run_start. Empty: nothing resolved.
  virtual json resolved_settings(RunContext& run) const { return json::object(); }
  /// Extra fields of results.json, asked once after the last task: {"experts": [...]} (seta: per task
  /// the unique and shared entries, eval/results.h). Empty: none.
  virtual json report(RunContext& run) { return json::object(); }
  /// The method's own state after task t, into `dir` (adapters, Fisher, buffers, router, ...).
  virtual void save(RunContext& run, const std::filesystem::path& dir) {}
  /// --resume: the state after the last completed task (the runner stores it with the model).
  virtual MethodState state(RunContext& run) { return {}; }
  /// --resume: called on a fresh model after on_run_start(run), with what state() returned after
  /// `tasks_done` tasks. Re-creates what the method added to the model (adapters, experts, ...) so
  /// that the runner can then load every saved parameter by name, and restores the method's state.
  virtual void load_state(RunContext& run, int64_t tasks_done, const MethodState& state) {}
};

}  // namespace retain
