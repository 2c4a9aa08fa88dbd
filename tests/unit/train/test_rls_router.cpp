// The RLS router of ASR (train/rls_router.h) against its closed form, in float64. Oracles:
//  * absorbing blocks one after another (block sizes 1, 7, 64, all rows; a class added per task
//    with a zero column) gives the joint ridge solution (XᵀX + λI)⁻¹ XᵀY of all rows at once, W and
//    R = (XᵀX + λI)⁻¹ both, to 1e-9 relative;
//  * absorbing the tasks in another order gives the same router, columns matched by task;
//  * the Cholesky form (A = Σ XᵀX + λI) gives the same W as the Woodbury recursion;
//  * float32 stays close to float64; the expansion is N(0, 0.02²) and seeded; bad input names itself.
//
// Tolerances: the data are N(0, 1) rows with E = 48 and λ = 100, so XᵀX + λI has condition number
// about (√N + √E)² / λ + 1 < 10 and every solve loses at most a few digits of float64's 1e-16; 1e-9
// leaves five orders of magnitude of headroom while any algebraic slip (a missing term, the gain taken
// from the old R) shows up at 1e-2 or worse.
#include "common/toy_run.h"
#include "retain/core/error.h"
#include "retain/train/rls_router.h"

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

namespace {

using namespace retain::testing;

constexpr int64_t kDim = 48;
constexpr double kLambda = 100;

// Task t: `rows` N(0, 1) rows shifted by a per-task mean, so that the classes are separable.
at::Tensor task_rows(int64_t task, int64_t rows, uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed + 17 * task);
  auto x = at::empty({rows, kDim}, at::kDouble).normal_(0, 1, g);
  auto mean = at::empty({1, kDim}, at::kDouble).normal_(0, 1, g);
  return x + 2 * mean;
}

// One-hot targets (rows × classes) of class `label`.
at::Tensor one_hot(int64_t rows, int64_t classes, int64_t label) {
  auto y = at::zeros({rows, classes}, at::kDouble);
  y.select(1, label).fill_(1);
  return y;
}

retain::RlsRouter make_router(int64_t block, retain::RlsSolver solver = retain::RlsSolver::Woodbury,
                              at::ScalarType dtype = at::kDouble) {
  retain::RlsRouterOptions o;
  o.dim = kDim;
  o.lambda = kLambda;
  o.block_size = block;
  o.solver = solver;
  o.dtype = dtype;
  return retain::RlsRouter(o);
}

const std::vector<int64_t> kRows = {70, 45, 93};

TEST(RlsRouter, SequentialBlocksEqualTheJointRidgeSolution) {
  std::vector<at::Tensor> xs;
  for (int64_t t = 0; t < 3; ++t) xs.push_back(task_rows(t, kRows[t], 1));
  const auto X = at::cat(xs, 0);
  std::vector<at::Tensor> ys;
  for (int64_t t = 0; t < 3; ++t) ys.push_back(one_hot(kRows[t], 3, t));
  const auto Y = at::cat(ys, 0);
  const auto W_joint = retain::ridge_weights(X, Y, kLambda);
  const auto R_joint = at::inverse(at::matmul(X.t(), X) + kLambda * at::eye(kDim, at::kDouble));
  for (int64_t block : {int64_t{1}, int64_t{7}, int64_t{64}, X.size(0)}) {
    SCOPED_TRACE("block " + std::to_string(block));
    auto router = make_router(block);
    for (int64_t t = 0; t < 3; ++t) {
      EXPECT_EQ(router.add_class(), t);
      router.absorb_class(xs[t], t);
    }
    EXPECT_LT(relative_error(router.weights(), W_joint), 1e-9);
    EXPECT_LT(relative_error(router.tensors()[1].second, R_joint), 1e-9);
  }
}

TEST(RlsRouter, FreeFunctionStepsEqualTheJointSolution) {
  // rls_absorb alone, two blocks with arbitrary real targets (not one-hot).
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  auto X = at::empty({50, kDim}, at::kDouble).normal_(0, 1, g);
  auto Y = at::empty({50, 4}, at::kDouble).normal_(0, 1, g);
  auto R = at::eye(kDim, at::kDouble) / kLambda;
  auto W = at::zeros({kDim, 4}, at::kDouble);
  retain::rls_absorb(R, W, X.narrow(0, 0, 20), Y.narrow(0, 0, 20));
  retain::rls_absorb(R, W, X.narrow(0, 20, 30), Y.narrow(0, 20, 30));
  EXPECT_LT(relative_error(W, retain::ridge_weights(X, Y, kLambda)), 1e-9);
  // The same through the Gram form.
  auto A = at::eye(kDim, at::kDouble) * kLambda;
  auto B = at::zeros({kDim, 4}, at::kDouble);
  retain::gram_absorb(A, B, X, Y);
  EXPECT_LT(relative_error(retain::cholesky_weights(A, B), W), 1e-9);
}

