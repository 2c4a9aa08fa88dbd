// The training loop and the first baselines on a tiny Llama (tests/fixtures/models/llama_gqa) with
// small hand-made tasks. Oracles: invariants of the loop (gradient accumulation equals one large
// batch; the loss falls on a memorisable task) and each method's defining property (inclora leaves
// earlier adapters and the base bitwise unchanged; mtl trains on the union of the tasks seen).
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/model/loader.h"
#include "retain/train/methods/baselines.h"
#include "retain/train/registry.h"
#include "retain/train/runner.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;

TEST(Trainer, GradientAccumulationEqualsOneLargeBatch) {
  // One optimizer step over the same 4 examples: batch 4, or 2 micro-batches of 2. Every example's
  // loss is divided by the answer tokens of the whole step, so the gradients agree up to float64
  // reassociation (1e-12 relative after one AdamW step from identical states).
  const auto root = temp_dir("trainer");
  const auto task = retain::load_task(make_task(root, "colors", {"red", "blue"}, 2));
  const auto tok = tiny_tokenizer();
  std::vector<at::Tensor> after[2];
  for (int variant = 0; variant < 2; ++variant) {
    auto run = make_run({task}, at::kDouble, tok);
    retain::TaskContext ctx{run, 0};
    retain::SeqFT method;
    retain::OptimizerSettings s;
    s.lr = 1e-2;
    s.max_steps = 1;
    s.batch_size = variant == 0 ? 4 : 2;
    s.grad_accum = variant == 0 ? 1 : 2;
    s.max_grad_norm = 0;
    const auto summary = retain::train_task(method, ctx, s);
    EXPECT_EQ(summary.steps, 1);
    for (auto& [name, p] : run.model->base_parameters()) after[variant].push_back(p.detach().clone());
  }
  double worst = 0;
  for (size_t i = 0; i < after[0].size(); ++i) worst = std::max(worst, relative_error(after[1][i], after[0][i]));
  EXPECT_LT(worst, 1e-12);
}

TEST(Trainer, SeqFTLossFallsOnAMemorisableTask) {
  const auto root = temp_dir("trainer");
  const auto task = retain::load_task(make_task(root, "colors", {"red", "blue", "green"}, 4));
  const auto tok = tiny_tokenizer();
  auto run = make_run({task}, at::kFloat, tok);
  retain::TaskContext ctx{run, 0};
  retain::SeqFT method;
  retain::OptimizerSettings s;
  s.lr = 3e-3;
  s.epochs = 8;
  s.batch_size = 4;
  std::vector<double> losses;
  const auto summary = retain::train_task(method, ctx, s, [&](const retain::StepInfo& i) { losses.push_back(i.loss); });
  ASSERT_EQ(summary.steps, retain::steps_per_task(12, s));
  EXPECT_LT(summary.last_loss, 0.5 * summary.first_loss) << "first " << summary.first_loss << " last " << summary.last_loss;
}

TEST(Trainer, IncLoRALeavesEarlierAdaptersAndTheBaseBitwiseUnchanged) {
  const auto root = temp_dir("trainer");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue"}, 2));
  const auto b = retain::load_task(make_task(root, "animals", {"cat", "dog"}, 2));
  const auto tok = tiny_tokenizer();
  auto run = make_run({a, b}, at::kFloat, tok);
  auto method = retain::make_method("inclora", retain::json{{"r", 4}});
  retain::OptimizerSettings s;
  s.lr = 1e-2;
  s.epochs = 2;
  s.batch_size = 2;
  std::vector<at::Tensor> base;
  for (auto& [name, p] : run.model->base_parameters()) base.push_back(p.detach().clone());
  retain::TaskContext first{run, 0};
  retain::train_task(*method, first, s);
  const auto adapter0 = snapshot(retain::adapter_parameters(run.model, "task0"));
  ASSERT_FALSE(adapter0.empty());
  // Task 0's B moved away from zero: the adapter did train.
  double moved = 0;
  for (const auto& p : adapter0) moved += p.abs().sum().item<double>();
  EXPECT_GT(moved, 0);
  retain::TaskContext second{run, 1};
  retain::train_task(*method, second, s);
  EXPECT_TRUE(bitwise_equal(snapshot(retain::adapter_parameters(run.model, "task0")), adapter0));
  std::vector<at::Tensor> base_after;
  for (auto& [name, p] : run.model->base_parameters()) base_after.push_back(p.detach().clone());
  EXPECT_TRUE(bitwise_equal(base_after, base));
  EXPECT_FALSE(retain::adapter_parameters(run.model, "task1").empty());
}

TEST(Trainer, MultiTaskTrainsOnEveryTaskSeenFromTheBase) {
  const auto root = temp_dir("trainer");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue"}, 2));
  const auto b = retain::load_task(make_task(root, "animals", {"cat", "dog", "cow"}, 1));
  const auto tok = tiny_tokenizer();
  auto run = make_run({a, b}, at::kFloat, tok);
  retain::MultiTask method;
  method.on_run_start(run);
  retain::TaskContext first{run, 0}, second{run, 1};
  EXPECT_EQ(method.training_examples(first).size(), 4u);
  EXPECT_EQ(method.training_examples(second).size(), 7u);
}

