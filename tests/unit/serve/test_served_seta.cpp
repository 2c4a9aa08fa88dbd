// `retain serve`'s model with a SETA checkpoint (serve/served_model.h, load_seta_checkpoint): SETA
// trained here on two toy tasks through the method's own API, saved as `retain run
// --save-checkpoints` saves it, then loaded by ServedModel onto a fresh base model. Oracles, per
// prompt: "auto" gives the logits of SETA's own routed inference (prepare_evaluation) and picks the
// gate's top task; a task named gives that task's single route (set_route, the training path) and
// the other task something else; "base" gives the base model; in one left-padded mixed batch every
// row equals its prompt alone. Float32, 1e-5 relative: the same products in other shapes (batch,
// padding) sum in other orders, ~1e-7 per layer; a wrong route moves the logits by far more (checked).
#include "common/last_logits.h"
#include "common/toy_run.h"
#include "retain/data/prompt.h"
#include "retain/model/generation.h"
#include "retain/model/loader.h"
#include "retain/serve/served_model.h"
#include "retain/train/methods/seta.h"
#include "retain/train/prompt_features.h"
#include "retain/train/trainer.h"

#include <gtest/gtest.h>

#include <set>

namespace {

using namespace retain::testing;
using retain::serve::kRouteAuto;
using retain::serve::kRouteBase;

TEST(ServedSeta, RoutesAsSetasOwnInference) {
  const auto root = temp_dir("served_seta");
  const auto tok = tiny_tokenizer();
  const std::vector<retain::Task> tasks = {
      retain::load_task(make_task(root, "colors", {"red", "blue", "green", "gold"}, 2)),
      retain::load_task(make_task(root, "animals", {"cat", "dog", "cow", "pig"}, 2))};
  auto run = make_run(tasks, at::kFloat, tok);
  retain::SetaSettings settings;
  settings.density = 0.2;
  settings.gate_steps = 100;
  settings.importance_samples = 4;
  retain::SETA seta(settings);
  seta.on_run_start(run);
  retain::OptimizerSettings o;
  o.lr = 5e-2;
  o.batch_size = 4;
  o.max_steps = 4;
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ctx{run, t};
    retain::train_task(seta, ctx, o);
  }
  const auto dir = root / "checkpoint";
  seta.save(run, dir);
  seta.prepare_evaluation(run, 2);

  retain::serve::ServedModelOptions options;
  options.model_dir = kTinyModel;
  options.checkpoint = dir;
  auto served = retain::serve::ServedModel::load(options);
  ASSERT_EQ(served->kind, "seta");
  EXPECT_EQ(served->tasks, (std::vector<std::string>{"colors", "animals"}));
  EXPECT_EQ(served->model_ids(), (std::vector<std::string>{"auto", "base", "colors", "animals"}));
  auto base = retain::load_model(kTinyModel);

  std::vector<std::vector<int64_t>> prompts;
  for (const auto& task : tasks)
    for (const auto& e : task.test) prompts.push_back(retain::tokenize_prompt(tok, retain::format_prompt(task, e), run.tokenize));
  std::set<int64_t> chosen;
  auto served_logits = [&](int64_t asked, const std::vector<int64_t>& ids, retain::serve::RouteChoice* choice) {
    served->prepare_prefill({asked});
    auto logits = last_logits(served->model, ids);
    auto choices = served->take_choices();
    if (choice) *choice = choices.at(0);
    return logits;
  };
  for (size_t p = 0; p < prompts.size(); ++p) {
    SCOPED_TRACE(p);
    const auto& ids = prompts[p];
    retain::serve::RouteChoice choice;
    const auto automatic = served_logits(kRouteAuto, ids, &choice);
    EXPECT_LT(relative_error(automatic, last_logits(run.model, ids)), 1e-5) << "auto against SETA's own inference";
    ASSERT_TRUE(choice.route == 0 || choice.route == 1) << choice.route;
    EXPECT_EQ(choice.routed_by, "router");
    EXPECT_EQ(choice.name, served->tasks[choice.route]);
    // The gate's top task, computed here from the features the gate reads.
    {
      torch::NoGradGuard no_grad;
      const auto features = retain::prompt_features(run.model, {ids}, seta.feature_layers(), 1);
      const auto probs = at::softmax(retain::load_seta_checkpoint(base, dir).gate->logits(features), -1);
      EXPECT_EQ(probs.argmax(-1).item<int64_t>(), choice.route);
      ASSERT_TRUE(choice.score.has_value());
      EXPECT_NEAR(*choice.score, probs.max().item<double>(), 1e-6);
      base = retain::load_model(kTinyModel);  // drop the experts the check attached
    }
    chosen.insert(choice.route);
    for (int64_t t = 0; t < 2; ++t) {
      retain::serve::RouteChoice named_choice;
      const auto named = served_logits(t, ids, &named_choice);
      EXPECT_EQ(named_choice.routed_by, "request");
      run.model->router = nullptr;
      for (auto& [module, experts] : seta.expert_layers()) experts->set_route(t);
      const auto single = last_logits(run.model, ids);
      EXPECT_LT(relative_error(named, single), 1e-5) << "task " << t << " named against its single route";
      if (t != choice.route) {
        EXPECT_GT(relative_error(named, automatic), 1e-3) << "the other task's experts change the output";
      }
    }
    seta.prepare_evaluation(run, 2);
    EXPECT_LT(relative_error(served_logits(kRouteBase, ids, nullptr), last_logits(base, ids)), 1e-5) << "base";
  }
  EXPECT_EQ(chosen, (std::set<int64_t>{0, 1})) << "the gate sends these prompts to both tasks";

