// SETA (train/seta.h) and sparse experts (model/sparse_expert.h). Oracles:
//  * selection: a stable sort of the scores (ties: lower index first), and on the tiny model the
//    top-k of |W ⊙ ∇W L| computed here by hand;
//  * split-on-share: a hand-made ownership whose partition is written out;
//  * the sparse product: a dense ΔW built entry by entry in float64, its gradients (gyᵀx at the
//    entries, gy ΔW) in float64; a mixed batch equals each sample through its own route alone;
//  * anchoring and the routing KL: their formulas on known numbers;
//  * the gate: with the routing-aware regulariser, draws from earlier tasks' stored statistics keep
//    their routes after a new task; without it they go to the new task;
//  * the method: earlier unique experts bitwise unchanged by a later task, state() → load_state()
//    on a fresh model gives the same logits, a 2-task run_method fills routing_accuracy and experts.
//
// Tolerances: float64 checks 1e-10 (a handful of products and sums of O(1) numbers). float32
// (model logits, batched vs one-by-one): a sample alone and in a padded batch go through differently
// shaped matrix products that sum in different orders, ~1e-7 relative per layer; 1e-5 bounds the
// 2-layer model with margin, while a wrong route changes the output by far more (checked).
#include "retain/core/error.h"
#include "retain/eval/results.h"
#include "retain/io/safetensors.h"
#include "retain/model/sparse_expert.h"
#include "retain/train/loss.h"
#include "retain/train/registry.h"
#include "retain/train/resume.h"
#include "retain/train/runner.h"
#include "retain/train/seta.h"
#include "retain/train/trainer.h"
#include "train_test_util.h"

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <numeric>

namespace {

namespace fs = std::filesystem;
using retain::testing::make_run;
using retain::testing::make_task;
using retain::testing::relative_error;
using retain::testing::temp_dir;

const fs::path kModel = retain::testing::tiny_model_dir();

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, g, at::TensorOptions().dtype(at::kDouble)).to(dtype);
}

at::Tensor longs(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }

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

