// ASR (train/asr.h) and routed multi-adapter inference (model/routed_lora.h) on the tiny Llama
// (tests/fixtures/models/llama_gqa, 2 layers: L_f resolves to 1). Oracles:
//  * a mixed batch through the RoutedLora gives, sample by sample, the logits of that sample alone
//    through its own ordinary LoRA adapter (route −1: the base model), and generate() the same tokens;
//  * the routed prefill (layers [0, L_f), route, layers [L_f, n)) equals the plain forward and the
//    router sees each prompt's own tokens (the answer tokens left out in rank scoring);
//  * router features equal the pooled hidden states of each prompt run alone;
//  * a 2-task run fills routing_accuracy, which a checkpoint loaded into a fresh model reproduces;
//    the checkpoint's routed model gives the trained model's logits; state() → load_state() on a
//    fresh model gives the same router and logits;
//  * bad settings name the key.
//
// Tolerances (float32): a sample alone and in a padded batch go through differently shaped matrix
// products, which sum in different orders: relative differences of ~1e-7 per layer; 1e-5 bounds a
// 2-layer model with margin while a wrong adapter (a relative change of 1e-2 or more, checked) fails.
#include "common/toy_run.h"
#include "retain/core/error.h"
#include "retain/data/prompt.h"
#include "retain/io/safetensors.h"
#include "retain/model/generation.h"
#include "retain/model/lora.h"
#include "retain/model/routed_lora.h"
#include "retain/train/methods/asr.h"
#include "retain/train/methods/pertask.h"
#include "retain/train/registry.h"
#include "retain/train/runner.h"
#include "retain/train/trainer.h"

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

namespace {

using namespace retain::testing;

constexpr double kTol = 1e-5;

const std::vector<std::string> kAllLinear = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

// The tiny model in float32 with LoRA adapters task0..task<n-1> on all 7 linear layers, ranks 2, 3,
// 4, ... (different ranks exercise the zero padding), B random so that each adapter matters, and the
// RoutedLora "asr" stacking them.
retain::CausalLM model_with_adapters(int64_t n) {
  auto model = retain::load_model(kTinyModel, {at::kFloat, at::kCPU});
  auto g = at::make_generator<at::CPUGeneratorImpl>(11);
  std::vector<std::string> names;
  for (int64_t t = 0; t < n; ++t) {
    retain::LoraConfig c;
    c.r = 2 + t;
    c.lora_alpha = 8;
    c.target_modules = kAllLinear;
    names.push_back(retain::ASR::adapter_name(t));
    retain::add_lora_adapter(model, c, names.back(), 100 + t);
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, linear] : model->linear_layers())
    for (auto& [adapter_name, adapter] : linear->adapters())
      if (auto lora = std::dynamic_pointer_cast<retain::LoraAdapterImpl>(adapter))
        lora->lora_B.copy_(at::empty(lora->lora_B.sizes(), at::kFloat).uniform_(-0.3, 0.3, g));
  retain::add_routed_lora(model, names, "asr");
  model->eval();
  return model;
}

const std::vector<std::vector<int64_t>> kPrompts = {
    {1, 40, 41, 42, 43, 44, 45}, {1, 50, 51}, {1, 60, 61, 62, 63}, {1, 70, 71, 72, 73, 74}, {1, 80, 81, 82}};
const std::vector<int64_t> kRoutes = {0, 2, -1, 1, 0};

// Logits (T, V) of one prompt alone with only `adapter` enabled ("" = base).
at::Tensor alone(retain::CausalLM& model, const std::vector<int64_t>& prompt, const std::string& adapter) {
  torch::NoGradGuard no_grad;
  retain::enable_only_adapter(model, adapter);
  auto ids = at::tensor(prompt, at::kLong).unsqueeze(0);
  return model->forward({ids, {}, {}, nullptr})[0];
}

std::string adapter_of(int64_t route) { return route < 0 ? "" : retain::ASR::adapter_name(route); }

