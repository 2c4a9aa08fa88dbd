// Sparse experts (model/sparse_expert.h), SETA's adapters. Oracles: a dense ΔW built entry by entry
// in float64 and its gradients (gyᵀx at the entries, gy ΔW) in float64; a mixed batch equals each
// sample through its own route alone; the merged kernel equals the base product plus the sparse
// delta and never writes the base weight.
//
// Tolerances: float64 checks 1e-10 / 1e-12 (a handful of products and sums of O(1) numbers); float32
// 1e-5 / 1e-6 (the same sums rounded to float32).
#include "retain/core/error.h"
#include "retain/model/adapted_linear.h"
#include "retain/model/sparse_expert.h"
#include "seta_test_util.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;

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

class MergedSparseLayer : public ::testing::TestWithParam<bool> {};

TEST_P(MergedSparseLayer, EqualsBaseProductPlusTheSparseDeltaAndLeavesTheWeightAlone) {
  const int64_t out = 5, in = 7;
  const bool with_bias = GetParam();
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
    EXPECT_LT((layer->forward(x).detach() - (x.detach().matmul(w_after.t()) + bias)).abs().max().item<double>(), 1e-12);
    EXPECT_TRUE(layer->weight.equal(weight_before));  // the base weight is never written
  }
  // Per-sample routes fall back to the sparse product (gather on the CPU), still exact.
  experts->set_routes(longs({1, 0}));
  const auto y = layer->forward(x.detach());
  for (int64_t b = 0; b < 2; ++b) {
    const auto w = layer->weight + experts->delta_weight_for(b == 0 ? 1 : 0);
    EXPECT_LT((y[b] - (x[b].detach().mm(w.t()) + bias)).abs().max().item<double>(), 1e-12);
  }
  EXPECT_THROW(
      retain::sparse_delta_matmul(x.detach().view({-1, in}), retain::SparsePattern::from_indices(longs({0}), out, in),
                                  at::ones({1}, at::kDouble), retain::SparseKernel::Merged),
      retain::Error);
}

INSTANTIATE_TEST_SUITE_P(Bias, MergedSparseLayer, ::testing::Bool(),
                         [](const auto& info) { return std::string(info.param ? "with_bias" : "without_bias"); });

}  // namespace