std::vector<int64_t> values_of(const at::Tensor& t) {
  auto c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

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
// The sparse product

// ΔW (out × in) in float64, built entry by entry.
at::Tensor dense_delta(const at::Tensor& indices, const at::Tensor& values, int64_t out, int64_t in) {
  auto w = at::zeros({out, in}, at::kDouble);
  auto idx = indices.contiguous();
  auto val = values.to(at::kDouble).contiguous();
  for (int64_t k = 0; k < idx.numel(); ++k) {
    const int64_t j = idx.data_ptr<int64_t>()[k];
    w[j / in][j % in] += val.data_ptr<double>()[k];
  }
  return w;
}

class SparseKernels : public ::testing::TestWithParam<std::string> {};

TEST_P(SparseKernels, ProductAndGradientsEqualTheDenseDelta) {
  const auto kernel = retain::parse_sparse_kernel(GetParam());
  const int64_t out = 6, in = 9;
  const auto indices = longs({0, 4, 10, 13, 26, 27, 35, 40, 53});
  const auto p = retain::SparsePattern::from_indices(indices, out, in);
  EXPECT_EQ(values_of(p.crow), (std::vector<int64_t>{0, 2, 4, 5, 7, 8, 9}));  // rows 0 0 1 1 2 3 3 4 5
  auto values = randn({9}, 2, at::kDouble).requires_grad_(true);
  auto x = randn({5, in}, 3, at::kDouble).requires_grad_(true);
  const auto gy = randn({5, out}, 4, at::kDouble);
  auto y = retain::sparse_delta_matmul(x, p, values, kernel);
  const auto w = dense_delta(indices, values.detach(), out, in);
  EXPECT_LT((y - x.detach().mm(w.t())).abs().max().item<double>(), 1e-10);
  (y * gy).sum().backward();
  const auto full = gy.t().mm(x.detach()).view({-1});  // ∂/∂ΔW = gyᵀ x, read at the entries
  EXPECT_LT((values.grad() - full.index_select(0, indices)).abs().max().item<double>(), 1e-10);
  EXPECT_LT((x.grad() - gy.mm(w)).abs().max().item<double>(), 1e-10);
}

INSTANTIATE_TEST_SUITE_P(Kernels, SparseKernels, ::testing::Values("gather", "csr"),
                         [](const auto& info) { return info.param; });

TEST_P(SparseKernels, PerSampleRoutesInOneBatchEqualEachSampleAloneAndTheDenseDelta) {
  const auto kernel = retain::parse_sparse_kernel(GetParam());
  const int64_t out = 5, in = 7;
  retain::SparseExperts experts(in, out, kernel);
  // unique_t0 and shared_t0_t1 overlap at entry 3: route 0 sums both values there.
  experts->set_expert("unique_t0", longs({0, 3, 8, 20, 34}), randn({5}, 5), 0b01);
  experts->set_expert("unique_t1", longs({1, 9, 15, 33}), randn({4}, 6), 0b10);
  experts->set_expert("shared_t0_t1", longs({3, 12, 27}), randn({3}, 7), 0b11);
  const auto x = randn({4, 3, in}, 8);
  const std::vector<int64_t> routes = {1, 0, -1, 1};
  experts->set_routes(at::tensor(routes));
  const auto batched = experts->forward(x);
  for (int64_t b = 0; b < 4; ++b) {
    at::Tensor expected = at::zeros({3, out}, at::kDouble);
    if (routes[b] >= 0) {
      at::Tensor w = at::zeros({out, in}, at::kDouble);
      for (const auto& [name, e] : experts->experts())
        if (e->owners >> routes[b] & 1u) w = w + dense_delta(e->indices, e->values.detach(), out, in);
      expected = x[b].to(at::kDouble).mm(w.t());
      EXPECT_LT((experts->delta_weight_for(routes[b]).to(at::kDouble) - w).abs().max().item<double>(), 1e-6);
    }
    EXPECT_LT((batched[b].to(at::kDouble) - expected).abs().max().item<double>(), 1e-5) << "sample " << b;
    experts->set_route(routes[b]);  // one by one
    EXPECT_LT((experts->forward(x[b].unsqueeze(0))[0] - batched[b]).abs().max().item<double>(), 1e-5);
  }
  // Weighted top-2: Σ_i w_i ΔW_{r_i} per sample.
  const auto top2 = longs({0, 1, 1, 0, 0, -1, 1, 0}).view({4, 2});
  const auto weights = at::tensor({0.7f, 0.3f, 0.6f, 0.4f, 1.0f, 0.0f, 0.5f, 0.5f}).view({4, 2});
  experts->set_routes(top2, weights);
  const auto mixed = experts->forward(x);
  for (int64_t b = 0; b < 4; ++b) {
    auto expected = at::zeros({3, out});
    for (int64_t i = 0; i < 2; ++i) {
      const int64_t r = top2[b][i].item<int64_t>();
      if (r >= 0) expected += weights[b][i].item<float>() * x[b].mm(experts->delta_weight_for(r).t());
    }
    EXPECT_LT((mixed[b] - expected).abs().max().item<double>(), 1e-5) << "sample " << b;
  }
  EXPECT_THROW(experts->delta_weight(), retain::Error);  // per-sample routes: no single ΔW
}

TEST(SparseKernels, MergedLayerEqualsBaseProductPlusTheSparseDeltaAndLeavesTheWeightAlone) {
  const int64_t out = 5, in = 7;
  for (bool with_bias : {true, false}) {
  SCOPED_TRACE(with_bias ? "with bias" : "without bias");
  retain::AdaptedLinear layer(in, out, with_bias);
  {
    torch::NoGradGuard no_grad;
    layer->weight.copy_(randn({out, in}, 11, at::kDouble).to(at::kFloat));
    if (with_bias) layer->bias.copy_(randn({out}, 12, at::kDouble).to(at::kFloat));
  }
  layer->to(at::kDouble);
  layer->weight.requires_grad_(false);
  if (with_bias) layer->bias.requires_grad_(false);
  const auto bias = with_bias ? layer->bias.detach() : at::zeros({out}, at::kDouble);
  const auto weight_before = layer->weight.detach().clone();
  retain::SparseExperts experts(in, out, retain::SparseKernel::Merged);
  experts->set_expert("unique_t0", longs({0, 3, 8, 20, 34}), randn({5}, 5, at::kDouble), 0b01);
  experts->set_expert("unique_t1", longs({1, 9, 15, 33}), randn({4}, 6, at::kDouble), 0b10);
  experts->set_expert("shared_t0_t1", longs({3, 12, 27}), randn({3}, 7, at::kDouble), 0b11);
  layer->add_adapter("seta", experts.ptr());
  const auto x = randn({2, 3, in}, 8, at::kDouble).requires_grad_(true);
  const auto gy = randn({2, 3, out}, 9, at::kDouble);
  for (int64_t route : {0, 1, 0}) {  // switching routes restores the entries the last one wrote
    experts->set_route(route);
    const auto w = layer->weight.detach() + experts->delta_weight_for(route);
    for (auto& p : experts->parameters()) p.mutable_grad() = at::Tensor();
    x.mutable_grad() = at::Tensor();
    const auto y = layer->forward(x);
    const auto y2 = layer->forward(x);  // a second forward before the backward: no rewrite
    EXPECT_LT((y - (x.detach().matmul(w.t()) + bias)).abs().max().item<double>(), 1e-12) << route;
    ((y + y2) * gy).sum().backward();
    EXPECT_LT((x.grad() - 2 * gy.matmul(w)).abs().max().item<double>(), 1e-12) << route;
    const auto full = 2 * gy.reshape({-1, out}).t().mm(x.detach().reshape({-1, in})).view({-1});
    for (const auto& [name, e] : experts->experts()) {
      if (!(e->owners >> route & 1u)) {
        EXPECT_FALSE(e->values.grad().defined()) << name;
        continue;
      }
      EXPECT_LT((e->values.grad() - full.index_select(0, e->indices)).abs().max().item<double>(), 1e-12) << name;
    }
    // An optimizer-like in-place update of the values is seen by the next forward.
    {
      torch::NoGradGuard no_grad;
      for (auto& p : experts->parameters()) p.add_(0.25);
    }
    const auto w_after = layer->weight.detach() + experts->delta_weight_for(route);
    EXPECT_LT((layer->forward(x).detach() - (x.detach().matmul(w_after.t()) + bias)).abs().max().item<double>(),
              1e-12);
    EXPECT_TRUE(layer->weight.equal(weight_before));  // the base weight is never written
  }
  // Per-sample routes fall back to the sparse product (gather on the CPU), still exact.
  experts->set_routes(longs({1, 0}));
  const auto y = layer->forward(x.detach());
  for (int64_t b = 0; b < 2; ++b) {
    const auto w = layer->weight + experts->delta_weight_for(b == 0 ? 1 : 0);
    EXPECT_LT((y[b] - (x[b].detach().mm(w.t()) + bias)).abs().max().item<double>(), 1e-12);
  }
  EXPECT_THROW(retain::sparse_delta_matmul(x.detach().view({-1, in}),
                                           retain::SparsePattern::from_indices(longs({0}), out, in),
                                           at::ones({1}, at::kDouble), retain::SparseKernel::Merged),
               retain::Error);
  }
}

// ---------------------------------------------------------------------------------------------
// Anchoring and the gate

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

// ---------------------------------------------------------------------------------------------
// The method on the tiny model

struct TinyRun {
  fs::path root;
  std::unique_ptr<retain::Tokenizer> tok;
  std::vector<retain::Task> tasks;
  retain::RunContext run;
};

std::unique_ptr<TinyRun> tiny_run(const std::string& tag, int tasks = 2) {
  auto r = std::make_unique<TinyRun>();
  r->root = temp_dir(tag);
  r->tok = std::make_unique<retain::Tokenizer>(retain::Tokenizer::from_file(kModel / "tokenizer.json"));
  r->tasks = {retain::load_task(make_task(r->root, "colors", {"red", "blue", "green", "gold"}, 2)),
              retain::load_task(make_task(r->root, "animals", {"cat", "dog", "cow", "pig"}, 2))};
  if (tasks == 3)
    r->tasks.push_back(retain::load_task(make_task(r->root, "fruit", {"apple", "pear", "plum", "fig"}, 2)));
  r->run = make_run(r->tasks, at::kFloat, *r->tok);
  return r;
}

retain::SetaSettings small_settings() {
  retain::SetaSettings s;
  s.density = 0.2;  // large, so that the two tasks' selections overlap
  s.gate_steps = 50;
  s.importance_samples = 4;
  return s;
}

retain::OptimizerSettings few_steps() {
  retain::OptimizerSettings o;
  o.lr = 1e-2;
  o.batch_size = 4;
  o.max_steps = 2;
  return o;
}

TEST(Seta, SelectionIsTheTopOfWeightTimesGradientAtTheBaseModel) {
  auto r = tiny_run("seta_select");
  auto& run = r->run;
  // Scores by hand: every example of the task (8 ≤ selection_batches × batch size) in one batch.
  const auto& examples = run.train_data[0];
  std::vector<int64_t> rows(examples.size());
  std::iota(rows.begin(), rows.end(), 0);
  const auto batch = retain::collate(examples, rows, run.model->config.pad_token_id.value_or(0));
  retain::ForwardInput in;
  in.input_ids = batch.input_ids;
  in.attention_mask = batch.attention_mask;
  for (auto& p : run.model->parameters()) p.requires_grad_(true);
  auto parts = retain::causal_lm_loss_sum(run.model->forward(in), batch.labels);
  (parts.sum / static_cast<double>(parts.tokens)).backward();
  std::map<std::string, at::Tensor> expected, expected_fisher;
  auto settings = small_settings();
  for (auto& [name, linear] : run.model->linear_layers()) {
    expected[name] = retain::select_top_fraction((linear->weight * linear->weight.grad()).abs(), settings.density);
    expected_fisher[name] = retain::select_top_fraction(linear->weight.grad().square(), settings.density);
  }
  for (auto& p : run.model->parameters()) {
    p.mutable_grad() = at::Tensor();
    p.requires_grad_(false);
  }
  retain::SETA seta(settings);
  seta.on_run_start(run);
  retain::TaskContext ctx{run, 0};
  seta.on_task_start(ctx);
  ASSERT_EQ(seta.feature_layers(), 1);
  ASSERT_EQ(seta.expert_layers().size(), 7u);  // the 7 matrices of layer 1 (layer 0 feeds the gate)
  for (auto& [module, experts] : seta.expert_layers()) {
    ASSERT_EQ(experts->experts().size(), 1u) << module;  // the first task: one unique expert
    EXPECT_EQ(experts->experts()[0].first, "unique_t0");
    EXPECT_TRUE(experts->experts()[0].second->indices.equal(expected.at(module))) << module;
  }
  // selection = fisher: one batch, so Σ_b (∇W L_b)² is the squared gradient.
  auto r2 = tiny_run("seta_select_fisher");
  settings.selection = "fisher";
  retain::SETA fisher(settings);
  fisher.on_run_start(r2->run);
  retain::TaskContext ctx2{r2->run, 0};
  fisher.on_task_start(ctx2);
  for (auto& [module, experts] : fisher.expert_layers())
    EXPECT_TRUE(experts->experts()[0].second->indices.equal(expected_fisher.at(module))) << module;
}

TEST(Seta, EarlierUniqueExpertsStayBitwiseAndSharedExpertsAreAnchored) {
  auto r = tiny_run("seta_bitwise");
  auto& run = r->run;
  auto settings = small_settings();
  settings.anchor_lambda = 10;
  retain::SETA seta(settings);
  seta.on_run_start(run);
  retain::TaskContext first{run, 0}, second{run, 1};
  retain::train_task(seta, first, few_steps());
  std::vector<at::Tensor> indices, values;
  for (auto& [module, experts] : seta.expert_layers()) {
    indices.push_back(experts->expert("unique_t0")->indices.clone());
    values.push_back(experts->expert("unique_t0")->values.detach().clone());
  }
  ASSERT_GT(at::cat(values).abs().sum().item<double>(), 0) << "task 0 trained its unique expert";
  seta.on_task_start(second);  // as train_task does, to look at the split before training
  const auto& counts = seta.task_experts().at(1);
  EXPECT_GT(counts.shared, 0) << "density 0.2 twice: the selections overlap";
  EXPECT_EQ(counts.unique + counts.shared, seta.task_experts().at(0).unique);  // |M_t| is the same
  EXPECT_EQ(counts.shared_moved, 0);                                           // nothing was shared before
  for (auto& p : seta.trainable(second))
    for (auto& [module, experts] : seta.expert_layers())
      EXPECT_FALSE(p.is_same(experts->expert("unique_t0")->values)) << "task 1 trains no value of task 0";
  const auto start = seta.anchoring();
  ASSERT_TRUE(start.defined());
  EXPECT_EQ(start.item<double>(), 0.0);  // δ = δ* at the start
  // Undo the split's side effects and train task 1 through the loop.
  retain::SETA fresh(settings);
  auto r2 = tiny_run("seta_bitwise2");
  fresh.on_run_start(r2->run);
  retain::TaskContext f0{r2->run, 0}, f1{r2->run, 1};
  retain::train_task(fresh, f0, few_steps());
  std::vector<at::Tensor> before;
  for (auto& [module, experts] : fresh.expert_layers())
    before.push_back(experts->expert("unique_t0")->values.detach().clone());
  double extra = 0;
  retain::train_task(fresh, f1, few_steps(), [&](const retain::StepInfo& info) { extra += info.extra_loss; });
  size_t i = 0;
  for (auto& [module, experts] : fresh.expert_layers()) {
    EXPECT_TRUE(experts->expert("unique_t0")->values.equal(before[i])) << module;
    EXPECT_TRUE(experts->expert("unique_t0")->indices.equal(indices[i])) << module;
    ++i;
  }
  EXPECT_GT(extra, 0) << "the shared experts moved away from their anchors under the penalty";
}

TEST(Seta, AThirdTaskMovesSharedValuesAndChangesEarlierRoutesOnlyWhereItShares) {
  auto r = tiny_run("seta_three", 3);
  auto& run = r->run;
  retain::SETA seta(small_settings());
  seta.on_run_start(run);
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ctx{run, t};
    retain::train_task(seta, ctx, few_steps());
  }
  std::vector<std::vector<at::Tensor>> before(2);  // dense ΔW of routes 0 and 1, per layer
  std::vector<at::Tensor> uniques;
  for (auto& [module, experts] : seta.expert_layers()) {
    for (int64_t route = 0; route < 2; ++route)
      before[route].push_back(experts->delta_weight_for(route).detach().clone());
    for (const char* name : {"unique_t0", "unique_t1"})
      if (auto e = experts->expert(name)) uniques.push_back(e->values.detach().clone());
  }
  retain::TaskContext third{run, 2};
  retain::train_task(seta, third, few_steps());
  EXPECT_GT(seta.task_experts().at(2).shared_moved, 0) << "entries shared by tasks 0 and 1 are selected again";
  size_t u = 0, layer = 0;
  for (auto& [module, experts] : seta.expert_layers()) {
    for (const char* name : {"unique_t0", "unique_t1"})
      if (auto e = experts->expert(name)) {
        EXPECT_TRUE(e->values.equal(uniques[u++])) << module << " " << name;
      }
    for (int64_t route = 0; route < 2; ++route) {
      // Where route's ΔW may change: the entries of experts that it shares with task 2.
      auto allowed = at::zeros({experts->out_features * experts->in_features}, at::kBool);
      for (const auto& [name, e] : experts->experts())
        if ((e->owners >> route & 1u) && (e->owners >> 2 & 1u)) allowed.index_fill_(0, e->indices, true);
      const auto changed = experts->delta_weight_for(route).ne(before[route][layer]).view({-1});
      EXPECT_FALSE(changed.logical_and(allowed.logical_not()).any().item<bool>()) << module << " route " << route;
    }
    ++layer;
  }
}

