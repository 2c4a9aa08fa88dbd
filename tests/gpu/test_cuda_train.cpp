// Training on CUDA: bf16 autocast (run.autocast = bf16) and the fused AdamW kernel. Skips cleanly
// without CUDA.
//
// Tolerances. The fused kernel and the per-parameter ops compute the same float32 formula in a
// different order: 1e-6 relative after 5 steps (a few float32 roundings). Autocast runs the matrix
// products in bfloat16 (unit roundoff 2^-9 ≈ 2e-3, accumulated over a few layers): the first-step
// loss must agree with float32 to 2e-2 relative, and the parameters must stay float32.
#include "common/toy_run.h"
#include "retain/core/torch_compat.h"
#include "retain/train/adamw.h"
#include "retain/train/runner.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

namespace {

using namespace retain::testing;

class CudaTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!retain::compat::cuda_available()) GTEST_SKIP() << "CUDA not available";
  }
};

TEST_F(CudaTrain, FusedAdamWEqualsThePerParameterUpdate) {
  if (!retain::compat::has_fused_adamw()) GTEST_SKIP() << "no fused AdamW in this libtorch";
  torch::manual_seed(0);
  const auto device = at::Device("cuda");
  std::vector<at::Tensor> fused = {torch::randn({64, 32}, device), torch::randn({32}, device)};
  std::vector<at::Tensor> plain = {fused[0].clone(), fused[1].clone()};
  for (auto& p : fused) p.requires_grad_(true);
  for (auto& p : plain) p.requires_grad_(true);
  retain::AdamWOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.05;
  retain::AdamW a(fused, o);
  o.fused = false;
  retain::AdamW b(plain, o);
  for (int step = 0; step < 5; ++step) {
    const auto target = torch::randn({64, 32}, device);
    for (auto* ps : {&fused, &plain}) (((*ps)[0] - target).pow(2).sum() + (*ps)[1].sin().sum()).backward();
    a.step();
    b.step();
    a.zero_grad();
    b.zero_grad();
  }
  for (size_t i = 0; i < fused.size(); ++i) EXPECT_LT(relative_error(fused[i], plain[i]), 1e-6) << "parameter " << i;
}

TEST_F(CudaTrain, FusedAdamWMovesTheVersionOfEveryUpdatedParameter) {
  // SETA's merged kernel re-writes its working weights when an expert's version moves; an update
  // that left the version alone made SETA train on stale values on CUDA (issue 12).
  if (!retain::compat::has_fused_adamw()) GTEST_SKIP() << "no fused AdamW in this libtorch";
  const auto device = at::Device("cuda");
  std::vector<at::Tensor> ps = {torch::randn({8}, device).requires_grad_(true), torch::randn({4}, device).requires_grad_(true)};
  retain::AdamW a(ps, retain::AdamWOptions{});
  std::vector<uint32_t> before;
  for (auto& p : ps) before.push_back(p._version());
  (ps[0].square().sum() + ps[1].sum()).backward();
  a.step();
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_GT(ps[i]._version(), before[i]) << "parameter " << i;
}

std::vector<double> losses(const fs::path& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) out.push_back(retain::json::parse(line)["loss"].get<double>());
  return out;
}

TEST_F(CudaTrain, Bf16AutocastTrainsCloseToFloat32AndKeepsFloat32Weights) {
  const auto root = temp_dir("cuda_train");
  std::vector<retain::Task> tasks = {retain::load_task(make_task(root, "colors", {"red", "blue", "green", "gold"}, 4))};
  retain::RunConfig config;
  config.run.device = "cuda";
  config.optim.lr = 1e-2;
  config.optim.batch_size = 4;
  config.eval.scoring = "rank";
  config.run.save_checkpoints = true;
  retain::run_method("seqft", kTinyModel, tasks, config, root / "fp32");
  config.run.autocast = retain::Autocast::Bf16;
  retain::run_method("seqft", kTinyModel, tasks, config, root / "bf16");
  const auto a = losses(root / "fp32" / "seqft" / "metrics.jsonl"), b = losses(root / "bf16" / "seqft" / "metrics.jsonl");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GE(a.size(), 3u);
  EXPECT_NE(a.front(), b.front());  // autocast did change the arithmetic
  EXPECT_LT(std::abs(a.front() - b.front()) / a.front(), 2e-2);
  EXPECT_LT(b.back(), b.front());
  const auto saved = retain::load_model(root / "bf16" / "seqft" / "checkpoints" / "task_1");
  EXPECT_EQ(saved->config.stored_dtype, "float32");
  // The setting is refused on the CPU, naming the key.
  config.run.device = "cpu";
  const auto message = error_of([&] { retain::run_method("seqft", kTinyModel, tasks, config, root / "cpu"); });
  EXPECT_MSG(message, "run.autocast");
}

}  // namespace
