// retain/train/sweep.h — choosing a hyperparameter on the dev split, as the papers tune.
//
// `retain run --sweep optim.lr=1e-5,1e-4,1e-3` runs each method once per value (the value overrides
// the method's own setting of that key), scores the final model on every task's dev split, and keeps
// the value with the best dev AA (mean dev score after the last task; the first value on ties). The
// method's results are then the chosen run's test results, and results.json's "sweep" records every
// candidate's dev scores. Test scores never take part in the choice.
//
// Dev splits: a task's own dev split (dev.jsonl, CL_Benchmark's dev.json, TRACE's eval.json); for a
// task without one, a seeded share of its train split (eval.dev_share) is held out and the sweep's
// runs train on the rest.
//
// Layout: OUT/<method>/sweep/<k>-<value>/<method>/ holds candidate k's run (results.json, matrix.csv,
// metrics.jsonl); OUT/<method>/ the chosen one's files. With --resume, finished candidates are read
// back and an interrupted one continues from its resume point.
#pragma once

#include "retain/train/runner.h"

#include <string>
#include <vector>

namespace retain {

struct SweepSpec {
  std::string key;                  // an [optim] key: "lr", "weight_decay", ...
  std::vector<std::string> values;  // as written: "1e-4", ...
  /// "optim.<key>=v1,v2,..."; errors name what is wrong (unknown key with a suggestion, no values,
  /// a value of the wrong type, a repeated value).
  static SweepSpec parse(const std::string& text);
  std::string to_string() const;
};

/// `tasks` with a dev split each: their own, or `share` of train (at least one example, leaving at
/// least one) chosen by a seeded shuffle of (seed, task position) and removed from train, both kept in
/// file order. `how[i]` says which: "dev split" or "0.1 of train".
std::vector<Task> with_dev_splits(std::vector<Task> tasks, double share, uint64_t seed, std::vector<std::string>* how);

/// Runs the sweep for one method (layout above) and returns the chosen candidate's results, with
/// "sweep" = {"key", "values", "dev_aa": [...], "dev_scores": [[...]...], "chosen", "chosen_index", "dev": [...]}.
/// `tasks` must already carry dev splits (with_dev_splits).
MethodResults sweep_method(const std::string& method_name, const std::filesystem::path& model_dir,
                           const std::vector<Task>& tasks, const std::vector<std::string>& dev_sources,
                           const RunConfig& config, const SweepSpec& sweep, const std::filesystem::path& out_dir,
                           const MethodRunOptions& options);

}  // namespace retain
