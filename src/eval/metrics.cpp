#include "retain/eval/metrics.h"

#include "retain/core/error.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace retain {

AccuracyMatrix AccuracyMatrix::zeros(std::vector<std::string> tasks) {
  AccuracyMatrix m;
  const size_t t = tasks.size();
  m.tasks = std::move(tasks);
  m.scores.assign(t + 1, std::vector<double>(t, 0.0));
  m.validate();
  return m;
}

double AccuracyMatrix::at(size_t stage, size_t task) const {
  RETAIN_CHECK(stage < scores.size() && task < tasks.size() && task < scores[stage].size(), "eval",
               "accuracy matrix: no entry at stage {}, task {} (matrix has {} stages, {} tasks)", stage, task,
               scores.size(), tasks.size());
  return scores[stage][task];
}

void AccuracyMatrix::validate() const {
  const size_t t = tasks.size();
  RETAIN_CHECK(t > 0, "eval", "accuracy matrix: no tasks (at least one task is needed)");
  std::set<std::string> seen;
  for (size_t i = 0; i < t; ++i) {
    RETAIN_CHECK(!tasks[i].empty(), "eval", "accuracy matrix: task {} has an empty name", i + 1);
    RETAIN_CHECK(seen.insert(tasks[i]).second, "eval", "accuracy matrix: task name \"{}\" appears twice", tasks[i]);
  }
  RETAIN_CHECK(scores.size() == t + 1, "eval", "accuracy matrix: {} rows, expected {} (T + 1 for {} tasks)",
               scores.size(), t + 1, t);
  for (size_t j = 0; j <= t; ++j) {
    RETAIN_CHECK(scores[j].size() == t, "eval", "accuracy matrix: row {} has {} columns, expected {} (one per task)", j,
                 scores[j].size(), t);
    for (size_t i = 0; i < t; ++i) {
      const double v = scores[j][i];
      RETAIN_CHECK(std::isfinite(v) && v >= 0.0 && v <= 1.0, "eval",
                   "accuracy matrix: row {} column {} (task \"{}\") is {}, expected a fraction in [0, 1]", j, i,
                   tasks[i], v);
    }
  }
}

double average_accuracy(const AccuracyMatrix& m) {
  m.validate();
  const size_t t = m.num_tasks();
  double sum = 0;
  for (size_t c = 0; c < t; ++c) sum += m.scores[t][c];
  return sum / static_cast<double>(t);
}

std::optional<double> backward_transfer(const AccuracyMatrix& m) {
  m.validate();
  const size_t t = m.num_tasks();
  if (t < 2) return std::nullopt;
  double sum = 0;
  // Task i (1-based) is column i − 1; a[i][i] is row i.
  for (size_t i = 1; i <= t - 1; ++i) sum += m.scores[t][i - 1] - m.scores[i][i - 1];
  return sum / static_cast<double>(t - 1);
}

std::optional<double> forward_transfer(const AccuracyMatrix& m) {
  m.validate();
  const size_t t = m.num_tasks();
  if (t < 2) return std::nullopt;
  double sum = 0;
  for (size_t i = 2; i <= t; ++i) sum += m.scores[i - 1][i - 1] - m.scores[0][i - 1];
  return sum / static_cast<double>(t - 1);
}

std::optional<double> forgetting(const AccuracyMatrix& m) {
  m.validate();
  const size_t t = m.num_tasks();
  if (t < 2) return std::nullopt;
  double sum = 0;
  for (size_t i = 1; i <= t - 1; ++i) {
    double best = m.scores[i][i - 1];
    for (size_t j = i + 1; j <= t - 1; ++j) best = std::max(best, m.scores[j][i - 1]);
    sum += best - m.scores[t][i - 1];
  }
  return sum / static_cast<double>(t - 1);
}

TransferMetrics compute_metrics(const AccuracyMatrix& m) {
  return {average_accuracy(m), backward_transfer(m), forward_transfer(m), forgetting(m)};
}

}  // namespace retain
