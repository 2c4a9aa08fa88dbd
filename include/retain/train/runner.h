// retain/train/runner.h — one method through a task sequence: the protocol of methods.md §0.
//
// Row 0 of the accuracy matrix scores every task with the untouched model; after training task j the
// method prepares task-agnostic inference and every task's test split is scored again (row j).
// Writes OUT/<method>/{results.json, matrix.csv, metrics.jsonl} and returns the results. With a
// general text (eval.general_text), every row also measures its language-modelling loss.
#pragma once

#include "retain/core/settings.h"
#include "retain/dist/dist_settings.h"
#include "retain/dist/process_group.h"
#include "retain/eval/results.h"
#include "retain/train/autocast.h"
#include "retain/train/evaluator.h"
#include "retain/train/registry.h"
#include "retain/train/trainer.h"

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace retain {

struct RunSettings {
  std::string dtype = "float32";
  std::string device = "cpu";
  int64_t seed = 0;
  int64_t max_length = 512;
  bool save_checkpoints = false;
  Autocast autocast = Autocast::Off;
  bool resumable = true;
  int64_t checkpoint_every_steps = 0;
  double checkpoint_every_minutes = 10;

  template <class V>
  void visit(V& v) {
    v("dtype", dtype, "compute dtype: float32 | bfloat16");
    v("device", device, "cpu | cuda | cuda:N");
    v("seed", seed, "seed of adapters, batch order and sampling");
    v("max_length", max_length, "tokens per example (prompts are cut from the left)");
    v("save_checkpoints", save_checkpoints,
      "after task k write <method>/checkpoints/task_<k>/: a HF model folder when the base changes, the "
      "method's adapters (PEFT folders) and state");
    v("autocast", autocast, "off | bf16: on CUDA, forward passes in bfloat16 autocast (parameters keep run.dtype)");
    v("resumable", resumable,
      "keep <method>/resume/ (the state after the last task, and mid-task step points) so --resume can continue");
    v("checkpoint_every_steps", checkpoint_every_steps, "mid-task resume point every N optimizer steps (0: off)");
    v("checkpoint_every_minutes", checkpoint_every_minutes, "mid-task resume point every N minutes (0: off)");
  }
  /// Errors name the key and the accepted values (dtype and device names included; cuda needs CUDA).
  void validate() const;
};

/// The whole configuration of a run, as read from TOML, overridden from the command line, and saved
/// with the results: [run], [optim], [eval], [dist], [method.<name>].
///
/// Optimizer settings per method. A `[method.<name>]` table may hold any [optim] key (lr, weight_decay,
/// warmup_ratio, max_steps, ...); it overrides [optim] for that method. [optim].lr is 0 unless set:
/// each method then trains with its own default (registry.h method_default_lr, the paper's value).
/// So: a method table's key > [optim] > the method's default lr > OptimizerSettings' defaults.
struct RunConfig {
  RunConfig() { optim.lr = 0; }
  RunSettings run;
  OptimizerSettings optim;  // lr 0: each method's default
  EvalSettings eval;
  DistSettings dist;  // how data-parallel ranks talk (which ranks exist comes from the environment)
  json methods = json::object();       // method name → the method's own settings from its table
  json method_optim = json::object();  // method name → the [optim] keys given in its table
  std::map<std::string, MethodSpec> specs;  // method name → its table parsed and validated (registry.h)

  /// From the parsed TOML; unknown sections or keys are errors with the closest valid name.
  static RunConfig from_json(const json& config, const std::string& where);
  /// Applies "section.key=value" (e.g. "optim.lr=1e-4", "method.inclora.r=16", "method.osft.lr=1e-5").
  void set(const std::string& assignment);
  /// Merges one `[method.<name>]` table: its [optim] keys into method_optim, the rest into methods;
  /// both checked now (names, types and values), errors naming `where`.
  void set_method_table(const std::string& name, const json& table, const std::string& where);
  /// `name` with its settings: the table given for it, parsed when it was set, or the defaults.
  MethodSpec method(const std::string& name) const;
  /// The optimizer settings `method` trains with (see above).
  OptimizerSettings optim_for(const std::string& method) const;
  /// Where optim_for(method).lr comes from: "method.<name>.lr", "optim.lr" or the method's default.
  std::string lr_source(const std::string& method) const;
  /// Every section, and for each of `method_names` its table and optimizer settings, checked before
  /// anything is loaded; errors name the key and the accepted values.
  void validate(const std::vector<std::string>& method_names) const;
  /// The resolved values of every section (methods: only those named, each table with the method's
  /// settings and the [optim] keys it overrides).
  json to_json(const std::vector<std::string>& method_names) const;
};

/// Runs `method_name` over `tasks` from the model in `model_dir`; writes into out_dir/<method>/
/// (and checkpoints/task_<k>/ after each task k, counted from 1, when run.save_checkpoints).
/// `progress` receives every optimizer step (for progress bars).
///
/// With run.resumable, out_dir/<method>/resume/ holds resume points (train/resume.h). With `resume`,
/// the run continues from the latest one — after the last completed task, or mid-task — and reaches
/// the same results as an uninterrupted run (bitwise on the CPU); without one it starts from the
/// beginning. A run that is not resumed starts afresh (earlier resume points and metrics.jsonl are
/// replaced). The points are removed once results.json is written.
MethodResults run_method(const std::string& method_name, const std::filesystem::path& model_dir,
                         const std::vector<Task>& tasks, const RunConfig& config, const std::filesystem::path& out_dir,
                         const std::function<void(const Task&, const StepInfo&)>& progress = {}, bool resume = false);

struct MethodRunOptions {
  std::function<void(const Task&, const StepInfo&)> progress;  // every optimizer step
  bool resume = false;
  /// Sweeps: each task's dev examples (tasks.size() lists). After the last task the final model scores
  /// them too, into results.sweep = {"dev_scores": [...], "dev_aa": mean}; the test rows are unchanged.
  const std::vector<std::vector<Example>>* dev = nullptr;
  /// The data-parallel ranks (dist/process_group.h); null: this process alone, with config.dist's
  /// settings (dist.simulate_ranks). With several ranks every rank trains, rank 0 alone scores and
  /// writes OUT/<method>/ (results, metrics, progress, resume points, checkpoints); the others only
  /// set the model up for evaluation as rank 0 does, so that all stay identical.
  std::shared_ptr<DistContext> dist;
};
MethodResults run_method(const std::string& method_name, const std::filesystem::path& model_dir,
                         const std::vector<Task>& tasks, const RunConfig& config, const std::filesystem::path& out_dir,
                         const MethodRunOptions& options);

/// The RunContext of a run on `device`: the model of `model_dir` in run.dtype, the run's seed,
/// tokenization (max_length, the model's first eos_token_id; an error when it has none) and every
/// task's tokenized train split. `tokenizer` must outlive it.
RunContext open_run(const std::filesystem::path& model_dir, const std::vector<Task>& tasks, const RunConfig& config,
                    at::Device device, const Tokenizer& tokenizer);

/// The checks run_method makes of a task list before anything loads: at least one task, distinct
/// names, non-empty train and test splits, and classification tasks with labels under rank scoring.
void validate_tasks(const std::vector<Task>& tasks, const EvalSettings& eval);

}  // namespace retain
