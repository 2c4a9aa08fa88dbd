// The protocol settings of a run: transformers' max_steps (exactly that many steps, cycling the data),
// optimizer settings per method with the papers' default learning rates, and every setting, method
// table and task checked before the model loads. Oracles: counting (steps, epochs, examples seen),
// the precedence rules of runner.h written out, and runs on a model folder that does not exist (an
// error about the model means the check came too late).
#include "common/toy_run.h"
#include "retain/train/methods/baselines.h"
#include "retain/train/registry.h"
#include "retain/train/runner.h"
#include "retain/train/trainer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

namespace {

using namespace retain::testing;

TEST(MaxSteps, SetsTheStepCountAndCyclesReshuffledData) {
  retain::OptimizerSettings s;
  s.batch_size = 2;
  s.max_steps = 7;
  EXPECT_EQ(retain::steps_per_task(4, s), 7);  // more than one epoch (2 steps) holds
  s.max_steps = 1;
  EXPECT_EQ(retain::steps_per_task(400, s), 1);
  s.max_steps = 0;
  s.epochs = 3;
  EXPECT_EQ(retain::steps_per_task(5, s), 9);  // ⌈5 / 2⌉ × 3

  // Warm-up as transformers' get_warmup_steps: ⌈ratio · steps⌉.
  s.warmup_ratio = 0.1;
  EXPECT_EQ(retain::warmup_steps(s, 37), 4);
  EXPECT_EQ(retain::warmup_steps(s, 30), 3);
  s.warmup_ratio = 0;
  EXPECT_EQ(retain::warmup_steps(s, 30), 0);

  s.max_steps = 7;
  const std::vector<int64_t> lengths = {5, 9, 7, 3};
  const auto plan = retain::plan_task_steps(lengths, s, 3, 0);
  ASSERT_EQ(plan.size(), 7u);
  std::vector<int64_t> epochs;
  std::map<int64_t, std::multiset<int64_t>> seen;
  for (const auto& step : plan) {
    epochs.push_back(step.epoch);
    ASSERT_EQ(step.micro_batches.size(), 1u);
    for (int64_t i : step.micro_batches[0]) seen[step.epoch].insert(i);
  }
  EXPECT_EQ(epochs, (std::vector<int64_t>{0, 0, 1, 1, 2, 2, 3}));
  for (int64_t e = 0; e < 3; ++e) EXPECT_EQ(seen[e], (std::multiset<int64_t>{0, 1, 2, 3})) << "epoch " << e;
  // Re-shuffled: some epoch orders its batches differently from the first.
  bool differs = false;
  for (size_t k = 2; k + 1 < plan.size(); k += 2)
    differs = differs || plan[k].micro_batches != plan[0].micro_batches;
  EXPECT_TRUE(differs);
}

TEST(MaxSteps, TrainTaskMakesExactlyThatManyStepsOverSeveralEpochs) {
  const auto root = temp_dir("max_steps");
  const auto task = retain::load_task(make_task(root, "colors", {"red", "blue"}, 2));  // 4 examples
  const auto tok = tiny_tokenizer();
  auto run = make_run({task}, at::kFloat, tok);
  retain::TaskContext ctx{run, 0};
  retain::SeqFT method;
  retain::OptimizerSettings s;
  s.lr = 1e-3;
  s.batch_size = 2;
  s.max_steps = 5;
  s.epochs = 1;  // ignored once max_steps is set
  std::vector<int64_t> epochs, totals;
  const auto summary = retain::train_task(method, ctx, s, [&](const retain::StepInfo& i) {
    epochs.push_back(i.epoch);
    totals.push_back(i.total_steps);
  });
  EXPECT_EQ(summary.steps, 5);
  EXPECT_EQ(epochs, (std::vector<int64_t>{0, 0, 1, 1, 2}));
  EXPECT_EQ(totals, std::vector<int64_t>(5, 5));  // the progress bar's count is the real one
}

TEST(MethodOptim, MethodTablesOverrideOptimAndUnsetLrTakesThePaperDefault) {
  retain::RunConfig c;
  // Nothing set: every method trains with its own default.
  for (const auto& name : retain::method_names()) {
    EXPECT_EQ(c.optim_for(name).lr, retain::method_default_lr(name).lr) << name;
    EXPECT_MSG(c.lr_source(name), retain::method_default_lr(name).source) << name;
    EXPECT_FALSE(retain::method_default_lr(name).source.empty()) << name;
  }
  EXPECT_EQ(c.optim_for("seqft").lr, 1e-5);  // TRACE's full fine-tuning
  EXPECT_EQ(c.optim_for("asr").lr, 1e-4);    // Any-SSR's LoRA
  // [optim] set: it serves every method without a table of its own.
  c.set("optim.lr=3e-3");
  c.set("optim.weight_decay=0.01");
  EXPECT_EQ(c.optim_for("seqft").lr, 3e-3);
  EXPECT_EQ(c.lr_source("seqft"), "optim.lr");
  // A method table's optim keys win for that method only; its own keys stay its own.
  c.set("method.osft.lr=1e-5");
  c.set("method.osft.warmup_ratio=0.1");
  c.set("method.osft.ratio=0.25");
  EXPECT_EQ(c.optim_for("osft").lr, 1e-5);
  EXPECT_EQ(c.optim_for("osft").warmup_ratio, 0.1);
  EXPECT_EQ(c.optim_for("osft").weight_decay, 0.01);
  EXPECT_EQ(c.optim_for("seqft").warmup_ratio, 0.0);
  EXPECT_EQ(c.lr_source("osft"), "method.osft.lr");
  EXPECT_EQ(c.methods["osft"]["ratio"].get<double>(), 0.25);
  EXPECT_FALSE(c.methods["osft"].contains("lr"));
  // The saved config holds both, and reads back to the same settings (what --resume DIR relies on).
  const auto saved = c.to_json({"osft", "seqft"});
  EXPECT_EQ(saved["method"]["osft"]["lr"].get<double>(), 1e-5);
  EXPECT_EQ(saved["method"]["osft"]["ratio"].get<double>(), 0.25);
  const auto back =
      retain::RunConfig::from_json(retain::json{{"optim", saved["optim"]}, {"method", saved["method"]}}, "saved");
  EXPECT_EQ(back.optim_for("osft").lr, 1e-5);
  EXPECT_EQ(back.optim_for("seqft").lr, 3e-3);
  EXPECT_EQ(back.optim_for("osft").warmup_ratio, 0.1);
}

TEST(MethodOptim, BadValuesNameTheKeyAndTheAcceptedValues) {
  retain::RunConfig c;
  EXPECT_MSG(error_of([&] { c.set("method.osft.lr=fast"); }), "method.osft.lr");
  EXPECT_MSG(error_of([&] { c.set("method.osft.rank_rul=fixed"); }), "did you mean \"rank_rule\"");
  // An enum: refused where it is read (settings::EnumNames), before any validate.
  const auto e = error_of([&] { c.set("method.seqft.schedule=cosin"); });
  EXPECT_MSG(e, "method.seqft.schedule");
  EXPECT_MSG(e, "constant | linear | cosine");
  retain::RunConfig d;
  d.set("optim.warmup_ratio=1.5");
  EXPECT_MSG(error_of([&] { d.validate({"seqft"}); }), "optim.warmup_ratio must be in [0, 1)");
  retain::RunConfig f;
  f.set("eval.scoring=ranks");
  EXPECT_MSG(error_of([&] { f.validate({"seqft"}); }),
             "eval.scoring = \"ranks\" is not known: expected generate | rank");
  retain::RunConfig g;
  g.set("run.device=gpu");
  EXPECT_MSG(error_of([&] { g.validate({"seqft"}); }), "run.device = \"gpu\"");
}

TEST(EarlyValidation, RunMethodChecksEverythingBeforeTheModelLoads) {
  const auto root = temp_dir("early");
  const std::vector<retain::Task> tasks = {retain::load_task(make_task(root, "colors", {"red", "blue"}, 1))};
  const fs::path no_model = root / "no-such-model";
  auto error_with = [&](retain::RunConfig c, const std::vector<retain::Task>& t) {
    return error_of([&] { retain::run_method("seqft", no_model, t, c, root / "out"); });
  };
  retain::RunConfig c;
  // A schedule is an enum, so a RunConfig cannot hold an unknown one: it is refused where it is read.
  EXPECT_MSG(error_of([&] { c.set("optim.schedule=cosin"); }), "optim.schedule");
  c = retain::RunConfig{};
  c.optim.lr = -1;
  EXPECT_MSG(error_with(c, tasks), "optim.lr");
  c = retain::RunConfig{};
  c.eval.batch_size = 0;
  EXPECT_MSG(error_with(c, tasks), "eval.batch_size");
  // Rank scoring of a generation task, and two tasks of one name.
  retain::Task gen = tasks[0];
  gen.name = "gen";
  gen.type = retain::TaskType::Generation;
  gen.labels.clear();
  c = retain::RunConfig{};
  c.eval.scoring = "rank";
  const auto e = error_with(c, {tasks[0], gen});
  EXPECT_MSG(e, "task \"gen\"");
  EXPECT_MSG(e, "eval.scoring = generate");
  EXPECT_MSG(error_with(retain::RunConfig{}, {tasks[0], tasks[0]}), "two tasks are named \"colors\"");
  // With everything valid, the model is what fails: the checks above came first.
  EXPECT_NO_MSG(error_with(retain::RunConfig{}, tasks), "config");
}

TEST(MethodOptim, ResultsRecordTheSettingsEachMethodTrainedWith) {
  const auto root = temp_dir("method_optim");
  const std::vector<retain::Task> tasks = {retain::load_task(make_task(root, "colors", {"red", "blue"}, 2))};
  auto c = toy_run_config();
  c.set("method.seqlora.lr=2e-2");
  c.set("method.seqlora.max_steps=3");
  const auto lora = retain::run_method("seqlora", kTinyModel, tasks, c, root / "out");
  EXPECT_EQ(lora.config["optim"]["lr"].get<double>(), 2e-2);
  EXPECT_EQ(lora.config["optim"]["max_steps"].get<int64_t>(), 3);
  EXPECT_EQ(lora.config["optim_lr_source"].get<std::string>(), "method.seqlora.lr");
  const auto ft = retain::run_method("seqft", kTinyModel, tasks, c, root / "out");
  EXPECT_EQ(ft.config["optim"]["lr"].get<double>(), retain::method_default_lr("seqft").lr);
  EXPECT_EQ(ft.config["optim"]["max_steps"].get<int64_t>(), 0);
  // The training log has as many steps as the method's own max_steps, at its learning rate.
  std::ifstream in(root / "out" / "seqlora" / "metrics.jsonl");
  std::string line;
  std::vector<double> lrs;
  while (std::getline(in, line)) lrs.push_back(retain::json::parse(line)["lr"].get<double>());
  ASSERT_EQ(lrs.size(), 3u);
  EXPECT_DOUBLE_EQ(lrs[0], 2e-2);  // linear decay from the peak, no warm-up
}

}  // namespace
