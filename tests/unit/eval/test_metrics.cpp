// Accuracy-matrix metrics against hand-computed values (methods.md §0). Tolerance 1e-12: each metric
// sums at most four differences of values in [0, 1], so rounding stays within a few ulps of 1.
#include "retain/eval/metrics.h"

#include "common/test_support.h"

#include <cmath>
#include <limits>

namespace {

using namespace retain::testing;

using retain::AccuracyMatrix;

constexpr double kTol = 1e-12;

AccuracyMatrix make(std::vector<std::string> tasks, std::vector<std::vector<double>> scores) {
  AccuracyMatrix m;
  m.tasks = std::move(tasks);
  m.scores = std::move(scores);
  return m;
}

// Rows: stage j (0 = before, j = after task j); columns: task 1..3.
AccuracyMatrix three_tasks_a() {
  return make({"t1", "t2", "t3"}, {{0.10, 0.20, 0.30},    // a[0][·]
                                   {0.90, 0.25, 0.35},    // a[1][·]
                                   {0.70, 0.80, 0.40},    // a[2][·]
                                   {0.60, 0.75, 0.85}});  // a[3][·]
}

TEST(Metrics, ThreeTasksHandComputed) {
  const auto m = three_tasks_a();
  // AA = (a[3][1] + a[3][2] + a[3][3]) / 3 = (0.60 + 0.75 + 0.85) / 3 = 2.20 / 3
  EXPECT_NEAR(retain::average_accuracy(m), 2.20 / 3.0, kTol);
  // BWT = ((a[3][1] − a[1][1]) + (a[3][2] − a[2][2])) / 2 = ((0.60 − 0.90) + (0.75 − 0.80)) / 2 = −0.35 / 2
  EXPECT_NEAR(*retain::backward_transfer(m), -0.175, kTol);
  // FWT = ((a[1][2] − a[0][2]) + (a[2][3] − a[0][3])) / 2 = ((0.25 − 0.20) + (0.40 − 0.30)) / 2 = 0.15 / 2
  EXPECT_NEAR(*retain::forward_transfer(m), 0.075, kTol);
  // F: task 1: max(a[1][1], a[2][1]) − a[3][1] = 0.90 − 0.60 = 0.30; task 2: a[2][2] − a[3][2] = 0.05.
  // F = (0.30 + 0.05) / 2
  EXPECT_NEAR(*retain::forgetting(m), 0.175, kTol);
}

TEST(Metrics, ForgettingTakesTheBestLaterScoreNotTheDiagonal) {
  // Task 1 keeps improving after its own training (0.50 → 0.80), then drops to 0.40.
  const auto m =
      make({"t1", "t2", "t3"}, {{0.00, 0.00, 0.00}, {0.50, 0.10, 0.00}, {0.80, 0.60, 0.20}, {0.40, 0.60, 0.90}});
  // AA = (0.40 + 0.60 + 0.90) / 3 = 1.90 / 3
  EXPECT_NEAR(retain::average_accuracy(m), 1.90 / 3.0, kTol);
  // BWT = ((0.40 − 0.50) + (0.60 − 0.60)) / 2 = −0.05
  EXPECT_NEAR(*retain::backward_transfer(m), -0.05, kTol);
  // FWT = ((a[1][2] − a[0][2]) + (a[2][3] − a[0][3])) / 2 = (0.10 + 0.20) / 2 = 0.15
  EXPECT_NEAR(*retain::forward_transfer(m), 0.15, kTol);
  // F = ((max(0.50, 0.80) − 0.40) + (0.60 − 0.60)) / 2 = 0.40 / 2 = 0.20 (−BWT would be 0.05)
  EXPECT_NEAR(*retain::forgetting(m), 0.20, kTol);
}

TEST(Metrics, NoForgetting) {
  // Each task keeps its trained score exactly; untrained tasks stay at the base score.
  const auto m =
      make({"a", "b", "c"}, {{0.20, 0.20, 0.20}, {0.80, 0.20, 0.20}, {0.80, 0.90, 0.20}, {0.80, 0.90, 0.70}});
  EXPECT_NEAR(retain::average_accuracy(m), 2.40 / 3.0, kTol);  // (0.80 + 0.90 + 0.70) / 3
  EXPECT_EQ(*retain::backward_transfer(m), 0.0);               // (0.80 − 0.80) + (0.90 − 0.90), exactly
  EXPECT_EQ(*retain::forgetting(m), 0.0);                      // max of equal values − same value, exactly
  EXPECT_EQ(*retain::forward_transfer(m), 0.0);                // (0.20 − 0.20) + (0.20 − 0.20), exactly
}

TEST(Metrics, Catastrophic) {
  // Each task is learnt perfectly and entirely lost after the next one.
  const auto m = make({"a", "b", "c"}, {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}});
  EXPECT_NEAR(retain::average_accuracy(m), 1.0 / 3.0, kTol);  // (0 + 0 + 1) / 3
  EXPECT_EQ(*retain::backward_transfer(m), -1.0);             // ((0 − 1) + (0 − 1)) / 2
  EXPECT_EQ(*retain::forgetting(m), 1.0);                     // ((1 − 0) + (1 − 0)) / 2
  EXPECT_EQ(*retain::forward_transfer(m), 0.0);               // ((0 − 0) + (0 − 0)) / 2
}

