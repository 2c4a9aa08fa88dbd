// EWC and replay (methods.md §1) on the tiny Llama fixture. Oracles: the Fisher equals the mean of
// squared per-sample gradients computed here by plain autograd (float64); the penalty and its
// gradient equal λ/2 Σ F (θ−θ*)² and λ F (θ−θ*) by hand; a large λ holds task-1 weights closer
// during task 2 than λ = 0. Replay: the buffer holds each task's share, drawn from that task,
// deterministically from the seed.
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/model/loader.h"
#include "retain/train/loss.h"
#include "retain/train/methods/ewc.h"
#include "retain/train/methods/replay.h"
#include "retain/train/trainer.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <set>

namespace {

using namespace retain::testing;

std::map<std::string, at::Tensor> snapshot(retain::CausalLM& model) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, p] : model->base_parameters()) out[name] = p.detach().clone();
  return out;
}

// A few parameters: the first, one in the middle and the last.
std::vector<std::string> probe_names(retain::CausalLM& model) {
  auto params = model->base_parameters();
  return {params.front().first, params[params.size() / 2].first, params.back().first};
}

// Mean over the examples of the squared gradient of each example's mean answer-token loss, straight
// from autograd, for the named parameters.
std::map<std::string, at::Tensor> direct_fisher(retain::CausalLM& model, const std::vector<retain::TokenizedExample>& ex,
                                                const std::vector<std::string>& names) {
  std::map<std::string, at::Tensor> params;
  for (auto& [name, p] : model->base_parameters()) params[name] = p;
  std::vector<at::Tensor> probe;
  for (const auto& n : names) probe.push_back(params.at(n).requires_grad_(true));
  std::map<std::string, at::Tensor> out;
  for (const auto& n : names) out[n] = torch::zeros_like(params.at(n));
  for (size_t i = 0; i < ex.size(); ++i) {
    const auto batch = retain::collate(ex, {static_cast<int64_t>(i)}, model->config.pad_token_id.value_or(0));
    retain::ForwardInput input;
    input.input_ids = batch.input_ids;
    input.attention_mask = batch.attention_mask;
    const auto loss = retain::causal_lm_loss(model->forward(input), batch.labels);
    const auto grads = torch::autograd::grad({loss}, probe, {}, false, false, true);
    for (size_t k = 0; k < names.size(); ++k)
      if (grads[k].defined()) out[names[k]] += grads[k].detach().square();
  }
  for (auto& [n, f] : out) f /= static_cast<double>(ex.size());
  return out;
}

struct TwoTasks {
  fs::path root = temp_dir("ewc");
  retain::Task a = retain::load_task(make_task(root, "colors", {"red", "blue", "green"}, 1));
  retain::Task b = retain::load_task(make_task(root, "animals", {"cat", "dog"}, 2));
  retain::Tokenizer tok = tiny_tokenizer();
};

TEST(EWC, FisherIsTheMeanOfSquaredPerSampleGradients) {
  TwoTasks f;
  auto run = make_run({f.a, f.b}, at::kDouble, f.tok);
  run.model->eval();
  retain::EWC method({});
  retain::TaskContext ctx{run, 0};
  method.on_task_end(ctx);  // fisher_samples 64 ≥ 3: every example of the task
  ASSERT_EQ(method.tasks_accumulated(), 1);
  const auto names = probe_names(run.model);
  const auto expected = direct_fisher(run.model, run.train_data[0], names);
  for (const auto& n : names) {
    const auto& got = method.fisher().at(n);
    EXPECT_EQ(got.scalar_type(), at::kDouble);
    EXPECT_GT(expected.at(n).abs().sum().item<double>(), 0) << n;
    EXPECT_LT(relative_error(got, expected.at(n)), 1e-12) << n;
  }
  // The anchor is the model after the task.
  for (auto& [name, p] : run.model->base_parameters()) EXPECT_TRUE(at::equal(method.anchor().at(name), p)) << name;
}