  // One left-padded batch of every prompt, each with another route: every row as alone.
  std::vector<int64_t> asked;
  for (size_t p = 0; p < prompts.size(); ++p) asked.push_back(std::vector<int64_t>{kRouteAuto, 0, 1, kRouteBase}[p % 4]);
  int64_t width = 0;
  for (const auto& ids : prompts) width = std::max<int64_t>(width, static_cast<int64_t>(ids.size()));
  const int64_t b = static_cast<int64_t>(prompts.size());
  auto ids = at::full({b, width}, served->model->config.pad_token_id.value_or(0), at::kLong);
  auto mask = at::zeros({b, width}, at::kLong);
  for (int64_t r = 0; r < b; ++r) {
    const int64_t n = static_cast<int64_t>(prompts[r].size());
    ids[r].narrow(0, width - n, n).copy_(at::tensor(prompts[r], at::kLong));
    mask[r].narrow(0, width - n, n).fill_(1);
  }
  served->prepare_prefill(asked);
  at::Tensor batch;
  {
    torch::NoGradGuard no_grad;
    retain::ForwardInput in;
    in.input_ids = ids;
    in.attention_mask = mask;
    batch = served->model->forward(in).select(1, -1);
  }
  const auto choices = served->take_choices();
  ASSERT_EQ(static_cast<int64_t>(choices.size()), b);
  for (int64_t r = 0; r < b; ++r) {
    const auto alone = served_logits(asked[r], prompts[r], nullptr);
    EXPECT_LT(relative_error(batch[r], alone), 1e-5) << "row " << r << " (asked " << asked[r] << ")";
  }
}

