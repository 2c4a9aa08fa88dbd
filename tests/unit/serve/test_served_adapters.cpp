// `retain serve`'s model with an adapter-only checkpoint (seqlora, inclora, olora, inflora:
// adapters.json + PEFT adapters, train/adapter_checkpoint.h): each method trained here on two toy
// tasks through its own API, saved as `retain run --save-checkpoints` saves it, then loaded by
// ServedModel onto a fresh base model. Oracle: the method's own inference, the trained model itself
// (every adapter on, summed). Per prompt, "auto" and both task ids give its logits and "base" the
// base model's; the trained adapters move the logits well away from the base model, and (methods
// with one adapter per task) leaving out any one adapter moves them too, so a server that ignored
// the adapters, or applied only the last, fails. Greedy generation of a left-padded batch mixing
// "auto", both tasks and "base" equals the method's own greedy generation, row by row. Float32,
// 1e-5 relative: the stacked adapter sums the same products in another order (~1e-7 per layer); a
// missing adapter moves the logits by more than 1e-3 (checked below).
#include "common/last_logits.h"
#include "common/toy_run.h"
#include "retain/data/prompt.h"
#include "retain/model/generation.h"
#include "retain/model/loader.h"
#include "retain/serve/served_model.h"
#include "retain/train/adapter_checkpoint.h"
#include "retain/train/registry.h"
#include "retain/train/trainer.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;
using retain::serve::kRouteAuto;
using retain::serve::kRouteBase;

std::vector<std::vector<int64_t>> greedy(retain::CausalLM& model, const std::vector<std::vector<int64_t>>& prompts) {
  torch::NoGradGuard no_grad;
  retain::GenerationOptions o;
  o.max_new_tokens = 8;
  o.pad_token_id = model->config.pad_token_id.value_or(0);
  return retain::generate(model, prompts, o);
}

class ServedAdapters : public ::testing::TestWithParam<std::string> {};