TEST(RlsRouter, TaskOrderDoesNotMatter) {
  std::vector<at::Tensor> xs;
  for (int64_t t = 0; t < 3; ++t) xs.push_back(task_rows(t, kRows[t], 5));
  auto forward = make_router(16), shuffled = make_router(16);
  for (int64_t t = 0; t < 3; ++t) forward.absorb_class(xs[t], forward.add_class());
  const std::vector<int64_t> order = {2, 0, 1};  // column c of `shuffled` holds task order[c]
  for (int64_t c = 0; c < 3; ++c) shuffled.absorb_class(xs[order[c]], shuffled.add_class());
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_LT(relative_error(shuffled.weights().select(1, c), forward.weights().select(1, order[c])), 1e-9) << c;
  EXPECT_LT(relative_error(shuffled.tensors()[1].second, forward.tensors()[1].second), 1e-9);
  // The router tells the tasks apart (the classes are separable by construction).
  for (int64_t t = 0; t < 3; ++t) EXPECT_GT(forward.predict(xs[t]).eq(t).to(at::kDouble).mean().item<double>(), 0.9);
}

TEST(RlsRouter, CholeskyFormEqualsWoodbury) {
  auto woodbury = make_router(10), cholesky = make_router(10, retain::RlsSolver::Cholesky);
  for (int64_t t = 0; t < 3; ++t) {
    auto x = task_rows(t, kRows[t], 9);
    woodbury.absorb_class(x, woodbury.add_class());
    cholesky.absorb_class(x, cholesky.add_class());
    // W is readable between tasks in both forms.
    EXPECT_LT(relative_error(cholesky.weights(), woodbury.weights()), 1e-9) << "after task " << t;
  }
  auto state = cholesky.tensors();
  ASSERT_EQ(state.size(), 3u);
  EXPECT_EQ(state[1].first, "A");
  EXPECT_EQ(state[2].first, "B");
}

TEST(RlsRouter, Float32StaysCloseToFloat64) {
  auto f64 = make_router(32), f32 = make_router(32, retain::RlsSolver::Woodbury, at::kFloat);
  for (int64_t t = 0; t < 3; ++t) {
    auto x = task_rows(t, kRows[t], 11);
    f64.absorb_class(x, f64.add_class());
    f32.absorb_class(x, f32.add_class());
  }
  EXPECT_EQ(f32.weights().scalar_type(), at::kFloat);
  // float32 rounding (6e-8) amplified by the same small condition number and ~200 rows of updates.
  EXPECT_LT(relative_error(f32.weights(), f64.weights()), 1e-4);
}

TEST(RlsRouter, TensorsRoundTrip) {
  for (auto solver : {retain::RlsSolver::Woodbury, retain::RlsSolver::Cholesky}) {
    auto router = make_router(8, solver);
    router.absorb_class(task_rows(0, 30, 2), router.add_class());
    router.absorb_class(task_rows(1, 30, 2), router.add_class());
    auto back = retain::RlsRouter::from_tensors(router.options(), router.tensors(), "test");
    EXPECT_EQ(back.classes(), 2);
    // Continuing both with the same block keeps them equal bit for bit.
    auto x = task_rows(2, 20, 2);
    router.absorb_class(x, router.add_class());
    back.absorb_class(x, back.add_class());
    EXPECT_TRUE(at::equal(back.weights(), router.weights()));
  }
}

TEST(RlsRouter, ExpansionIsSeededNormalAndActivated) {
  auto phi = retain::random_expansion(64, 2000, 7);
  EXPECT_EQ(phi.sizes(), at::IntArrayRef({2000, 64}));
  EXPECT_TRUE(at::equal(phi, retain::random_expansion(64, 2000, 7)));
  EXPECT_FALSE(at::equal(phi, retain::random_expansion(64, 2000, 8)));
  // 128,000 draws: the sample std is within 1% of 0.02 with overwhelming probability (σ_s ≈ 0.2%).
  EXPECT_NEAR(phi.std().item<double>(), 0.02, 2e-4);
  EXPECT_NEAR(phi.mean().item<double>(), 0.0, 2e-4);
  auto f = at::randn({5, 64}, at::kDouble);
  auto none = retain::expand_features(f, phi, retain::ExpansionActivation::None);
  auto relu = retain::expand_features(f, phi, retain::ExpansionActivation::Relu);
  EXPECT_LT(relative_error(none, at::matmul(f, phi.t())), 1e-15);
  EXPECT_TRUE(at::equal(relu, none.clamp_min(0)));
}

TEST(RlsRouter, BadInputNamesWhatIsWrong) {
  auto router = make_router(4);
  router.add_class();
  auto message = error_of([&] { router.absorb(at::zeros({3, kDim + 1}, at::kDouble), at::zeros({3, 1})); });
  EXPECT_MSG(message, "X must be (N, 48)");
  message = error_of([&] { router.absorb_class(at::zeros({3, kDim}, at::kDouble), 1); });
  EXPECT_MSG(message, "label 1");
  message = error_of([] { retain::parse_rls_solver("qr"); });
  EXPECT_MSG(message, "woodbury");
}

}  // namespace
