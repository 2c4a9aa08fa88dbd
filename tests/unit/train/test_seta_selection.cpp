// SETA's selection and anchoring math (train/methods/seta_selection.h). Oracles: a stable sort of
// the scores (ties: lower index first); for split-on-share, a hand-made ownership whose partition is
// written out; anchoring on known numbers.
#include "retain/core/error.h"
#include "retain/train/methods/seta.h"
#include "retain/train/methods/seta_selection.h"
#include "seta_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace {

using namespace retain::testing;

// ---------------------------------------------------------------------------------------------
// Selection

std::vector<int64_t> top_by_sort(const std::vector<float>& scores, int64_t k) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

TEST(SetaSelection, TopFractionEqualsAStableSortOfTheScores) {
  auto scores = randn({13, 17}, 1).abs();
  // Ties across the cut: the lower flat index must win.
  scores.view({-1}).narrow(0, 20, 30).fill_(0.5);
  std::vector<float> flat(scores.data_ptr<float>(), scores.data_ptr<float>() + scores.numel());
  for (double rho : {0.004, 0.1, 0.25, 0.5, 1.0}) {
    const int64_t k = retain::top_count(scores.numel(), rho);
    EXPECT_EQ(k, std::clamp<int64_t>(std::llround(rho * 221), 1, 221));
    const auto got = retain::select_top_fraction(scores, rho);
    EXPECT_EQ(std::vector<int64_t>(got.data_ptr<int64_t>(), got.data_ptr<int64_t>() + got.numel()),
              top_by_sort(flat, k))
        << "rho " << rho;
  }
  // NaN counts as −∞: never selected before a finite score.
  auto with_nan = at::tensor({1.0f, NAN, 3.0f, -2.0f});
  const auto two = retain::select_top_k(with_nan, 3);
  EXPECT_TRUE(two.equal(longs({0, 2, 3})));
  EXPECT_THROW(retain::select_top_k(with_nan, 5), retain::Error);
  EXPECT_THROW(retain::top_count(10, 0.0), retain::Error);
}

// ---------------------------------------------------------------------------------------------
// Split-on-share

TEST(SetaSplit, OwnedEntriesJoinTheSharedExpertOfTheirNewOwnerSet) {
  using retain::ExpertEntries;
  // Task 0 owns {1, 3, 5, 7}; task 1 owns {2, 4} and shares 3 with task 0 (shared_t0_t1 = {3}).
  std::vector<ExpertEntries> existing = {
      {0b01, true, longs({1, 3, 5, 7})}, {0b10, true, longs({2, 4})}, {0b11, false, longs({3})}};
  const auto plan = retain::split_on_share(longs({2, 3, 5, 6, 9}), existing, 2);
  EXPECT_EQ(values_of(plan.unique), (std::vector<int64_t>{6, 9}));
  ASSERT_EQ(plan.shared.size(), 3u);  // ascending owner sets: {0,2}, {1,2}, {0,1,2}
  EXPECT_EQ(plan.shared[0].owners, 0b101u);
  EXPECT_EQ(values_of(plan.shared[0].indices), std::vector<int64_t>{5});
  EXPECT_EQ(values_of(plan.shared[0].source), std::vector<int64_t>{-1});  // first shared: a new value
  EXPECT_EQ(plan.shared[1].owners, 0b110u);
  EXPECT_EQ(values_of(plan.shared[1].indices), std::vector<int64_t>{2});
  EXPECT_EQ(plan.shared[2].owners, 0b111u);
  EXPECT_EQ(values_of(plan.shared[2].indices), std::vector<int64_t>{3});
  EXPECT_EQ(values_of(plan.shared[2].source), std::vector<int64_t>{2});  // moves from shared_t0_t1 ...
  EXPECT_EQ(values_of(plan.shared[2].position), std::vector<int64_t>{0});
  EXPECT_FALSE(plan.keep[2].any().item<bool>());                                    // ... which loses it
  EXPECT_TRUE(plan.keep[0].all().item<bool>() && plan.keep[1].all().item<bool>());  // unique: never change
  EXPECT_EQ(retain::SETA::expert_name(0b101, false), "shared_t0_t2");
  EXPECT_EQ(retain::SETA::expert_name(0b100, true), "unique_t2");
}

// ---------------------------------------------------------------------------------------------
// Anchoring

TEST(SetaAnchoring, EqualsItsFormulaOnKnownNumbers) {
  const auto values = at::tensor({1.0f, 2.0f, 3.0f}).requires_grad_(true);
  const auto anchors = at::tensor({0.5f, 2.0f, 4.0f});
  const auto omega = at::tensor({2.0f, 1.0f, 0.5f});
  // 3 · (2 · 0.25 + 1 · 0 + 0.5 · 1) = 3
  auto penalty = retain::anchoring_penalty(values, anchors, omega, 3.0);
  EXPECT_DOUBLE_EQ(penalty.item<double>(), 3.0);
  penalty.backward();  // 2 λ Ω (δ − δ*) = (6, 0, −3)
  EXPECT_TRUE(values.grad().equal(at::tensor({6.0f, 0.0f, -3.0f})));
  // Normalised per expert: mean 7/6 → Ω / (7/6); max → Ω / 2; an all-zero Ω → ones.
  EXPECT_LT((retain::normalise_importance(omega, "mean") - omega * (6.0 / 7.0)).abs().max().item<double>(), 1e-7);
  EXPECT_TRUE(retain::normalise_importance(omega, "max").equal(omega / 2));
  EXPECT_TRUE(retain::normalise_importance(at::zeros({3}), "mean").equal(at::ones({3})));
}

}  // namespace