TEST(RoutedLora, MixedBatchEqualsEachSampleAloneWithItsAdapter) {
  auto model = model_with_adapters(3);
  const auto padded = retain::left_pad(kPrompts, 0);
  retain::enable_only_adapter(model, "asr");
  retain::set_routes(model, at::tensor(kRoutes, at::kLong));
  at::Tensor mixed;
  {
    torch::NoGradGuard no_grad;
    mixed = model->forward({padded.input_ids, padded.attention_mask, {}, nullptr});
  }
  const int64_t width = padded.input_ids.size(1);
  for (size_t r = 0; r < kPrompts.size(); ++r) {
    SCOPED_TRACE("sample " + std::to_string(r));
    const int64_t len = static_cast<int64_t>(kPrompts[r].size());
    auto got = mixed[r].narrow(0, width - len, len);
    auto want = alone(model, kPrompts[r], adapter_of(kRoutes[r]));
    EXPECT_LT(relative_error(got, want), kTol);
    if (kRoutes[r] >= 0) {
      EXPECT_GT(relative_error(alone(model, kPrompts[r], ""), want), 1e-2);  // the adapter matters
    }
  }
  // Without routes the routed adapter adds nothing: the base model.
  retain::enable_only_adapter(model, "asr");
  retain::clear_routes(model);
  torch::NoGradGuard no_grad;
  EXPECT_LT(relative_error(model->forward({at::tensor(kPrompts[0]).unsqueeze(0), {}, {}, nullptr})[0],
                           alone(model, kPrompts[0], "")),
            1e-7);
}

// Sets fixed routes on the routed adapters when the model routes a prefill, and records its input.
class FixedRouter : public retain::PromptRouter {
 public:
  FixedRouter(retain::CausalLM model, at::Tensor routes, int64_t layer)
      : adapters_(retain::routed_adapters(model)), routes_(routes), layer_(layer) {}
  int64_t layer() const override { return layer_; }
  void route(const at::Tensor& hidden, const at::Tensor& mask) override {
    ++calls;
    hidden_sizes = hidden.sizes().vec();
    seen_mask = mask.clone();
    for (auto& a : adapters_) a->set_routes(routes_);
  }
  int calls = 0;
  std::vector<int64_t> hidden_sizes;
  at::Tensor seen_mask;

 private:
  std::vector<std::shared_ptr<retain::RoutedLoraImpl>> adapters_;
  at::Tensor routes_;
  int64_t layer_;
};

TEST(RoutedLora, GenerateKeepsEachSamplesAdapterForEveryToken) {
  auto model = model_with_adapters(3);
  retain::GenerationOptions o;
  o.max_new_tokens = 8;
  o.eos_token_ids = {2};
  std::vector<std::vector<int64_t>> want;
  for (size_t r = 0; r < kPrompts.size(); ++r) {
    retain::enable_only_adapter(model, adapter_of(kRoutes[r]));
    want.push_back(retain::generate(model, {kPrompts[r]}, o)[0]);
  }
  retain::enable_only_adapter(model, "asr");
  // Routing before layer 0: these adapters sit in every layer (ASR's start at L_f).
  auto router = std::make_shared<FixedRouter>(model, at::tensor(kRoutes, at::kLong), 0);
  model->router = router;
  const auto got = retain::generate(model, kPrompts, o);
  model->router = nullptr;
  EXPECT_EQ(router->calls, 1);  // the prefill only: decode steps keep the routes
  const auto padded = retain::left_pad(kPrompts, 0);
  EXPECT_EQ(router->hidden_sizes, (std::vector<int64_t>{5, padded.input_ids.size(1), 64}));
  EXPECT_TRUE(at::equal(router->seen_mask.to(at::kLong), padded.attention_mask));
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < got.size(); ++r) EXPECT_EQ(got[r], want[r]) << "sample " << r;
  // The adapters change what is generated (else the check above would prove nothing).
  retain::enable_only_adapter(model, "");
  int differ = 0;
  for (size_t r = 0; r < kPrompts.size(); ++r) differ += retain::generate(model, {kPrompts[r]}, o)[0] != want[r];
  EXPECT_GT(differ, 0);
}

TEST(RoutedLora, RoutedPrefillEqualsThePlainForwardAndRoutesOnTheRouteMask) {
  auto model = model_with_adapters(3);
  const auto padded = retain::left_pad(kPrompts, 0);
  retain::enable_only_adapter(model, "asr");
  retain::set_routes(model, at::tensor(kRoutes, at::kLong));
  torch::NoGradGuard no_grad;
  const auto plain = model->forward({padded.input_ids, padded.attention_mask, {}, nullptr});
  auto router = std::make_shared<FixedRouter>(model, at::tensor(kRoutes, at::kLong), 1);
  model->router = router;
  retain::ForwardInput in{padded.input_ids, padded.attention_mask, {}, nullptr};
  in.route_mask = padded.attention_mask.clone();
  in.route_mask.select(1, -1).zero_();  // e.g. an answer token left out
  const auto routed = model->forward(in);
  model->router = nullptr;
  // Same operations in the same order: equal up to nothing at all.
  EXPECT_TRUE(at::equal(routed, plain));
  EXPECT_TRUE(at::equal(router->seen_mask, in.route_mask));
}