// top_k = 2: "auto" gives SETA's own top-2 inference (both tasks' experts, weighted by the gate's
// renormalised probabilities) and reports the mix; it differs from the top task alone (so a server
// that routed top-1 fails); named tasks and "base" stay single routes; and in one left-padded batch
// of auto, named and base rows, every row equals its prompt alone, through the prefill and 8 greedy
// decode steps (the engine's set_decode_routes path).
TEST(ServedSeta, TopKMixesAsSetasOwnInference) {
  const auto root = temp_dir("served_seta_topk");
  const auto tok = tiny_tokenizer();
  const std::vector<retain::Task> tasks = {
      retain::load_task(make_task(root, "colors", {"red", "blue", "green", "gold"}, 2)),
      retain::load_task(make_task(root, "animals", {"cat", "dog", "cow", "pig"}, 2))};
  auto run = make_run(tasks, at::kFloat, tok);
  retain::SetaSettings settings;
  settings.density = 0.2;
  settings.gate_steps = 100;
  settings.importance_samples = 4;
  settings.top_k = 2;
  retain::SETA seta(settings);
  seta.on_run_start(run);
  retain::OptimizerSettings o;
  o.lr = 5e-2;
  o.batch_size = 4;
  o.max_steps = 4;
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ctx{run, t};
    retain::train_task(seta, ctx, o);
  }
  const auto dir = root / "checkpoint";
  seta.save(run, dir);
  seta.prepare_evaluation(run, 2);

  retain::serve::ServedModelOptions options;
  options.model_dir = kTinyModel;
  options.checkpoint = dir;
  auto served = retain::serve::ServedModel::load(options);
  ASSERT_EQ(served->kind, "seta");
  auto base = retain::load_model(kTinyModel);
  auto gate_check = retain::load_model(kTinyModel);
  const auto gate = retain::load_seta_checkpoint(gate_check, dir).gate;

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
  double smallest_second = 1;
  for (size_t p = 0; p < prompts.size(); ++p) {
    SCOPED_TRACE(p);
    const auto& ids = prompts[p];
    retain::serve::RouteChoice choice;
    const auto automatic = served_logits(kRouteAuto, ids, &choice);
    EXPECT_LT(relative_error(automatic, last_logits(run.model, ids)), 1e-5) << "auto against SETA's own top-2 inference";
    EXPECT_EQ(choice.routed_by, "router");
    ASSERT_EQ(choice.mix.size(), 2u);
    {
      torch::NoGradGuard no_grad;
      const auto features = retain::prompt_features(run.model, {ids}, seta.feature_layers(), 1);
      const auto [routes, weights] = gate->route(features, 2);
      const auto probs = at::softmax(gate->logits(features), -1);
      for (int64_t i = 0; i < 2; ++i) {
        EXPECT_EQ(choice.mix[i].route, routes[0][i].item<int64_t>());
        EXPECT_EQ(choice.mix[i].name, served->tasks[choice.mix[i].route]);
        EXPECT_NEAR(choice.mix[i].weight, weights[0][i].item<double>(), 1e-7);
      }
      EXPECT_EQ(choice.route, choice.mix[0].route);
      ASSERT_TRUE(choice.score.has_value());
      EXPECT_NEAR(*choice.score, probs.max().item<double>(), 1e-6);
    }
    EXPECT_NEAR(choice.mix[0].weight + choice.mix[1].weight, 1.0, 1e-6);
    smallest_second = std::min(smallest_second, choice.mix[1].weight);
    const auto json = choice.to_json();
    ASSERT_TRUE(json.contains("mix"));
    EXPECT_EQ(json["mix"].size(), 2u);
    EXPECT_EQ(json["mix"][1]["route"], choice.mix[1].name);
    for (int64_t t = 0; t < 2; ++t) {
      retain::serve::RouteChoice named_choice;
      const auto named = served_logits(t, ids, &named_choice);
      EXPECT_TRUE(named_choice.mix.empty());
      run.model->router = nullptr;
      for (auto& [module, experts] : seta.expert_layers()) experts->set_route(t);
      EXPECT_LT(relative_error(named, last_logits(run.model, ids)), 1e-5) << "task " << t << " named against its single route";
      if (t == choice.route) {
        // Measured 3e-2 here; the rounding of the same routes is ~1e-7.
        EXPECT_GT(relative_error(named, automatic), 1e-3) << "the second task's experts change the output";
      }
      seta.prepare_evaluation(run, 2);
    }
    EXPECT_LT(relative_error(served_logits(kRouteBase, ids, nullptr), last_logits(base, ids)), 1e-5) << "base";
  }
  EXPECT_GT(smallest_second, 0.0);

  // One left-padded batch of every prompt, each with another route, prefilled and decoded greedily
  // as the engine does (set_decode_routes with each row's choice): every row's logits and tokens as
  // its prompt alone.
  std::vector<int64_t> asked;
  for (size_t p = 0; p < prompts.size(); ++p) asked.push_back(std::vector<int64_t>{kRouteAuto, 0, kRouteAuto, kRouteBase, 1}[p % 5]);
  auto decode = [&](const std::vector<std::vector<int64_t>>& batch_prompts, const std::vector<int64_t>& routes) {
    served->prepare_prefill(routes);
    torch::NoGradGuard no_grad;
    retain::GenerationOptions g;
    g.max_new_tokens = 8;
    g.pad_token_id = served->model->config.pad_token_id.value_or(0);
    auto out = retain::generate(served->model, batch_prompts, g);
    EXPECT_EQ(served->take_choices().size(), batch_prompts.size());
    return out;
  };
  const auto batch = decode(prompts, asked);
  for (size_t r = 0; r < prompts.size(); ++r)
    EXPECT_EQ(batch[r], decode({prompts[r]}, {asked[r]})[0]) << "row " << r << " (asked " << asked[r] << ")";
  // The decode path: routes re-applied from the prefill's choices give the same next-token logits.
  served->prepare_prefill(asked);
  int64_t width = 0;
  for (const auto& ids : prompts) width = std::max<int64_t>(width, static_cast<int64_t>(ids.size()));
  const int64_t b = static_cast<int64_t>(prompts.size());
  auto ids = at::full({b, width}, served->model->config.pad_token_id.value_or(0), at::kLong);
  auto mask = at::zeros({b, width}, at::kLong);
  for (int64_t r = 0; r < b; ++r) {
    const int64_t n = static_cast<int64_t>(prompts[r].size());
    ids[r].narrow(0, width - n, n).copy_(at::tensor(prompts[r], at::kLong));
    mask[r].narrow(0, width - n, n).fill_(1);
  }
  torch::NoGradGuard no_grad;
  retain::ForwardInput in;
  in.input_ids = ids;
  in.attention_mask = mask;
  const auto prefilled = served->model->forward(in).select(1, -1);
  const auto choices = served->take_choices();
  auto router = served->model->router;
  served->model->router = nullptr;  // as in a decode step: no prefill routing, the choices re-applied
  served->set_decode_routes(choices);
  const auto replayed = served->model->forward(in).select(1, -1);
  served->model->router = router;
  EXPECT_LT(relative_error(replayed, prefilled), 1e-6);
}

TEST(ServedSeta, ABrokenCheckpointIsNamed) {
  const auto root = temp_dir("served_seta_bad");
  fs::create_directories(root / "ckpt");
  retain::write_file_atomic(root / "ckpt" / "experts.json", "{\"format\": \"retain.seta/1\"}");
  retain::serve::ServedModelOptions options;
  options.model_dir = kTinyModel;
  options.checkpoint = root / "ckpt";
  EXPECT_MSG(error_of([&] { retain::serve::ServedModel::load(options); }), "experts.safetensors");
}

}  // namespace
