// Training building blocks against closed forms: the answer-only causal LM loss and the schedules.
#include "common/toy_run.h"
#include "retain/train/loss.h"
#include "retain/train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace retain::testing;

// Loss: labels aligned with input_ids, shifted by one; prompt and padding (-100) carry nothing.
// Oracle: −log softmax computed by hand in float64 for each target position.
TEST(CausalLmLoss, EqualsHandComputedCrossEntropyOnAnswerTokensOnly) {
  auto logits = at::randn({2, 4, 5}, at::kDouble);
  auto labels = at::full({2, 4}, retain::kIgnoreIndex, at::kLong);
  labels[0][2] = 3;  // predicted from position 1
  labels[0][3] = 0;  // from position 2
  labels[1][1] = 4;  // from position 0
  labels[1][0] = 2;  // position 0 is never predicted: must be ignored
  const double expected_sum = -(at::log_softmax(logits[0][1], 0)[3] + at::log_softmax(logits[0][2], 0)[0] +
                                at::log_softmax(logits[1][0], 0)[4]).item<double>();
  auto parts = retain::causal_lm_loss_sum(logits, labels);
  EXPECT_EQ(parts.tokens, 3);
  EXPECT_NEAR(parts.sum.item<double>(), expected_sum, 1e-12);
  EXPECT_NEAR(retain::causal_lm_loss(logits, labels).item<double>(), expected_sum / 3, 1e-12);
}

TEST(CausalLmLoss, NoAnswerTokensGivesZeroWithAGradientPath) {
  auto logits = at::randn({1, 3, 5}, at::kFloat).set_requires_grad(true);
  auto labels = at::full({1, 3}, retain::kIgnoreIndex, at::kLong);
  auto loss = retain::causal_lm_loss(logits, labels);
  EXPECT_EQ(loss.item<float>(), 0.0f);
  loss.backward();
  EXPECT_TRUE(logits.grad().defined());
}

TEST(CausalLmLoss, BfloatLogitsAreReducedInFloat32) {
  auto logits = at::randn({1, 3, 7}).to(at::kBFloat16);
  auto labels = at::arange(3, at::kLong).unsqueeze(0);
  EXPECT_EQ(retain::causal_lm_loss_sum(logits, labels).sum.scalar_type(), at::kFloat);
}

TEST(CausalLmLoss, MismatchedShapesAreAnError) {
  auto message = error_of([] { retain::causal_lm_loss(at::zeros({2, 4, 5}), at::zeros({2, 3}, at::kLong)); });
  EXPECT_MSG(message, "[loss]");
}

// Schedules: transformers' formulas, evaluated by hand at a few steps (peak 1e-3, 10 steps, 2 warm-up).
TEST(Schedule, MatchesTransformersFormulas) {
  using retain::Schedule;
  const double peak = 1e-3;
  EXPECT_DOUBLE_EQ(retain::learning_rate_at(Schedule::Linear, peak, 0, 10, 2), 0.0);
  EXPECT_DOUBLE_EQ(retain::learning_rate_at(Schedule::Linear, peak, 1, 10, 2), 0.5e-3);
  EXPECT_DOUBLE_EQ(retain::learning_rate_at(Schedule::Linear, peak, 2, 10, 2), 1e-3);
  EXPECT_DOUBLE_EQ(retain::learning_rate_at(Schedule::Linear, peak, 6, 10, 2), 0.5e-3);  // (10-6)/(10-2)
  EXPECT_DOUBLE_EQ(retain::learning_rate_at(Schedule::Linear, peak, 10, 10, 2), 0.0);
  EXPECT_NEAR(retain::learning_rate_at(Schedule::Cosine, peak, 6, 10, 2), 0.5e-3, 1e-18);  // cos(π/2) = 0
  EXPECT_NEAR(retain::learning_rate_at(Schedule::Cosine, peak, 4, 10, 2), peak * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-18);
  EXPECT_DOUBLE_EQ(retain::learning_rate_at(Schedule::Constant, peak, 9, 10, 2), peak);
  EXPECT_DOUBLE_EQ(retain::learning_rate_at(Schedule::Constant, peak, 0, 10, 0), peak);
  EXPECT_EQ(retain::parse_schedule("cosine"), Schedule::Cosine);
  EXPECT_MSG(error_of([] { retain::parse_schedule("cosnie"); }), "expected constant, linear or cosine");
}

}  // namespace