TEST(Asr, PromptFeaturesArePooledPerPrompt) {
  auto model = retain::load_model(kTinyModel, {at::kFloat, at::kCPU});
  const auto features = retain::prompt_features(model, kPrompts, 1, 2);
  ASSERT_EQ(features.sizes(), at::IntArrayRef({5, 64}));
  torch::NoGradGuard no_grad;
  for (size_t r = 0; r < kPrompts.size(); ++r) {
    retain::ForwardInput in{at::tensor(kPrompts[r]).unsqueeze(0), {}, {}, nullptr};
    auto h = model->model->norm(model->model->forward(in, 0, 1));  // (1, T, d)
    EXPECT_LT(relative_error(features[r], h[0].mean(0)), kTol) << r;
  }
}

TEST(Asr, FeatureLayersScaleWithDepth) {
  EXPECT_EQ(retain::resolve_feature_layers(4, 32), 4);
  EXPECT_EQ(retain::resolve_feature_layers(4, 2), 1);
  EXPECT_EQ(retain::resolve_feature_layers(4, 1), 0);
  EXPECT_EQ(retain::resolve_feature_layers(8, 32), 8);
}

// Small settings for the tiny model: E 256, rank 4.
retain::AsrSettings small_settings() {
  retain::AsrSettings s;
  s.lora.r = 4;
  s.expansion_dim = 256;
  s.block_size = 3;
  return s;
}

std::vector<retain::Task> two_tasks(const fs::path& root) { return two_toy_tasks(root, 2); }

// The test prompts of every task, tokenized as the evaluator does.
std::vector<std::vector<int64_t>> all_test_prompts(const retain::RunContext& run) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& task : run.tasks)
    for (const auto& e : task.test)
      out.push_back(retain::tokenize_prompt(*run.tokenizer, retain::format_prompt(task, e), run.tokenize));
  return out;
}

// Trains ASR on both tasks of `run` and sets up routed inference.
void train_both(retain::ASR& method, retain::RunContext& run) {
  retain::OptimizerSettings s;
  s.lr = 1e-2;
  s.epochs = 2;
  s.batch_size = 2;
  method.on_run_start(run);
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ctx{run, t};
    retain::train_task(method, ctx, s);
  }
  method.prepare_evaluation(run, 2);
}

at::Tensor routed_logits(retain::CausalLM& model, const std::vector<std::vector<int64_t>>& prompts) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto padded = retain::left_pad(prompts, 0);
  return model->forward({padded.input_ids, padded.attention_mask, {}, nullptr});
}

TEST(Asr, TrainsOneAdapterPerTaskAboveTheFeatureLayers) {
  const auto root = temp_dir("asr");
  const auto tok = tiny_tokenizer();
  auto run = make_run(two_tasks(root), at::kFloat, tok);
  retain::ASR method(small_settings());
  train_both(method, run);
  EXPECT_EQ(method.feature_layers(), 1);
  EXPECT_EQ(method.router()->classes, (std::vector<std::string>{"colors", "animals"}));
  for (auto& [name, linear] : run.model->linear_layers()) {
    const bool deep = name.find("layers.1.") != std::string::npos;
    const bool qv = name.find("q_proj") != std::string::npos || name.find("v_proj") != std::string::npos;
    EXPECT_EQ(linear->adapter("task0") != nullptr, deep && qv) << name;
    EXPECT_EQ(linear->adapter("task1") != nullptr, deep && qv) << name;
    EXPECT_EQ(linear->adapter("asr") != nullptr, deep && qv) << name;
  }
  // The router's decision for each test prompt equals argmax φ(f) W computed here from its pieces.
  const auto prompts = all_test_prompts(run);
  const auto f = retain::prompt_features(run.model, prompts, 1, 16).to(at::kDouble);
  const auto& r = *method.router();
  const auto scores = at::matmul(at::relu(at::matmul(f, r.expansion.t())), method.router()->rls.weights());
  EXPECT_TRUE(at::equal(method.router()->routes(f), scores.argmax(-1)));
  // Routed inference equals each prompt alone with the adapter its route names.
  const auto routes = method.router()->routes(f);
  const auto mixed = routed_logits(run.model, prompts);
  const auto padded = retain::left_pad(prompts, 0);
  auto model = run.model;
  model->router = nullptr;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const int64_t len = static_cast<int64_t>(prompts[i].size());
    auto want = alone(model, prompts[i], adapter_of(routes[i].item<int64_t>()));
    EXPECT_LT(relative_error(mixed[i].narrow(0, padded.input_ids.size(1) - len, len), want), kTol) << i;
  }
}

