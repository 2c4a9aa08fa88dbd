// AdamW's parameter groups. Oracle: torch::optim::AdamW with the same param groups, which our AdamW
// must follow bit for bit on the CPU (the CUDA fused path is compared with the per-parameter one in
// tests/gpu/test_cuda_train.cpp).
#include "common/test_support.h"
#include "retain/train/adamw.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

using retain::testing::error_of;

std::vector<at::Tensor> copies(const std::vector<at::Tensor>& ps) {
  std::vector<at::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad_(true));
  return out;
}

torch::optim::AdamWOptions& torch_group(torch::optim::AdamW& opt, size_t g) {
  return static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[g].options());
}

// Two groups as pretraining uses them (decay on the matrices, none on vectors) plus a third with its
// own lr; the schedule then moves every group's lr (set_lr), and one group's alone (set_lr(g, lr)).
TEST(AdamW, ParameterGroupsTakeTorchsStepsBitForBit) {
  torch::manual_seed(8);
  std::vector<at::Tensor> ours = {torch::randn({5, 7}), torch::randn({7}), torch::randn({3, 2}), torch::randn({2})};
  for (auto& p : ours) p.requires_grad_(true);
  std::vector<at::Tensor> theirs = copies(ours);

  retain::AdamWOptions defaults;
  defaults.lr = 3e-2;
  defaults.beta2 = 0.95;
  defaults.weight_decay = 0.1;
  std::vector<retain::AdamWGroup> groups(3);
  groups[0].params = {ours[0], ours[2]};  // decay 0.1, lr 3e-2 (the defaults)
  groups[1].params = {ours[1]};
  groups[1].weight_decay = 0.0;
  groups[2].params = {ours[3]};
  groups[2].lr = 1e-2;
  groups[2].weight_decay = 0.5;
  retain::AdamW adamw(groups, defaults);
  EXPECT_EQ(adamw.group_count(), 3u);
  EXPECT_EQ(adamw.group_lr(2), 1e-2);
  EXPECT_EQ(adamw.group_weight_decay(1), 0.0);
  EXPECT_EQ(adamw.group_weight_decay(0), 0.1);
  ASSERT_EQ(adamw.params().size(), 4u);  // numbered across the groups: 0, 2 | 1 | 3
  EXPECT_TRUE(adamw.params()[1].is_same(ours[2]));

  auto options = [](double lr, double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(lr).betas({0.9, 0.95}).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  torch_groups.emplace_back(std::vector<at::Tensor>{theirs[0], theirs[2]}, options(3e-2, 0.1));
  torch_groups.emplace_back(std::vector<at::Tensor>{theirs[1]}, options(3e-2, 0.0));
  torch_groups.emplace_back(std::vector<at::Tensor>{theirs[3]}, options(1e-2, 0.5));
  torch::optim::AdamW reference(torch_groups, torch::optim::AdamWOptions(3e-2).betas({0.9, 0.95}).weight_decay(0.1));

  for (int step = 0; step < 8; ++step) {
    const auto target = torch::randn({5, 7});
    for (auto* ps : {&ours, &theirs}) {
      auto loss =
          ((*ps)[0] - target).pow(2).sum() + (*ps)[1].pow(3).sum() + (*ps)[2].sin().sum() + ((*ps)[3] * (*ps)[3]).sum();
      loss.backward();
    }
    if (step == 4) {  // a schedule moves every group's lr
      adamw.set_lr(5e-3);
      for (size_t g = 0; g < 3; ++g) torch_group(reference, g).lr(5e-3);
    }
    if (step == 6) {  // and one group alone
      adamw.set_lr(1, 2e-2);
      torch_group(reference, 1).lr(2e-2);
    }
    adamw.step();
    reference.step();
    adamw.zero_grad();
    reference.zero_grad();
    for (size_t i = 0; i < ours.size(); ++i)
      EXPECT_TRUE(at::equal(ours[i], theirs[i])) << "step " << step << " param " << i;
  }
  EXPECT_EQ(adamw.group_lr(0), 5e-3);
  EXPECT_EQ(adamw.group_lr(1), 2e-2);
}

// The state is numbered across the groups, so a restored optimizer with the same groups continues
// bitwise; one group of the same parameters reads the same names.
TEST(AdamW, GroupStateRoundTripsUnderFlatNames) {
  torch::manual_seed(9);
  std::vector<at::Tensor> a = {torch::randn({4, 3}).requires_grad_(true), torch::randn({3}).requires_grad_(true)};
  std::vector<at::Tensor> b = copies(a);
  auto grouped = [](const std::vector<at::Tensor>& ps) {
    std::vector<retain::AdamWGroup> groups(2);
    groups[0].params = {ps[0]};
    groups[1].params = {ps[1]};
    groups[1].weight_decay = 0.0;
    return groups;
  };
  retain::AdamWOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.2;
  retain::AdamW first(grouped(a), o), second(grouped(b), o);
  auto step = [](retain::AdamW& opt, std::vector<at::Tensor>& p, int k) {
    auto loss = (p[0] * static_cast<double>(k + 1)).sin().sum() + p[1].pow(2).sum() * (k + 1);
    loss.backward();
    opt.step();
    opt.zero_grad();
  };
  for (int k = 0; k < 3; ++k) step(first, a, k), step(second, b, k);
  std::set<std::string> names;
  for (const auto& [name, t] : second.state()) names.insert(name);
  EXPECT_EQ(names,
            (std::set<std::string>{"0.exp_avg", "0.exp_avg_sq", "0.step", "1.exp_avg", "1.exp_avg_sq", "1.step"}));
  retain::AdamW restored(grouped(b), o);
  restored.load_state(second.state());
  for (int k = 3; k < 6; ++k) step(first, a, k), step(restored, b, k);
  EXPECT_TRUE(at::equal(a[0], b[0]));
  EXPECT_TRUE(at::equal(a[1], b[1]));
  // One group over the same parameters accepts the names (only the decay differs).
  retain::AdamW flat(std::vector<at::Tensor>{b[0], b[1]}, o);
  EXPECT_NO_THROW(flat.load_state(second.state()));
}

TEST(AdamW, AOneGroupListIsTheSingleListOptimizer) {
  torch::manual_seed(10);
  std::vector<at::Tensor> a = {torch::randn({6}).requires_grad_(true)};
  std::vector<at::Tensor> b = copies(a);
  retain::AdamWOptions o;
  o.lr = 2e-2;
  o.weight_decay = 0.05;
  retain::AdamW single(a, o);
  std::vector<retain::AdamWGroup> groups(1);
  groups[0].params = b;
  retain::AdamW grouped(groups, o);
  for (int k = 0; k < 4; ++k) {
    for (auto* ps : {&a, &b}) ((*ps)[0].cos() * (k + 1)).sum().backward();
    single.step();
    grouped.step();
    single.zero_grad();
    grouped.zero_grad();
  }
  EXPECT_TRUE(at::equal(a[0], b[0]));
}

TEST(AdamW, ANegativeGroupSettingIsAnErrorNamingTheGroup) {
  std::vector<retain::AdamWGroup> groups(2);
  groups[0].params = {torch::zeros({2}, torch::requires_grad())};
  groups[1].params = {torch::zeros({2}, torch::requires_grad())};
  groups[1].weight_decay = -0.1;
  const auto e = error_of([&] { retain::AdamW(groups, retain::AdamWOptions{}); });
  EXPECT_MSG(e, "parameter group 1");
}

}  // namespace