TEST(Seta, StateRoundTripOnAFreshModelGivesTheSameRoutedLogits) {
  auto r = tiny_run("seta_state");
  auto& run = r->run;
  const auto settings = small_settings();
  retain::SETA seta(settings);
  seta.on_run_start(run);
  const auto base_names = retain::model_state_names(run.model);
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ctx{run, t};
    retain::train_task(seta, ctx, few_steps());
  }
  const auto state = seta.state(run);
  const auto saved = retain::model_state(run.model, base_names, false);

  auto r2 = tiny_run("seta_state2");
  retain::SETA restored(settings);
  restored.on_run_start(r2->run);
  restored.load_state(r2->run, 2, state);
  retain::load_model_state(r2->run.model, saved, "test");

  // A batch mixing both tasks' prompts through the gate.
  const auto& a = run.train_data[0][0];
  const auto& b = run.train_data[1][1];
  const auto batch = retain::collate({a, b}, {0, 1}, run.model->config.pad_token_id.value_or(0));
  retain::ForwardInput in;
  in.input_ids = batch.input_ids;
  in.attention_mask = batch.attention_mask;
  seta.prepare_evaluation(run, 2);
  restored.prepare_evaluation(r2->run, 2);
  torch::NoGradGuard no_grad;
  const auto expected = run.model->forward(in);
  EXPECT_TRUE(r2->run.model->forward(in).equal(expected));
  EXPECT_TRUE(restored.gate()->w2.equal(seta.gate()->w2));
  // And the routed batch equals each sample alone through its route (model level).
  for (int64_t s = 0; s < 2; ++s) {
    const auto one = retain::collate({s == 0 ? a : b}, {0}, 0);
    retain::ForwardInput alone;
    alone.input_ids = one.input_ids;
    const auto logits = run.model->forward(alone)[0];
    const int64_t len = one.input_ids.size(1);
    EXPECT_LT(relative_error(logits, expected[s].narrow(0, 0, len)), 1e-5) << "sample " << s;
  }
  // The experts matter: the base model differs.
  seta.prepare_evaluation(run, 0);
  EXPECT_GT(relative_error(run.model->forward(in), expected), 1e-4);
}