TEST(Asr, RunFillsRoutingAccuracyAndTheCheckpointReproducesIt) {
  const auto root = temp_dir("asr");
  const auto tasks = two_tasks(root);
  auto config = toy_run_config();
  config.optim.lr = 1e-2;
  config.run.save_checkpoints = true;
  config.set("method.asr.r=4");
  config.set("method.asr.expansion_dim=256");
  retain::run_method("asr", kTinyModel, tasks, config, root / "out");
  const auto back = retain::read_results_json(root / "out" / "asr" / "results.json");
  EXPECT_EQ(back.config["method"]["asr"]["feature_layers"].get<int64_t>(), 1);  // resolved: 2 layers / 2
  ASSERT_TRUE(back.routing_accuracy.has_value());
  const auto& routing = *back.routing_accuracy;
  ASSERT_EQ(routing.size(), 2u);
  ASSERT_TRUE(routing[0][0].has_value());
  EXPECT_FALSE(routing[0][1].has_value());  // not seen yet
  ASSERT_TRUE(routing[1][0].has_value() && routing[1][1].has_value());
  // Recomputed from the checkpoint after task 2, loaded into a fresh base model.
  const auto tok = tiny_tokenizer();
  auto run = make_run(tasks, at::kFloat, tok);
  auto router = retain::load_asr_checkpoint(run.model, root / "out" / "asr" / "checkpoints" / "task_2");
  for (int64_t i = 0; i < 2; ++i) {
    std::vector<std::vector<int64_t>> prompts;
    for (const auto& e : tasks[i].test)
      prompts.push_back(retain::tokenize_prompt(tok, retain::format_prompt(tasks[i], e), run.tokenize));
    const auto routes = router->routes(retain::prompt_features(run.model, prompts, 1, 16));
    EXPECT_DOUBLE_EQ(*routing[1][i], routes.eq(i).to(at::kDouble).mean().item<double>()) << i;
  }
  // On these separable prompts (test = training prompts) the router is right every time.
  EXPECT_EQ(*routing[1][0], 1.0);
  EXPECT_EQ(*routing[1][1], 1.0);
  // Task 1's checkpoint holds one column and one adapter.
  const auto first = root / "out" / "asr" / "checkpoints" / "task_1";
  EXPECT_EQ(retain::AsrRouter::load(first / "router.safetensors").classes, (std::vector<std::string>{"colors"}));
  EXPECT_TRUE(fs::exists(first / "task0" / "adapter_config.json"));
  EXPECT_FALSE(fs::exists(first / "task1"));
}

TEST(Asr, CheckpointLoadsIntoTheSameRoutedModel) {
  const auto root = temp_dir("asr");
  const auto tok = tiny_tokenizer();
  for (const std::string solver : {"woodbury", "cholesky"}) {
    SCOPED_TRACE(solver);
    auto run = make_run(two_tasks(root), at::kFloat, tok);
    auto settings = small_settings();
    settings.solver = solver;
    settings.activation = "none";
    retain::ASR method(settings);
    train_both(method, run);
    const auto prompts = all_test_prompts(run);
    const auto want = routed_logits(run.model, prompts);
    const auto dir = root / ("ckpt_" + solver);
    method.save(run, dir);
    // The file holds what the issue lists.
    const auto file = retain::safetensors::File::open(dir / "router.safetensors");
    EXPECT_EQ(file.info("W").shape, (std::vector<int64_t>{256, 2}));
    EXPECT_EQ(file.info("expansion").shape, (std::vector<int64_t>{256, 64}));
    EXPECT_TRUE(file.contains(solver == "woodbury" ? "R" : "A"));
    EXPECT_EQ(file.metadata().at("tasks"), R"(["colors","animals"])");
    EXPECT_EQ(file.metadata().at("activation"), "none");
    EXPECT_EQ(file.metadata().at("feature_layers"), "1");
    EXPECT_EQ(file.metadata().at("dtype"), "float64");

    auto loaded = retain::AsrRouter::load(dir / "router.safetensors");
    auto& original = *method.router();
    EXPECT_TRUE(at::equal(loaded.expansion, original.expansion));
    auto a = original.rls.tensors();
    auto b = loaded.rls.tensors();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
    EXPECT_EQ(loaded.classes, original.classes);
    EXPECT_EQ(loaded.activation, retain::ExpansionActivation::None);

    auto fresh = make_run(two_tasks(root), at::kFloat, tok);
    retain::load_asr_checkpoint(fresh.model, dir);
    // Every stored number round-trips exactly, so the same arithmetic gives the same logits.
    EXPECT_TRUE(at::equal(routed_logits(fresh.model, prompts), want));
  }
}