TEST(EWC, FisherAccumulatesAsASumOrAMeanOverTasks) {
  TwoTasks f;
  for (const std::string mode : {"sum", "mean"}) {
    auto run = make_run({f.a, f.b}, at::kDouble, f.tok);
    run.model->eval();
    retain::EwcSettings s;
    s.fisher_accumulate = mode;
    retain::EWC method(s);
    retain::TaskContext first{run, 0}, second{run, 1};
    method.on_task_end(first);
    method.on_task_end(second);
    const auto f0 = retain::ewc_fisher(run.model, run.train_data[0], at::kCPU);
    const auto f1 = retain::ewc_fisher(run.model, run.train_data[1], at::kCPU);
    for (const auto& n : probe_names(run.model)) {
      const auto expected = mode == "sum" ? f0.at(n) + f1.at(n) : (f0.at(n) + f1.at(n)) / 2;
      EXPECT_LT(relative_error(method.fisher().at(n), expected), 1e-12) << mode << " " << n;
    }
  }
}

TEST(EWC, FisherSubsetHasTheConfiguredSize) {
  // 4 examples, fisher_samples 2: the Fisher is that of some 2 of them (one of the 6 subsets).
  TwoTasks f;
  auto run = make_run({f.b}, at::kDouble, f.tok);
  run.model->eval();
  retain::EwcSettings s;
  s.fisher_samples = 2;
  retain::EWC method(s);
  retain::TaskContext ctx{run, 0};
  method.on_task_end(ctx);
  const auto& ex = run.train_data[0];
  const auto n = probe_names(run.model).back();
  bool matched = false;
  for (size_t i = 0; i < ex.size(); ++i)
    for (size_t j = i + 1; j < ex.size(); ++j) {
      const auto fij = retain::ewc_fisher(run.model, {ex[i], ex[j]}, at::kCPU);
      matched = matched || relative_error(method.fisher().at(n), fij.at(n)) < 1e-12;
    }
  EXPECT_TRUE(matched);
}

TEST(EWC, PenaltyAndItsGradientMatchTheFormula) {
  TwoTasks f;
  auto run = make_run({f.a, f.b}, at::kDouble, f.tok);
  run.model->eval();
  retain::EwcSettings s;
  s.lambda = 400;
  retain::EWC method(s);
  retain::TaskContext first{run, 0}, second{run, 1};
  EXPECT_FALSE(method.penalty(run.model).defined());  // no penalty before the first task ends
  method.on_task_end(first);
  const auto anchor = snapshot(run.model);
  // Right at θ*: exactly zero.
  EXPECT_EQ(method.penalty(run.model).item<double>(), 0.0);
  // Perturb θ and compare with the hand computation.
  torch::manual_seed(3);
  {
    torch::NoGradGuard g;
    for (auto& [name, p] : run.model->base_parameters()) p.add_(torch::randn_like(p) * 1e-2);
  }
  double hand = 0;
  for (auto& [name, p] : run.model->base_parameters())
    hand += (method.fisher().at(name) * (p.detach() - anchor.at(name)).square()).sum().item<double>();
  hand *= s.lambda / 2;
  for (auto& [name, p] : run.model->base_parameters()) p.requires_grad_(true);
  const auto batch = retain::collate(run.train_data[1], {0}, 0);
  const auto pen = method.extra_loss(second, batch, {});
  ASSERT_TRUE(pen.defined());
  EXPECT_GT(hand, 0);
  EXPECT_NEAR(pen.item<double>(), hand, 1e-12 * hand);
  pen.backward();
  for (auto& [name, p] : run.model->base_parameters()) {
    const auto expected = s.lambda * method.fisher().at(name) * (p.detach() - anchor.at(name));
    ASSERT_TRUE(p.grad().defined()) << name;
    if (expected.abs().max().item<double>() == 0)
      EXPECT_EQ(p.grad().abs().max().item<double>(), 0) << name;
    else
      EXPECT_LT(relative_error(p.grad(), expected), 1e-12) << name;
  }
}