TEST(Trainer, MultiTaskWithMaxStepsTrainsAsManyStepsAsTheTasksSeenGot) {
  // max_steps is per task: stage t of mtl trains (t + 1) × max_steps on the union, the examples a
  // sequential method has seen by then; sequential methods keep exactly max_steps.
  const auto root = temp_dir("trainer");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue"}, 2));
  const auto b = retain::load_task(make_task(root, "animals", {"cat", "dog", "cow"}, 1));
  const auto tok = tiny_tokenizer();
  retain::OptimizerSettings o;
  o.lr = 1e-3;
  o.batch_size = 2;
  o.max_steps = 3;
  auto run = make_run({a, b}, at::kFloat, tok);
  retain::MultiTask mtl;
  mtl.on_run_start(run);
  retain::TaskContext first{run, 0}, second{run, 1};
  EXPECT_EQ(retain::train_task(mtl, first, o).steps, 3);
  EXPECT_EQ(retain::train_task(mtl, second, o).steps, 6);
  auto seq_run = make_run({a, b}, at::kFloat, tok);
  retain::SeqFT seqft;
  retain::TaskContext seq_second{seq_run, 1};
  EXPECT_EQ(retain::train_task(seqft, seq_second, o).steps, 3);
  o.max_steps = 0;  // epochs decide: the union's size already scales the steps
  o.epochs = 1;
  EXPECT_EQ(retain::train_task(mtl, second, o).steps, 4);  // ⌈7 / 2⌉
}

TEST(Runner, ThreeTasksThroughSeqftInclLoraAndMtlWriteResults) {
  const auto root = temp_dir("runner");
  std::vector<retain::Task> tasks = {retain::load_task(make_task(root, "colors", {"red", "blue"}, 2)),
                                     retain::load_task(make_task(root, "animals", {"cat", "dog"}, 2)),
                                     retain::load_task(make_task(root, "fruit", {"apple", "pear"}, 2))};
  auto config = toy_run_config();
  config.optim.lr = 1e-2;
  config.run.max_length = 64;
  config.set("method.inclora.r=4");
  for (const std::string method : {"seqft", "inclora", "mtl"}) {
    const auto results = retain::run_method(method, kTinyModel, tasks, config, root / "out");
    EXPECT_EQ(results.matrix.scores.size(), 4u);
    const auto back = retain::read_results_json(root / "out" / method / "results.json");
    EXPECT_EQ(back.matrix.tasks, (std::vector<std::string>{"colors", "animals", "fruit"}));
    EXPECT_EQ(back.config["method"][method].is_object(), true);
    EXPECT_TRUE(fs::exists(root / "out" / method / "matrix.csv"));
    EXPECT_GT(fs::file_size(root / "out" / method / "metrics.jsonl"), 0u);
    EXPECT_GT(back.trainable_params, 0);
    if (method == "inclora") {
      EXPECT_LT(back.trainable_params, back.total_params / 10);
    }
  }
}

TEST(Runner, CheckpointsHoldAModelFolderOrPeftAdaptersThatLoad) {
  const auto root = temp_dir("runner");
  auto tasks = two_toy_tasks(root, 1);
  auto config = toy_run_config();
  config.run.save_checkpoints = true;
  config.set("method.inclora.r=4");
  const auto seqft = retain::run_method("seqft", kTinyModel, tasks, config, root / "out");
  for (int k = 1; k <= 2; ++k) {
    const auto dir = root / "out" / "seqft" / "checkpoints" / ("task_" + std::to_string(k));
    auto model = retain::load_model(dir);  // strict: every tensor present, none left over
    EXPECT_TRUE(fs::exists(dir / "tokenizer.json"));
  }
  retain::run_method("inclora", kTinyModel, tasks, config, root / "out");
  const auto last = root / "out" / "inclora" / "checkpoints" / "task_2";
  EXPECT_FALSE(fs::exists(last / "model.safetensors"));  // the base never changes: adapters only
  auto model = retain::load_model(kTinyModel);
  EXPECT_GT(retain::load_peft_adapter(model, last / "task0", "a"), 0);
  EXPECT_GT(retain::load_peft_adapter(model, last / "task1", "b"), 0);
  EXPECT_FALSE(fs::exists(root / "out" / "inclora" / "checkpoints" / "task_1" / "task1"));
}

class RegisteredMethod : public ::testing::TestWithParam<std::string> {};

TEST_P(RegisteredMethod, RunsTwoTasks) {
  const std::string name = GetParam();
  const auto root = temp_dir("runner");
  auto tasks = two_toy_tasks(root, 1);
  auto config = toy_run_config();
  config.set("method.asr.expansion_dim=256");  // the default E = 10000 holds an 800 MB router
  const auto results = retain::run_method(name, kTinyModel, tasks, config, root / "out");
  const auto back = retain::read_results_json(root / "out" / name / "results.json");
  EXPECT_EQ(back.matrix.scores.size(), 3u);
  EXPECT_EQ(back.config["oracle"].get<bool>(), name == "pertask");
  EXPECT_GT(back.trainable_params, 0);
}

INSTANTIATE_TEST_SUITE_P(EveryMethod, RegisteredMethod, ::testing::ValuesIn(retain::method_names()),
                         [](const auto& info) { return info.param; });

TEST(Registry, UnknownMethodsAndSettingsSuggestTheClosestName) {
  EXPECT_MSG(error_of([] { retain::make_method("incl0ra", nullptr); }), "did you mean \"inclora\"");
  EXPECT_MSG(error_of([] { retain::make_method("inclora", retain::json{{"rank", 4}}); }), "method.inclora");
}

}  // namespace