TEST_P(ServedAdapters, AnswersAsTheMethodsOwnInference) {
  const std::string method_name = GetParam();
  const auto root = temp_dir("served_" + method_name);
  const auto tok = tiny_tokenizer();
  const std::vector<retain::Task> tasks = {
      retain::load_task(make_task(root, "colors", {"red", "blue", "green", "gold"}, 2)),
      retain::load_task(make_task(root, "animals", {"cat", "dog", "cow", "pig"}, 2))};
  auto run = make_run(tasks, at::kFloat, tok);
  auto method = retain::make_method(method_name, nullptr);
  method->on_run_start(run);
  retain::OptimizerSettings o;
  o.lr = 5e-2;
  o.batch_size = 4;
  o.max_steps = 4;
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ctx{run, t};
    retain::train_task(*method, ctx, o);
  }
  const auto dir = root / "checkpoint";
  method->save(run, dir);
  method->prepare_evaluation(run, 2);
  const auto manifest = retain::read_adapter_manifest(dir);
  EXPECT_EQ(manifest.method, method_name);
  EXPECT_EQ(manifest.tasks, (std::vector<std::string>{"colors", "animals"}));
  const bool one_adapter = method_name == "seqlora";
  const std::vector<std::string> adapters = one_adapter ? std::vector<std::string>{"adapter"}
                                                        : std::vector<std::string>{"task0", "task1"};
  EXPECT_EQ(manifest.adapters, adapters);

  retain::serve::ServedModelOptions options;
  options.model_dir = kTinyModel;
  options.checkpoint = dir;
  auto served = retain::serve::ServedModel::load(options);
  EXPECT_EQ(served->kind, method_name);
  EXPECT_EQ(served->tasks, (std::vector<std::string>{"colors", "animals"}));
  EXPECT_EQ(served->model_ids(), (std::vector<std::string>{"auto", "base", "colors", "animals"}));
  auto base = retain::load_model(kTinyModel);

  std::vector<std::vector<int64_t>> prompts;
  for (const auto& task : tasks)
    for (const auto& e : task.test) prompts.push_back(retain::tokenize_prompt(tok, retain::format_prompt(task, e), run.tokenize));
  auto served_logits = [&](int64_t asked, const std::vector<int64_t>& ids, retain::serve::RouteChoice* choice) {
    served->prepare_prefill({asked});
    auto logits = last_logits(served->model, ids);
    auto choices = served->take_choices();
    if (choice) *choice = choices.at(0);
    return logits;
  };
  // The method's own inference without adapter `name` (it is switched back on after).
  auto without = [&](const std::string& name, const std::vector<int64_t>& ids) {
    std::vector<std::shared_ptr<retain::LinearAdapterImpl>> off;
    for (auto& [module, linear] : run.model->linear_layers())
      for (auto& [adapter_name, adapter] : linear->adapters())
        if (adapter_name.find(name) != std::string::npos && adapter->enabled) off.push_back(adapter);
    EXPECT_FALSE(off.empty()) << name;
    for (auto& a : off) a->enabled = false;
    auto logits = last_logits(run.model, ids);
    for (auto& a : off) a->enabled = true;
    return logits;
  };
  const std::vector<std::string> trained_names = one_adapter ? std::vector<std::string>{"seq"}
                                                             : std::vector<std::string>{"task0", "task1"};
  for (size_t p = 0; p < prompts.size(); ++p) {
    SCOPED_TRACE(p);
    const auto& ids = prompts[p];
    const auto own = last_logits(run.model, ids);
    for (int64_t asked : {kRouteAuto, int64_t{0}, int64_t{1}}) {
      retain::serve::RouteChoice choice;
      const auto logits = served_logits(asked, ids, &choice);
      EXPECT_LT(relative_error(logits, own), 1e-5) << "route " << asked << " against the method's own inference";
      EXPECT_EQ(choice.name, method_name);
      EXPECT_EQ(choice.routed_by, "none");
      EXPECT_FALSE(choice.score.has_value());
    }
    EXPECT_GT(relative_error(own, last_logits(base, ids)), 1e-3) << "the trained adapters change the output";
    for (const auto& name : trained_names)
      EXPECT_GT(relative_error(without(name, ids), own), 1e-3) << "adapter " << name << " changes the output";
    retain::serve::RouteChoice choice;
    EXPECT_LT(relative_error(served_logits(kRouteBase, ids, &choice), last_logits(base, ids)), 1e-5) << "base";
    EXPECT_EQ(choice.name, "base");
  }

  // Greedy generation of one left-padded batch, each row with another route: every row as the
  // method's own greedy generation (or the base model's, for "base").
  std::vector<int64_t> asked;
  for (size_t p = 0; p < prompts.size(); ++p) asked.push_back(std::vector<int64_t>{kRouteAuto, 0, 1, kRouteBase}[p % 4]);
  served->prepare_prefill(asked);
  const auto batch = greedy(served->model, prompts);
  ASSERT_EQ(served->take_choices().size(), prompts.size());
  const auto own = greedy(run.model, prompts), plain = greedy(base, prompts);
  bool differs = false;
  for (size_t r = 0; r < prompts.size(); ++r) {
    EXPECT_EQ(batch[r], asked[r] == kRouteBase ? plain[r] : own[r]) << "row " << r << " (asked " << asked[r] << ")";
    differs = differs || own[r] != plain[r];
  }
  EXPECT_TRUE(differs) << "the trained adapters change some greedy output";
}

INSTANTIATE_TEST_SUITE_P(AdapterMethods, ServedAdapters, ::testing::Values("seqlora", "inclora", "olora", "inflora"),
                         [](const auto& info) { return info.param; });

TEST(ServedAdapters, ABrokenOrUnknownCheckpointIsNamed) {
  const auto root = temp_dir("served_adapters_bad");
  retain::serve::ServedModelOptions options;
  options.model_dir = kTinyModel;
  // adapters.json listing a folder that is not there.
  fs::create_directories(root / "listed");
  retain::write_adapter_manifest(root / "listed", {"inclora", {"colors"}, {"task0"}});
  options.checkpoint = root / "listed";
  EXPECT_MSG(error_of([&] { retain::serve::ServedModel::load(options); }), "task0");
  // PEFT folders without adapters.json: not a checkpoint retain serve knows.
  fs::create_directories(root / "bare" / "task0");
  options.checkpoint = root / "bare";
  EXPECT_MSG(error_of([&] { retain::serve::ServedModel::load(options); }), "adapters.json");
  // A wrong format.
  fs::create_directories(root / "future" / "task0");
  retain::write_file_atomic(root / "future" / "adapters.json",
                            R"({"format": "retain.adapters/9", "method": "inclora", "tasks": ["a"], "adapters": ["task0"]})");
  options.checkpoint = root / "future";
  EXPECT_MSG(error_of([&] { retain::serve::ServedModel::load(options); }), "retain.adapters/1");
}

}  // namespace