// Σ F (θ − θ*)² after task 2, i.e. how far the Fisher-important weights of task 1 moved.
double drift_during_task_two(double lambda) {
  TwoTasks f;
  auto run = make_run({f.a, f.b}, at::kFloat, f.tok);
  retain::EwcSettings s;
  s.lambda = lambda;
  retain::EWC method(s);
  retain::OptimizerSettings o;
  o.lr = 3e-3;
  o.epochs = 4;
  o.batch_size = 2;
  retain::TaskContext first{run, 0}, second{run, 1};
  retain::train_task(method, first, o);
  // AdamW moves every weight by about lr per step whatever the gradient's size, so even a stiff
  // penalty leaves an oscillation of about lr around θ*; a long task 2 (32 steps) lets the free
  // run drift far beyond that.
  o.epochs = 16;
  const auto fisher = method.fisher();
  const auto anchor = snapshot(run.model);
  std::vector<double> extras;
  retain::train_task(method, second, o, [&](const retain::StepInfo& i) { extras.push_back(i.extra_loss); });
  if (lambda > 0) {
    EXPECT_FALSE(extras.empty());
    EXPECT_EQ(extras.front(), 0.0);  // the first step starts at θ*
    EXPECT_GT(extras.back(), 0.0);
  }
  double drift = 0;
  for (auto& [name, p] : run.model->base_parameters())
    drift += (fisher.at(name) * (p.detach() - anchor.at(name)).square()).sum().item<double>();
  return drift;
}

// λ = 1e4 (25× TRACE's 400; 400 passes too). Far larger λ (1e6 and up) holds *less* well here:
// the penalty gradient then swamps the task's, gradient clipping and AdamW's sign-like steps turn
// the stiff spring into an oscillation of about lr around θ* (drift ≈ 0.4× the free run's at 1e6).
TEST(EWC, LargeLambdaHoldsTaskOneWeightsDuringTaskTwo) {
  const double free = drift_during_task_two(0);
  const double held = drift_during_task_two(1e4);
  EXPECT_GT(free, 0);
  EXPECT_LT(held, 0.1 * free) << "λ=0: " << free << "  λ=1e4: " << held;
}

TEST(EWC, SettingsAreValidated) {
  retain::EwcSettings s;
  s.fisher_accumulate = "max";
  EXPECT_THROW(retain::EWC{s}, std::exception);
  s = {};
  s.lambda = -1;
  EXPECT_THROW(retain::EWC{s}, std::exception);
  s = {};
  s.fisher_samples = 0;
  EXPECT_THROW(retain::EWC{s}, std::exception);
}

// A run of synthetic tasks (no model needed): example i of task t has ids {1000 t + i, 7}.
retain::RunContext synthetic_run(const std::vector<int64_t>& sizes, uint64_t seed) {
  retain::RunContext run;
  run.seed = seed;
  for (size_t t = 0; t < sizes.size(); ++t) {
    retain::Task task;
    task.name = "task" + std::to_string(t);
    run.tasks.push_back(task);
    std::vector<retain::TokenizedExample> ex;
    for (int64_t i = 0; i < sizes[t]; ++i) ex.push_back({{static_cast<int64_t>(1000 * t) + i, 7}, 1});
    run.train_data.push_back(ex);
  }
  return run;
}

std::vector<std::pair<int64_t, int64_t>> buffer_after(const std::vector<int64_t>& sizes, uint64_t seed,
                                                      retain::ReplaySettings s = {}) {
  auto run = synthetic_run(sizes, seed);
  retain::Replay method(s);
  for (int64_t t = 0; t < static_cast<int64_t>(sizes.size()); ++t) {
    retain::TaskContext ctx{run, t};
    method.on_task_end(ctx);
  }
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& e : method.buffer()) out.emplace_back(e.task_index, e.example_index);
  return out;
}

