// SETA (train/methods/seta.h) on the tiny model. Oracles: the selection is the top-k of |W ⊙ ∇W L|
// computed here by hand; earlier unique experts bitwise unchanged by a later task; state() →
// load_state() on a fresh model gives the same logits; a 2-task run_method fills routing_accuracy and
// experts. The pure parts are tested alone: test_seta_selection.cpp, test_seta_gate.cpp,
// test_sparse_expert.cpp.
//
// Tolerances: float32 (model logits, batched vs one-by-one): a sample alone and in a padded batch go
// through differently shaped matrix products that sum in different orders, ~1e-7 relative per layer;
// 1e-5 bounds the 2-layer model with margin, while a wrong route changes the output by far more
// (checked).
#include "retain/core/error.h"
#include "retain/eval/results.h"
#include "retain/io/safetensors.h"
#include "retain/model/sparse_expert.h"
#include "retain/train/loss.h"
#include "retain/train/methods/seta.h"
#include "retain/train/registry.h"
#include "retain/train/resume.h"
#include "retain/train/runner.h"
#include "retain/train/trainer.h"
#include "seta_test_util.h"

#include <gtest/gtest.h>

#include <numeric>

namespace {

using namespace retain::testing;

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
  r->tok = std::make_unique<retain::Tokenizer>(tiny_tokenizer());
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
  const auto results = retain::run_method("seta", kTinyModel, tasks, config, root / "out");
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
  EXPECT_MSG(error_of([&] { retain::MethodResults::from_json(text); }), "experts");
  const auto dir = root / "out" / "seta" / "checkpoints" / "task_2";
  for (const char* f : {"experts.safetensors", "gate.safetensors", "feature_stats.safetensors", "experts.json"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  const auto file = retain::safetensors::File::open(dir / "experts.safetensors");
  EXPECT_TRUE(file.contains("model.layers.1.self_attn.q_proj.seta.unique_t0.indices"));
  EXPECT_TRUE(file.contains("model.layers.1.self_attn.q_proj.seta.unique_t1.values"));
}

TEST(Seta, BadSettingsNameTheKey) {
  auto message = error_of([] { retain::make_method("seta", {{"selection", "random"}}); });
  EXPECT_MSG(message, "method.seta.selection");
  message = error_of([] { retain::make_method("seta", {{"density", 1.5}}); });
  EXPECT_MSG(message, "method.seta.density");
  message = error_of([] { retain::make_method("seta", {{"kernel", "dense"}}); });
  EXPECT_MSG(message, "method.seta.kernel");
}

}  // namespace
