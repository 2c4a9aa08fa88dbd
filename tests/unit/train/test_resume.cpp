// --resume and the optimizer state behind it. Oracles: torch::optim::AdamW (our AdamW must take the
// same steps bit for bit on the CPU), and an uninterrupted run: a run interrupted mid-task or between
// tasks and then resumed must leave bitwise the same checkpoints, the same accuracy matrix and the
// same loss curve, for every registered method.
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/train/adamw.h"
#include "retain/train/registry.h"
#include "retain/train/resume.h"
#include "retain/train/runner.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <stdexcept>

namespace {

using namespace retain::testing;

TEST(AdamW, TakesTheSameStepsAsTorchAdamWBitForBit) {
  torch::manual_seed(3);
  std::vector<at::Tensor> ours = {torch::randn({5, 7}), torch::randn({7})};
  std::vector<at::Tensor> theirs = {ours[0].clone(), ours[1].clone()};
  for (auto& p : ours) p.requires_grad_(true);
  for (auto& p : theirs) p.requires_grad_(true);
  retain::AdamWOptions o;
  o.lr = 3e-2;
  o.weight_decay = 0.1;
  retain::AdamW adamw(ours, o);
  torch::optim::AdamW reference(theirs, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  for (int step = 0; step < 6; ++step) {
    const auto target = torch::randn({5, 7});
    for (auto* params : {&ours, &theirs}) {
      auto loss = ((*params)[0] - target).pow(2).sum() + (*params)[1].pow(3).sum();
      loss.backward();
    }
    if (step == 2) {  // a parameter without a gradient is skipped by both
      ours[1].mutable_grad() = at::Tensor();
      theirs[1].mutable_grad() = at::Tensor();
    }
    adamw.step();
    reference.step();
    adamw.zero_grad();
    reference.zero_grad();
    for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(at::equal(ours[i], theirs[i])) << "step " << step << " param " << i;
  }
}

TEST(AdamW, StateRoundTripContinuesBitwise) {
  torch::manual_seed(4);
  auto make = [] { return std::vector<at::Tensor>{torch::randn({4, 3}).requires_grad_(true)}; };
  auto a = make();
  auto b = std::vector<at::Tensor>{a[0].detach().clone().requires_grad_(true)};
  retain::AdamWOptions o;
  o.lr = 1e-2;
  retain::AdamW first(a, o), second(b, o);
  auto step = [](retain::AdamW& opt, std::vector<at::Tensor>& p, int k) {
    auto loss = (p[0] * static_cast<double>(k + 1)).sin().sum();
    loss.backward();
    opt.step();
    opt.zero_grad();
  };
  for (int k = 0; k < 3; ++k) step(first, a, k), step(second, b, k);
  retain::AdamW restored(b, o);  // a new optimizer, as after a restart
  restored.load_state(second.state());
  for (int k = 3; k < 6; ++k) step(first, a, k), step(restored, b, k);
  EXPECT_TRUE(at::equal(a[0], b[0]));
  // A state for other parameters is refused, naming the entry.
  std::vector<at::Tensor> other = {torch::zeros({2, 2}, torch::requires_grad())};
  retain::AdamW wrong(other, o);
  EXPECT_THROW(wrong.load_state(first.state()), std::runtime_error);
}

/// Every file under `dir`, relative path → bytes.
std::map<std::string, std::string> files_under(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = retain::read_file(e.path());
  return out;
}

/// (task, step, loss) of every metrics.jsonl line (tokens/s is a timing and differs).
std::vector<std::string> loss_curve(const fs::path& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = retain::json::parse(line);
    out.push_back(j["task"].get<std::string>() + "/" + std::to_string(j["step"].get<int64_t>()) + "/" +
                  j["loss"].dump());
  }
  return out;
}

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

class Resume : public ::testing::TestWithParam<std::string> {};

TEST_P(Resume, InterruptedRunsReachTheUninterruptedResultsBitwise) {
  const std::string method = GetParam();
  const auto root = temp_dir("resume");
  // Two tasks of 8 examples, batch 2: 4 optimizer steps each (8 in all).
  std::vector<retain::Task> tasks = {
      retain::load_task(make_task(root, "colors", {"red", "blue", "green", "gold"}, 2)),
      retain::load_task(make_task(root, "animals", {"cat", "dog", "cow", "pig"}, 2))};
  auto config = toy_run_config();
  config.optim.lr = 1e-2;
  config.optim.weight_decay = 0.01;
  config.run.max_length = 64;
  config.run.save_checkpoints = true;
  config.run.checkpoint_every_steps = 2;
  config.run.checkpoint_every_minutes = 0;
  if (method == "asr") config.set("method.asr.expansion_dim=256");  // E = 10000 holds an 800 MB R
  const auto whole = retain::run_method(method, kTinyModel, tasks, config, root / "whole");
  EXPECT_FALSE(fs::exists(root / "whole" / method / "resume"));  // removed once results.json exists

  // Interrupted at global steps 7 (task 2, after its step point at 2 steps: a mid-task resume) and 3
  // (task 1, between step points: resumed from step 2 of task 1), then a second interruption at 6
  // (task 2, right after its first step: from the task point after task 1).
  for (const std::vector<int>& kills : {std::vector<int>{7}, std::vector<int>{3, 6}}) {
    const auto out = root / ("cut" + std::to_string(kills.front()));
    int steps = 0;
    bool resume = false;
    for (int kill : kills) {
      EXPECT_THROW(retain::run_method(
                       method, kTinyModel, tasks, config, out,
                       [&](const retain::Task&, const retain::StepInfo&) {
                         if (++steps == kill) throw Interrupted();
                       },
                       resume),
                   Interrupted);
      EXPECT_TRUE(fs::exists(out / method / "resume" / "task.safetensors"));
      resume = true;
    }
    const auto resumed = retain::run_method(method, kTinyModel, tasks, config, out, {}, /*resume=*/true);
    EXPECT_EQ(resumed.matrix.scores, whole.matrix.scores);
    EXPECT_EQ(resumed.trainable_params, whole.trainable_params);
    EXPECT_EQ(loss_curve(out / method / "metrics.jsonl"), loss_curve(root / "whole" / method / "metrics.jsonl"));
    const auto expected = files_under(root / "whole" / method / "checkpoints");
    const auto got = files_under(out / method / "checkpoints");
    ASSERT_EQ(got.size(), expected.size());
    for (const auto& [name, bytes] : expected) {
      ASSERT_TRUE(got.count(name)) << name;
      EXPECT_TRUE(got.at(name) == bytes) << name << " differs after resuming";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryMethod, Resume, ::testing::ValuesIn(retain::method_names()),
                         [](const auto& info) { return info.param; });

TEST(ResumeErrors, ADifferentConfigOrACorruptPointIsRefused) {
  const auto root = temp_dir("resume");
  auto tasks = two_toy_tasks(root, 2);
  auto config = toy_run_config();
  EXPECT_THROW(retain::run_method("seqft", kTinyModel, tasks, config, root / "out",
                                  [&](const retain::Task&, const retain::StepInfo& i) {
                                    if (i.task_index == 1) throw Interrupted();
                                  }),
               Interrupted);
  const auto point = root / "out" / "seqft" / "resume" / "task.safetensors";
  ASSERT_TRUE(fs::exists(point));
  auto other = config;
  other.optim.lr = 5e-3;
  const auto message = error_of([&] { retain::run_method("seqft", kTinyModel, tasks, other, root / "out", {}, true); });
  EXPECT_MSG(message, "different configuration");
  // A truncated point is an error naming the file, and is not overwritten by the failed attempt.
  const std::string bytes = retain::read_file(point);
  retain::write_file_atomic(point, bytes.substr(0, bytes.size() / 2));
  const auto truncated =
      error_of([&] { retain::run_method("seqft", kTinyModel, tasks, config, root / "out", {}, true); });
  EXPECT_MSG(truncated, "task.safetensors");
  EXPECT_EQ(retain::read_file(point).size(), bytes.size() / 2);
}

}  // namespace