TEST(Replay, BufferHoldsTheShareOfEachTaskFromThatTask) {
  auto run = synthetic_run({100, 50, 30}, 5);
  retain::Replay method({});
  retain::TaskContext t0{run, 0}, t1{run, 1}, t2{run, 2};
  EXPECT_EQ(method.training_examples(t0).size(), 100u);
  method.on_task_end(t0);
  ASSERT_EQ(method.buffer().size(), 2u);
  EXPECT_EQ(method.training_examples(t1).size(), 52u);
  method.on_task_end(t1);
  const auto& buf = method.buffer();
  ASSERT_EQ(buf.size(), 3u);
  int64_t from[2] = {0, 0};
  std::set<int64_t> distinct;
  for (const auto& e : buf) {
    ASSERT_TRUE(e.task_index == 0 || e.task_index == 1);
    ++from[e.task_index];
    // The entry is that example of that task.
    EXPECT_EQ(e.example.ids, run.train_data[e.task_index][e.example_index].ids);
    EXPECT_EQ(e.example.ids.front() / 1000, e.task_index);
    distinct.insert(e.example.ids.front());
  }
  EXPECT_EQ(from[0], 2);
  EXPECT_EQ(from[1], 1);
  EXPECT_EQ(distinct.size(), 3u);
  // Task 3 trains on its own examples, then the buffer.
  const auto third = method.training_examples(t2);
  ASSERT_EQ(third.size(), 33u);
  for (size_t i = 0; i < 30; ++i) EXPECT_EQ(third[i].ids, run.train_data[2][i].ids);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(third[30 + i].ids, buf[i].example.ids);
}

TEST(Replay, SameSeedSameBufferOtherSeedOtherBuffer) {
  EXPECT_EQ(buffer_after({100, 50}, 5), buffer_after({100, 50}, 5));
  EXPECT_NE(buffer_after({100, 50}, 5), buffer_after({100, 50}, 6));
}

TEST(Replay, QuotaRoundsAndKeepsAtLeastOne) {
  retain::Replay method({});
  EXPECT_EQ(method.quota(100), 2);
  EXPECT_EQ(method.quota(50), 1);
  EXPECT_EQ(method.quota(10), 1);
  EXPECT_EQ(method.quota(1), 1);
  EXPECT_EQ(method.quota(1000), 20);
  retain::ReplaySettings none;
  none.share = 0;
  EXPECT_EQ(retain::Replay(none).quota(100), 0);
  EXPECT_TRUE(buffer_after({100, 50}, 5, none).empty());
}

TEST(Replay, ReservoirIsUniformOverTheSplit) {
  // k = 2 of n = 10 over 2000 seeds: every index drawn with probability 0.2 (400 ± 18 expected).
  retain::ReplaySettings s;
  s.share = 0.2;
  std::vector<int> counts(10, 0);
  for (uint64_t seed = 0; seed < 2000; ++seed)
    for (const auto& [t, i] : buffer_after({10}, seed, s)) ++counts[i];
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(counts[i], 400, 80) << i;
}

TEST(Replay, CapacityEvensOutTheTasks) {
  retain::ReplaySettings s;
  s.share = 0.1;
  s.capacity = 4;
  // Quotas 10, 2, 3 (15 > 4): one entry at a time leaves the task holding the most, the latest on
  // ties: (10,2,3) → … → (3,2,3) → (3,2,2) → (2,2,2) → (2,2,1) → (2,1,1).
  const auto buf = buffer_after({100, 20, 30}, 5, s);
  ASSERT_EQ(buf.size(), 4u);
  int64_t from[3] = {0, 0, 0};
  for (const auto& [t, i] : buf) ++from[t];
  EXPECT_EQ(from[0], 2);
  EXPECT_EQ(from[1], 1);
  EXPECT_EQ(from[2], 1);
}

TEST(Replay, TrainsOnTheTaskAndTheBuffer) {
  TwoTasks f;
  const auto big = retain::load_task(make_task(f.root, "big", {"red", "blue"}, 25));  // 50 examples
  auto run = make_run({big, f.b}, at::kFloat, f.tok);
  retain::Replay method({});
  retain::OptimizerSettings o;
  o.lr = 1e-3;
  o.batch_size = 5;
  retain::TaskContext first{run, 0}, second{run, 1};
  auto s0 = retain::train_task(method, first, o);
  EXPECT_EQ(s0.steps, retain::steps_per_task(50, o));
  ASSERT_EQ(method.buffer().size(), 1u);
  auto s1 = retain::train_task(method, second, o);
  EXPECT_EQ(s1.steps, retain::steps_per_task(4 + 1, o));
  EXPECT_TRUE(method.updates_base());
}

}  // namespace
