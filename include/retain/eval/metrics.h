// retain/eval/metrics.h — the accuracy matrix of a continual-learning run and the transfer metrics
// computed from it (methods.md §0).
//
// Scores are fractions in [0, 1] everywhere in the library and in files; tables print percentages.
//
// Indexing. The paper notation is a[j][i], j = 0..T (stage: 0 = base model, j = after task j) and
// i = 1..T (task). Here `scores[j][i - 1]` holds a[j][i]: rows are 0-based stages, columns 0-based
// tasks, so column c is task c + 1 and row c + 1 is "just after training task c + 1".
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace retain {

/// (T + 1) × T test scores of a run. Row 0 = before any training, row j = after training task j;
/// column i = task i's test split (every task, also those not yet trained). Values must be finite
/// and in [0, 1]: validate() throws "[eval] ..." naming the first bad row/column.
struct AccuracyMatrix {
  std::vector<std::string> tasks;           // T task names in training order (non-empty, unique)
  std::vector<std::vector<double>> scores;  // T + 1 rows of T values

  /// A matrix for `tasks` with every score 0, to be filled stage by stage.
  static AccuracyMatrix zeros(std::vector<std::string> tasks);

  size_t num_tasks() const { return tasks.size(); }
  /// Score of task `task` (0-based column) at stage `stage` (0 = before, j = after task j).
  double at(size_t stage, size_t task) const;
  /// Shape, finiteness, range and task-name checks; throws retain::Error.
  void validate() const;
};

/// AA = (1/T) Σ_{i=1..T} a[T][i]: mean of the last row (TRACE calls it OP).
double average_accuracy(const AccuracyMatrix& m);

/// BWT = (1/(T−1)) Σ_{i=1..T−1} (a[T][i] − a[i][i]); negative = forgetting. std::nullopt when T = 1.
std::optional<double> backward_transfer(const AccuracyMatrix& m);

/// FWT = (1/(T−1)) Σ_{i=2..T} (a[i−1][i] − a[0][i]): what training on earlier tasks did to a task
/// before it was trained, relative to the base model. std::nullopt when T = 1.
std::optional<double> forward_transfer(const AccuracyMatrix& m);

/// F = (1/(T−1)) Σ_{i=1..T−1} (max_{i≤j≤T−1} a[j][i] − a[T][i]): drop from each earlier task's best
/// score (reached at or after its own training, before the last task) to its final score. Not clamped:
/// it is negative when a task ends above its earlier best. std::nullopt when T = 1.
std::optional<double> forgetting(const AccuracyMatrix& m);

/// The four numbers together; the optional ones are written as JSON null.
struct TransferMetrics {
  double average_accuracy = 0;
  std::optional<double> backward_transfer;
  std::optional<double> forward_transfer;
  std::optional<double> forgetting;
};

TransferMetrics compute_metrics(const AccuracyMatrix& m);

}  // namespace retain
