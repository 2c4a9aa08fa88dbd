// Sweeps chosen on the dev split (train/sweep.h) and plans for peers (train/plan.h). Oracles: the
// choice is the argmax of the candidates' dev AA, recomputed here from their own files, and the
// method's results are that candidate's test results unchanged; dev splits are carved from train
// without overlap; a plan's steps and learning rates are those the trainer logs for the same run.
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/train/plan.h"
#include "retain/train/sweep.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

namespace {

using namespace retain::testing;

TEST(Sweep, SpecsAreParsedStrictly) {
  const auto s = retain::SweepSpec::parse("optim.lr=1e-4, 3e-4,1e-3");
  EXPECT_EQ(s.key, "lr");
  EXPECT_EQ(s.values, (std::vector<std::string>{"1e-4", "3e-4", "1e-3"}));
  EXPECT_EQ(s.to_string(), "optim.lr=1e-4,3e-4,1e-3");
  EXPECT_MSG(error_of([] { retain::SweepSpec::parse("optim.lrr=1,2"); }), "did you mean \"lr\"");
  EXPECT_MSG(error_of([] { retain::SweepSpec::parse("method.osft.ratio=0.1,0.2"); }), "only [optim] keys");
  EXPECT_MSG(error_of([] { retain::SweepSpec::parse("optim.lr=1e-4"); }), "at least two values");
  EXPECT_MSG(error_of([] { retain::SweepSpec::parse("optim.lr=1e-4,1e-4"); }), "given twice");
  EXPECT_MSG(error_of([] { retain::SweepSpec::parse("optim.max_steps=10,ten"); }), "wrong type");
  EXPECT_MSG(error_of([] { retain::SweepSpec::parse("optim.lr=1e-4,,2"); }), "empty value");
}

TEST(Sweep, DevSplitsAreTheTasksOwnOrASeededShareOfTrain) {
  const auto root = temp_dir("sweep_dev");
  auto a = retain::load_task(make_task(root, "colors", {"red", "blue"}, 10));  // 20 train examples
  auto b = a;
  b.name = "own";
  b.dev = {{"say red", "red"}};
  std::vector<std::string> how;
  const auto out = retain::with_dev_splits({a, b}, 0.25, 7, &how);
  EXPECT_EQ(out[0].dev.size(), 5u);
  EXPECT_EQ(out[0].train.size(), 15u);
  EXPECT_EQ(out[1].dev.size(), 1u);
  EXPECT_EQ(out[1].train.size(), 20u);
  EXPECT_EQ(how[1], "dev split (1 of its 1 inputs also in test)");  // the toy dev reuses a test input
  EXPECT_MSG(how[0], "0.25 of train");
  EXPECT_EQ(out[0].test.size(), a.test.size());  // test untouched
  auto c = a;
  c.dev = {{"a dev-only input", "red"}};
  EXPECT_EQ(retain::with_dev_splits({c}, 0.25, 7, &how)[0].dev.size(), 1u);
  EXPECT_EQ(how[0], "dev split");
  // Another seed holds out other examples (by position: the toy examples repeat).
  const auto again = retain::with_dev_splits({a}, 0.25, 7, nullptr);
  EXPECT_EQ(again[0].dev.size(), out[0].dev.size());
  for (size_t i = 0; i < again[0].dev.size(); ++i) EXPECT_EQ(again[0].dev[i].input, out[0].dev[i].input);
}

TEST(Sweep, ChoosesTheBestDevAAAndReportsThatCandidatesTestResults) {
  const auto root = temp_dir("sweep");
  std::vector<retain::Task> tasks = {retain::load_task(make_task(root, "colors", {"red", "blue", "green"}, 4)),
                                     retain::load_task(make_task(root, "animals", {"cat", "dog", "cow"}, 4))};
  std::vector<std::string> how;
  tasks = retain::with_dev_splits(tasks, 0.25, 0, &how);
  retain::RunConfig c;
  c.optim.batch_size = 3;
  c.eval.scoring = "rank";
  c.set("method.seqlora.lr=5e-2");  // the sweep's value overrides the method's own
  const auto spec = retain::SweepSpec::parse("optim.lr=1e-6,3e-2");
  retain::MethodRunOptions options;
  const auto chosen = retain::sweep_method("seqlora", kTinyModel, tasks, how, c, spec, root / "out", options);
  ASSERT_TRUE(chosen.sweep);
  const auto& s = *chosen.sweep;
  ASSERT_EQ(s["dev_aa"].size(), 2u);
  std::vector<retain::MethodResults> candidates;
  for (const char* dir : {"0-1e-6", "1-3e-2"})
    candidates.push_back(retain::read_results_json(root / "out" / "seqlora" / "sweep" / dir / "seqlora" / "results.json"));
  EXPECT_EQ(candidates[0].config["optim"]["lr"].get<double>(), 1e-6);
  EXPECT_EQ(candidates[1].config["optim"]["lr"].get<double>(), 3e-2);
  const size_t best = candidates[1].sweep->at("dev_aa").get<double>() > candidates[0].sweep->at("dev_aa").get<double>();
  EXPECT_EQ(s["chosen_index"].get<size_t>(), best);
  EXPECT_EQ(s["chosen"].get<std::string>(), spec.values[best]);
  for (size_t k = 0; k < 2; ++k) EXPECT_EQ(s["dev_aa"][k].get<double>(), candidates[k].sweep->at("dev_aa").get<double>());
  EXPECT_EQ(chosen.matrix.scores, candidates[best].matrix.scores);
  const auto written = retain::read_results_json(root / "out" / "seqlora" / "results.json");
  EXPECT_EQ(written.matrix.scores, chosen.matrix.scores);
  EXPECT_EQ(written.sweep->at("dev"), retain::json(how));
  EXPECT_EQ(retain::read_file(root / "out" / "seqlora" / "metrics.jsonl"),
            retain::read_file(root / "out" / "seqlora" / "sweep" / (best ? "1-3e-2" : "0-1e-6") / "seqlora" / "metrics.jsonl"));
  // With --resume, finished candidates are read back, not trained again.
  options.resume = true;
  const auto again = retain::sweep_method("seqlora", kTinyModel, tasks, how, c, spec, root / "out", options);
  EXPECT_EQ(again.seconds, chosen.seconds);
}

TEST(Plan, StepsAndLearningRatesAreThoseTheRunTrainsWith) {
  const auto root = temp_dir("plan");
  const auto tasks = two_toy_tasks(root, 3);
  auto c = toy_run_config();
  c.optim.max_steps = 5;
  c.optim.warmup_ratio = 0.2;
  c.set("method.seqlora.lr=1e-2");
  const auto plan = retain::write_training_plan("seqlora", kTinyModel, tasks, c, root / "plan");
  EXPECT_TRUE(fs::exists(root / "plan" / "plan.json"));
  EXPECT_TRUE(fs::exists(root / "plan" / "initial" / "adapter" / "adapter_model.safetensors"));
  retain::run_method("seqlora", kTinyModel, tasks, c, root / "out");
  std::ifstream in(root / "out" / "seqlora" / "metrics.jsonl");
  std::string line;
  std::vector<double> logged;
  while (std::getline(in, line)) logged.push_back(retain::json::parse(line)["lr"].get<double>());
  std::vector<double> planned;
  for (const auto& t : plan["tasks"]) {
    EXPECT_EQ(t["examples"].size(), 6u);
    EXPECT_EQ(t["test"].size(), 2u);
    for (const auto& test : t["test"]) EXPECT_EQ(test["candidates"].size(), 2u);
    for (const auto& s : t["steps"]) planned.push_back(s["lr"].get<double>());
  }
  EXPECT_EQ(planned, logged);
  EXPECT_EQ(plan["optim"]["lr"].get<double>(), 1e-2);
  EXPECT_MSG(error_of([&] { retain::write_training_plan("replay", kTinyModel, tasks, c, root / "p2"); }), "replay");
}

}  // namespace
