// SETA's gate (train/methods/seta_gate.h). Oracles: the routing KL on known numbers; with the
// routing-aware regulariser, draws from earlier tasks' stored statistics keep their routes after a
// new task, without it they go to the new task; pseudo-features follow the stored mean and covariance.
#include "retain/train/methods/seta_gate.h"
#include "seta_test_util.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace retain::testing;

// ---------------------------------------------------------------------------------------------
// The gate

TEST(SetaGate, RoutingKlEqualsItsFormula) {
  const auto old_probs = at::tensor({0.7, 0.3, 0.2, 0.8}, at::kDouble).view({2, 2});
  const auto logits = at::tensor({1.0, -0.5, 0.25, 0.0, 2.0, -1.0}, at::kDouble).view({2, 3});
  double expected = 0;
  for (int64_t n = 0; n < 2; ++n) {
    const auto q = at::softmax(logits[n], 0);
    for (int64_t c = 0; c < 2; ++c) {
      const double p = old_probs[n][c].item<double>();
      expected += p * std::log(p / q[c].item<double>());
    }
  }
  EXPECT_NEAR(retain::routing_kl(old_probs, logits).item<double>(), expected / 2, 1e-12);
}

// Features of three tasks around well-separated means; trains the gate task after task as SETA does.
double old_routes_kept(bool replay) {
  const int64_t d = 8, n = 40;
  std::vector<at::Tensor> features;
  for (int64_t t = 0; t < 3; ++t) {
    auto mean = at::zeros({d});
    mean[t] = 2.0;
    features.push_back(mean + 0.3 * randn({n, d}, 20 + t));
  }
  auto gate = retain::SetaGate::create(d, 0, 1, at::kCPU);
  std::vector<retain::FeatureStats> stats;
  for (int64_t t = 0; t < 3; ++t) {
    gate.add_class();
    // Task 1 always trains with replay, so that tasks 0 and 1 have routes before task 2.
    retain::GateTraining o;
    o.replay = t < 2 || replay;
    o.steps = t < 2 ? 50 : 300;
    retain::train_gate(gate, features[t], t, stats, o, 100 + t);
    stats.push_back(retain::feature_stats(features[t], false));
  }
  // Fresh draws from the stored statistics of tasks 0 and 1 (no raw data).
  double right = 0;
  for (int64_t t = 0; t < 2; ++t) {
    const auto draws = retain::sample_features(stats[t], 200, 0.1, 900 + t);
    right += gate.route(draws, 1).first.select(1, 0).eq(t).to(at::kDouble).mean().item<double>() / 2;
  }
  const auto now = gate.route(features[2], 1).first.select(1, 0).eq(2).to(at::kDouble).mean().item<double>();
  EXPECT_GT(now, 0.95) << "the new task routes to itself";
  return right;
}

TEST(SetaGate, RoutingAwareRegulariserKeepsOldRoutesOnStoredStatistics) {
  EXPECT_GT(old_routes_kept(/*replay=*/true), 0.9);
  EXPECT_LT(old_routes_kept(/*replay=*/false), 0.3);
}

TEST(SetaGate, PseudoFeaturesFollowTheStoredStatistics) {
  const auto f = randn({500, 3}, 30) * at::tensor({1.0f, 2.0f, 0.5f}) + at::tensor({1.0f, -1.0f, 0.0f});
  const auto s = retain::feature_stats(f, false);
  const auto draws = retain::sample_features(s, 20000, 0.0, 31);
  // Sampling error of a mean over 20000 draws with σ ≤ 2: ~0.015; 0.06 is 4σ.
  EXPECT_LT((draws.mean(0) - s.mean).abs().max().item<double>(), 0.06);
  const auto c = draws - draws.mean(0);
  EXPECT_LT((c.t().mm(c) / 20000 - s.covariance).abs().max().item<double>(), 0.15);
  EXPECT_TRUE(retain::sample_features(s, 5, 0.1, 7).equal(retain::sample_features(s, 5, 0.1, 7)));  // seeded
}

}  // namespace