TEST(Seta, RunMethodFillsRoutingAccuracyExpertsAndCheckpoints) {
  const auto root = temp_dir("seta_run");
  std::vector<retain::Task> tasks = {retain::load_task(make_task(root, "colors", {"red", "blue", "green", "gold"}, 2)),
                                     retain::load_task(make_task(root, "animals", {"cat", "dog", "cow", "pig"}, 2))};
  retain::RunConfig config;
  config.optim.lr = 1e-2;
  config.optim.batch_size = 4;
  config.eval.scoring = "rank";
  config.run.max_length = 64;
  config.run.save_checkpoints = true;
  config.methods["seta"] = {{"gate_steps", 50}, {"importance_samples", 4}};
  const auto results = retain::run_method("seta", kModel, tasks, config, root / "out");
  ASSERT_TRUE(results.routing_accuracy.has_value());
  const auto& routing = *results.routing_accuracy;
  EXPECT_TRUE(routing[0][0].has_value() && !routing[0][1].has_value());
  EXPECT_TRUE(routing[1][0].has_value() && routing[1][1].has_value());
  EXPECT_EQ(*routing[0][0], 1.0);  // one task: one class
  ASSERT_TRUE(results.experts.has_value());
  ASSERT_EQ(results.experts->size(), 2u);
  const auto& e0 = (*results.experts)[0];
  const auto& e1 = (*results.experts)[1];
  EXPECT_EQ(e0["task"], "colors");
  EXPECT_EQ(e0["shared"], 0);
  EXPECT_EQ(e0["new_values"], e0["unique"]);
  EXPECT_EQ(e1["unique"].get<int64_t>() + e1["shared"].get<int64_t>(), e0["unique"].get<int64_t>());
  EXPECT_EQ(e1["total_values"].get<int64_t>(), e0["total_values"].get<int64_t>() + e1["new_values"].get<int64_t>());
  // ~1% of the model's parameters per task (trainable_share 0.01), rounded per matrix.
  EXPECT_NEAR(static_cast<double>(results.trainable_params), 0.01 * 110912, 10);
  EXPECT_TRUE(results.config["method"]["seta"].contains("density"));
  // results.json reads back strictly, experts included.
  const auto back = retain::read_results_json(root / "out" / "seta" / "results.json");
  EXPECT_EQ(back.experts, results.experts);
  auto text = retain::json::parse(retain::read_file(root / "out" / "seta" / "results.json"));
  text["experts"].erase(1);  // one object per task, or the strict reader refuses the file
  EXPECT_NE(retain::testing::error_of([&] { retain::MethodResults::from_json(text); }).find("experts"),
            std::string::npos);
  const auto dir = root / "out" / "seta" / "checkpoints" / "task_2";
  for (const char* f : {"experts.safetensors", "gate.safetensors", "feature_stats.safetensors", "experts.json"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  const auto file = retain::safetensors::File::open(dir / "experts.safetensors");
  EXPECT_TRUE(file.contains("model.layers.1.self_attn.q_proj.seta.unique_t0.indices"));
  EXPECT_TRUE(file.contains("model.layers.1.self_attn.q_proj.seta.unique_t1.values"));
}

TEST(Seta, BadSettingsNameTheKey) {
  auto message = retain::testing::error_of([] { retain::make_method("seta", {{"selection", "random"}}); });
  EXPECT_NE(message.find("method.seta.selection"), std::string::npos) << message;
  message = retain::testing::error_of([] { retain::make_method("seta", {{"density", 1.5}}); });
  EXPECT_NE(message.find("method.seta.density"), std::string::npos) << message;
  message = retain::testing::error_of([] { retain::make_method("seta", {{"kernel", "dense"}}); });
  EXPECT_NE(message.find("method.seta.kernel"), std::string::npos) << message;
}

}  // namespace