TEST(Asr, StateRoundTripOnAFreshModel) {
  const auto root = temp_dir("asr");
  const auto tok = tiny_tokenizer();
  auto run = make_run(two_tasks(root), at::kFloat, tok);
  retain::ASR method(small_settings());
  train_both(method, run);
  const auto prompts = all_test_prompts(run);
  const auto want = routed_logits(run.model, prompts);
  const auto state = method.state(run);

  auto fresh = make_run(two_tasks(root), at::kFloat, tok);
  retain::ASR resumed(small_settings());
  resumed.on_run_start(fresh);
  resumed.load_state(fresh, 2, state);
  // What the runner does next: load every saved parameter by name.
  {
    torch::NoGradGuard no_grad;
    auto saved = run.model->named_parameters();
    int64_t copied = 0;
    for (auto& item : fresh.model->named_parameters()) {
      ASSERT_TRUE(saved.contains(item.key())) << item.key();
      item.value().copy_(saved[item.key()]);
      ++copied;
    }
    EXPECT_EQ(copied, static_cast<int64_t>(saved.size()));  // the same adapters were re-created
  }
  resumed.prepare_evaluation(fresh, 2);
  EXPECT_TRUE(at::equal(routed_logits(fresh.model, prompts), want));
  EXPECT_TRUE(at::equal(resumed.router()->rls.weights(), method.router()->rls.weights()));
  EXPECT_EQ(resumed.router()->classes, method.router()->classes);
  // A third task absorbed after the resume sees the same R as without it.
  auto features = retain::prompt_features(run.model, prompts, 1, 4);
  method.router()->absorb(features, method.router()->add_class("third"));
  resumed.router()->absorb(features, resumed.router()->add_class("third"));
  EXPECT_TRUE(at::equal(resumed.router()->rls.weights(), method.router()->rls.weights()));
}

TEST(Asr, GeneralBranchRoutesToTheBaseModel) {
  const auto root = temp_dir("asr");
  const auto tok = tiny_tokenizer();
  const auto general = make_task(root, "chat", {"hello", "thanks"}, 2);
  auto run = make_run(two_tasks(root), at::kFloat, tok);
  auto settings = small_settings();
  settings.general_task = general.string();
  retain::ASR method(settings);
  train_both(method, run);
  EXPECT_EQ(method.router()->classes, (std::vector<std::string>{"<general>", "colors", "animals"}));
  EXPECT_EQ(method.router()->tasks(), 2);
  // The general prompts themselves route to −1 (base); the tasks' to their adapters 0 and 1.
  const auto chat = retain::load_task(general);
  std::vector<std::vector<int64_t>> prompts;
  for (const auto& e : chat.test) prompts.push_back(retain::tokenize_prompt(tok, retain::format_prompt(chat, e), run.tokenize));
  auto routes = method.router()->routes(retain::prompt_features(run.model, prompts, 1, 4));
  EXPECT_TRUE(routes.eq(-1).all().item<bool>()) << routes;
  auto accuracy = method.routing_accuracy(run, 2);
  ASSERT_TRUE(accuracy.has_value());
  EXPECT_EQ(*accuracy, (std::vector<double>{1.0, 1.0}));
}

TEST(Asr, BadSettingsNameTheKey) {
  auto message = error_of([] { retain::make_method("asr", retain::json{{"activation", "tanh"}}); });
  EXPECT_MSG(message, "method.asr.activation");
  message = error_of([] { retain::method_settings("asr", retain::json{{"solver", "qr"}}); });
  EXPECT_MSG(message, "method.asr.solver");
  message = error_of([] { retain::make_method("asr", retain::json{{"lamda", 1}}); });
  EXPECT_MSG(message, "lambda");
  const auto resolved = retain::method_settings("asr", nullptr);
  EXPECT_EQ(resolved["dropout"].get<double>(), 0.1);
  EXPECT_EQ(resolved["alpha"].get<double>(), 32);
  EXPECT_EQ(resolved["activation"].get<std::string>(), "relu");
  EXPECT_EQ(resolved["expansion_dim"].get<int64_t>(), 10000);
}

}  // namespace
