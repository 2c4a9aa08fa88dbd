// retain/train/runner.h — one method through a task sequence: the protocol of methods.md §0.
//
// Row 0 of the accuracy matrix scores every task with the untouched model; after training task j the
// method prepares task-agnostic inference and every task's test split is scored again (row j).
// Writes OUT/<method>/{results.json, matrix.csv, metrics.jsonl} and returns the results.
#pragma once

#include "retain/core/settings.h"
#include "retain/eval/results.h"
#include "retain/train/evaluator.h"
#include "retain/train/trainer.h"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace retain {

struct RunSettings {
  std::string dtype = "float32";
  std::string device = "cpu";
  int64_t seed = 0;
  int64_t max_length = 512;
  bool save_checkpoints = false;
  std::string autocast = "off";
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
  /// Errors name the key and the accepted values.
  void validate() const;
};

/// The whole configuration of a run, as read from TOML, overridden from the command line, and saved
/// with the results: [run], [optim], [eval], [method.<name>].
struct RunConfig {
  RunSettings run;
  OptimizerSettings optim;
  EvalSettings eval;
  json methods = json::object();  // method name → its settings table

  /// From the parsed TOML; unknown sections or keys are errors with the closest valid name.
  static RunConfig from_json(const json& config, const std::string& where);
  /// Applies "section.key=value" (e.g. "optim.lr=1e-4", "method.inclora.r=16").
  void set(const std::string& assignment);
  /// The resolved values of every section (methods: only those named).
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

}  // namespace retain