TEST(Metrics, NegativeForgettingIsNotClampedAndExcludesTheLastStage) {
  // Task 1 ends above its score after its own training.
  const auto m = make({"a", "b"}, {{0.1, 0.1}, {0.5, 0.3}, {0.7, 0.9}});
  EXPECT_NEAR(retain::average_accuracy(m), 0.8, kTol);    // (0.7 + 0.9) / 2
  EXPECT_NEAR(*retain::backward_transfer(m), 0.2, kTol);  // 0.7 − 0.5
  EXPECT_NEAR(*retain::forward_transfer(m), 0.2, kTol);   // a[1][2] − a[0][2] = 0.3 − 0.1
  EXPECT_NEAR(*retain::forgetting(m), -0.2, kTol);        // max_{1≤j≤1} a[j][1] − a[2][1] = 0.5 − 0.7
}

TEST(Metrics, SingleTaskHasOnlyAverageAccuracy) {
  const auto m = make({"only"}, {{0.3}, {0.8}});
  EXPECT_EQ(retain::average_accuracy(m), 0.8);
  EXPECT_FALSE(retain::backward_transfer(m).has_value());
  EXPECT_FALSE(retain::forward_transfer(m).has_value());
  EXPECT_FALSE(retain::forgetting(m).has_value());
  const auto all = retain::compute_metrics(m);
  EXPECT_EQ(all.average_accuracy, 0.8);
  EXPECT_FALSE(all.backward_transfer || all.forward_transfer || all.forgetting);
}

TEST(Metrics, ComputeMetricsMatchesTheSingleFunctions) {
  const auto m = three_tasks_a();
  const auto all = retain::compute_metrics(m);
  EXPECT_EQ(all.average_accuracy, retain::average_accuracy(m));
  EXPECT_EQ(*all.backward_transfer, *retain::backward_transfer(m));
  EXPECT_EQ(*all.forward_transfer, *retain::forward_transfer(m));
  EXPECT_EQ(*all.forgetting, *retain::forgetting(m));
}

TEST(Metrics, ZerosHasTheRightShape) {
  const auto m = AccuracyMatrix::zeros({"a", "b"});
  ASSERT_EQ(m.scores.size(), 3u);
  for (const auto& row : m.scores) EXPECT_EQ(row, std::vector<double>({0.0, 0.0}));
  EXPECT_EQ(m.at(2, 1), 0.0);
  EXPECT_MSG(error_of([&] { m.at(3, 0); }), "stage 3");
}

TEST(Metrics, ValidationNamesTheProblem) {
  auto m = three_tasks_a();
  m.scores.pop_back();
  EXPECT_MSG(error_of([&] { retain::average_accuracy(m); }), "3 rows, expected 4");

  m = three_tasks_a();
  m.scores[2].push_back(0.5);
  EXPECT_MSG(error_of([&] { m.validate(); }), "row 2 has 4 columns, expected 3");

  m = three_tasks_a();
  m.scores[1][2] = std::numeric_limits<double>::quiet_NaN();
  auto message = error_of([&] { retain::forgetting(m); });
  EXPECT_MSG(message, "row 1 column 2 (task \"t3\")");

  m = three_tasks_a();
  m.scores[0][0] = 75.0;  // a percentage where a fraction belongs
  EXPECT_MSG(error_of([&] { m.validate(); }), "expected a fraction in [0, 1]");

  m = three_tasks_a();
  m.tasks[2] = "t1";
  EXPECT_MSG(error_of([&] { m.validate(); }), "\"t1\" appears twice");

  EXPECT_MSG(error_of([&] { make({}, {{}}).validate(); }), "no tasks");
  EXPECT_EQ(error_of([&] { three_tasks_a().validate(); }), "");
}

}  // namespace
