// LoRA adapters: the forward pass and ΔW against their closed forms, merging as an explicit export,
// PEFT's config semantics (rsLoRA, rank/alpha patterns, target_modules, layers_to_transform) and
// adding adapters to a model.
//
// Oracles: y = x Wᵀ + b + s·x Aᵀ Bᵀ and ΔW = s·B A computed here with plain matmuls; the unmerged
// model is the reference for the merged one; PEFT's documented matching rules (a pattern key
// matches a module when the module name fullmatches `(.*\.)?(key)`, the first key in file order
// wins; a target_modules list matches by name suffix at a dot, a string by regex fullmatch).
//
// Tolerances: kFloat64 (lora_test_util.h).
#include "lora_test_util.h"
#include "retain/model/lora.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace retain::testing;
using retain::json;
using retain::LoraConfig;

// ---- the adapter alone --------------------------------------------------------------------------

TEST(LoraAdapter, ForwardAndDeltaWeightAreTheClosedForm) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  retain::AdaptedLinear linear(12, 10, /*bias=*/true);
  linear->to(at::kDouble);
  linear->weight.copy_(at::randn({10, 12}, gen, at::kDouble));
  linear->bias.copy_(at::randn({10}, gen, at::kDouble));
  const double scaling = 0.75;
  retain::LoraAdapter lora(12, 10, /*rank=*/3, scaling, /*dropout=*/0.0);
  lora->to(at::kDouble);
  auto A = at::randn({3, 12}, gen, at::kDouble), B = at::randn({10, 3}, gen, at::kDouble);
  lora->lora_A.copy_(A);
  lora->lora_B.copy_(B);
  linear->add_adapter("task", lora.ptr());

  auto x = at::randn({2, 5, 12}, gen, at::kDouble);
  auto W = linear->weight.clone(), b = linear->bias.clone();
  auto base = x.matmul(W.t()) + b;
  auto expected = base + scaling * x.matmul(A.t()).matmul(B.t());
  EXPECT_LT(relative_error(linear->forward(x), expected), kFloat64);
  EXPECT_LT(relative_error(linear->forward_base(x), base), kFloat64);
  EXPECT_LT(relative_error(lora->delta_weight(), scaling * B.matmul(A)), kFloat64);
  EXPECT_TRUE(linear->weight.equal(W)) << "the forward pass must not touch the base weight";

  // A disabled adapter contributes nothing; two adapters add up.
  lora->enabled = false;
  EXPECT_TRUE(linear->forward(x).equal(linear->forward_base(x)));
  lora->enabled = true;
  retain::LoraAdapter second(12, 10, 2, 2.0, 0.0);
  second->to(at::kDouble);
  auto A2 = at::randn({2, 12}, gen, at::kDouble), B2 = at::randn({10, 2}, gen, at::kDouble);
  second->lora_A.copy_(A2);
  second->lora_B.copy_(B2);
  linear->add_adapter("other", second.ptr());
  EXPECT_LT(relative_error(linear->forward(x), expected + 2.0 * x.matmul(A2.t()).matmul(B2.t())), kFloat64);
  EXPECT_MSG(error_of([&] { linear->add_adapter("task", second.ptr()); }), "\"task\"");

  // Merging: W + Σ ΔW, adapters gone, same outputs.
  auto before = linear->forward(x);
  linear->merge_adapters();
  EXPECT_TRUE(linear->adapters().empty());
  EXPECT_LT(relative_error(linear->weight, W + scaling * B.matmul(A) + 2.0 * B2.matmul(A2)), kFloat64);
  EXPECT_LT(relative_error(linear->forward(x), before), kFloat64);
}

// ---- LoraConfig semantics -----------------------------------------------------------------------

LoraConfig config_from(const json& j) { return LoraConfig::from_json_text(j.dump(), "adapter_config.json"); }

TEST(LoraConfigRules, ScalingIsAlphaOverRankOrOverItsRootWithRsLora) {
  auto c = config_from({{"r", 4}, {"lora_alpha", 8}, {"target_modules", {"q_proj"}}});
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 8.0 / 4);
  c = config_from({{"r", 4}, {"lora_alpha", 8}, {"use_rslora", true}, {"target_modules", {"q_proj"}}});
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 8.0 / std::sqrt(4.0));
  c = config_from({{"r", 8}, {"lora_alpha", 16}, {"use_rslora", true}, {"target_modules", {"q_proj"}}});
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 16.0 / std::sqrt(8.0));
}

TEST(LoraConfigRules, PatternKeysMatchAtADotAndTheFirstMatchWins) {
  const std::string q0 = "model.layers.0.self_attn.q_proj", q1 = "model.layers.1.self_attn.q_proj";
  // The file's key order decides: "q_proj" first → it wins for layer 0 too.
  auto c = LoraConfig::from_json_text(
      R"({"r": 8, "target_modules": ["q_proj"], "rank_pattern": {"q_proj": 2, "layers.0.self_attn.q_proj": 3}})", "a");
  EXPECT_EQ(c.rank_for(q0), 2);
  EXPECT_EQ(c.rank_for(q1), 2);
  c = LoraConfig::from_json_text(
      R"({"r": 8, "target_modules": ["q_proj"], "rank_pattern": {"layers.0.self_attn.q_proj": 3, "q_proj": 2}})", "a");
  EXPECT_EQ(c.rank_for(q0), 3);
  EXPECT_EQ(c.rank_for(q1), 2);
  // A key must match whole dot-separated components at the end of the name.
  c = LoraConfig::from_json_text(R"({"r": 8, "target_modules": ["q_proj"], "rank_pattern": {"proj": 5}})", "a");
  EXPECT_EQ(c.rank_for(q0), 8);
  c = LoraConfig::from_json_text(R"({"r": 8, "target_modules": ["q_proj"], "rank_pattern": {"self_attn.q_proj": 5}})",
                                 "a");
  EXPECT_EQ(c.rank_for(q0), 5);
  c = LoraConfig::from_json_text(R"({"r": 8, "target_modules": ["q_proj"], "rank_pattern": {"q_pro": 5}})", "a");
  EXPECT_EQ(c.rank_for(q0), 8);
  // Keys are regular expressions.
  c = LoraConfig::from_json_text(
      R"({"r": 8, "target_modules": ["q_proj"], "rank_pattern": {"layers\\.[02]\\.self_attn\\.q_proj": 5}})", "a");
  EXPECT_EQ(c.rank_for(q0), 5);
  EXPECT_EQ(c.rank_for(q1), 8);
  // alpha_pattern follows the same rule and combines with the rank.
  c = LoraConfig::from_json_text(
      R"({"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "alpha_pattern": {"v_proj": 2, "layers.0.self_attn.v_proj": 100}})",
      "a");
  EXPECT_DOUBLE_EQ(c.alpha_for("model.layers.0.self_attn.v_proj"), 2.0);
  EXPECT_DOUBLE_EQ(c.alpha_for(q0), 8.0);
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.v_proj"), 2.0 / 4);
}

TEST(LoraConfigRules, TargetModulesListIsASuffixMatchAndAStringAFullRegexMatch) {
  auto list = config_from({{"target_modules", {"q_proj", "mlp.up_proj"}}});
  EXPECT_TRUE(list.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(list.targets("q_proj"));
  EXPECT_TRUE(list.targets("model.layers.3.mlp.up_proj"));
  EXPECT_FALSE(list.targets("model.layers.0.self_attn.xq_proj"));  // suffix, but not at a dot
  EXPECT_FALSE(list.targets("model.layers.0.self_attn.q_proj_extra"));
  EXPECT_FALSE(list.targets("model.layers.0.self_attn.up_proj"));  // "mlp.up_proj" needs the mlp component

  auto regex = config_from({{"target_modules", R"(.*layers\.1\..*(q|v)_proj)"}});
  ASSERT_TRUE(regex.target_regex.has_value());
  EXPECT_TRUE(regex.targets("model.layers.1.self_attn.q_proj"));
  EXPECT_TRUE(regex.targets("model.layers.1.self_attn.v_proj"));
  EXPECT_FALSE(regex.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(regex.targets("model.layers.1.self_attn.k_proj"));
  // Full match, not search: "q_proj" as a string does not match a longer module name.
  EXPECT_FALSE(config_from({{"target_modules", "q_proj"}}).targets("model.layers.0.self_attn.q_proj"));
}

TEST(LoraConfigRules, LayersToTransformRestrictsByLayerIndex) {
  auto c = config_from({{"target_modules", {"q_proj", "lm_head"}}, {"layers_to_transform", {1}}});
  EXPECT_TRUE(c.targets("model.layers.1.self_attn.q_proj"));
  EXPECT_FALSE(c.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(c.targets("model.layers.11.self_attn.q_proj"));
  EXPECT_FALSE(c.targets("lm_head"));  // no layer index: PEFT leaves it alone when layers are listed
  auto single = config_from({{"target_modules", {"q_proj"}}, {"layers_to_transform", 0}});
  EXPECT_TRUE(single.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(single.targets("model.layers.1.self_attn.q_proj"));
}

TEST(LoraConfigRules, UnsupportedOrMalformedConfigsNameTheKey) {
  const json base = {{"r", 4}, {"target_modules", {"q_proj"}}};
  for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{{"use_dora", true},
                                                                            {"fan_in_fan_out", true},
                                                                            {"bias", "all"},
                                                                            {"lora_bias", true},
                                                                            {"modules_to_save", {"lm_head"}},
                                                                            {"peft_type", "IA3"}}) {
    auto j = base;
    j[key] = value;
    EXPECT_MSG(error_of([&] { config_from(j); }), key);
  }
  EXPECT_MSG(error_of([] { config_from({{"r", 4}}); }), "target_modules");
  EXPECT_MSG(error_of([] { config_from({{"r", 0}, {"target_modules", {"q_proj"}}}); }), "\"r\"");
  EXPECT_MSG(error_of([] { LoraConfig::from_json_text("{\"r\": 4,", "cfg.json"); }), "cfg.json");
}

// ---- on models ----------------------------------------------------------------------------------

TEST(LoraModel, FreshAdapterIsANoOpAndMergingIsExplicitAndExact) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  const auto snapshot = base_snapshot(model);
  auto ids = at::randint(0, 64, {2, 7}, at::make_generator<at::CPUGeneratorImpl>(5), at::kLong);
  const auto base_logits = forward(model, ids);

  LoraConfig config;
  config.r = 4;
  config.lora_alpha = 8;
  config.target_modules = kAllLinear;
  EXPECT_EQ(retain::add_lora_adapter(model, config, "task", 17), 2 * 7);
  // PEFT initialisation: A ~ U(−1/√in, 1/√in), B = 0, so the model is unchanged.
  for (auto& [module, linear] : model->linear_layers()) {
    auto lora = std::dynamic_pointer_cast<retain::LoraAdapterImpl>(linear->adapter("task"));
    if (module == "lm_head") {
      EXPECT_FALSE(lora);
      continue;
    }
    ASSERT_TRUE(lora) << module;
    EXPECT_LE(lora->lora_A.abs().max().item<double>(), 1.0 / std::sqrt(static_cast<double>(linear->in_features)));
    EXPECT_GT(lora->lora_A.abs().max().item<double>(), 0.0);
    EXPECT_EQ(lora->lora_B.abs().max().item<double>(), 0.0);
  }
  EXPECT_TRUE(forward(model, ids).equal(base_logits));

  randomise_b(model, "task", 23);
  const auto adapted = forward(model, ids);
  EXPECT_GT(relative_error(adapted, base_logits), 1e-3);
  expect_base_unchanged(model, snapshot);  // adapters live beside the weights until merged

  for (auto& [module, linear] : model->linear_layers()) linear->merge_adapters();
  EXPECT_EQ(adapter_count(model), 0);
  EXPECT_LT(relative_error(forward(model, ids), adapted), kFloat64);
}

TEST(LoraModel, AddAdapterHonoursLayersToTransform) {
  auto model = tiny_model();
  LoraConfig config;
  config.target_modules = {"q_proj", "v_proj"};
  config.layers_to_transform = {1};
  EXPECT_EQ(retain::add_lora_adapter(model, config, "late", 1), 2);
  for (auto& [module, linear] : model->linear_layers())
    EXPECT_EQ(static_cast<bool>(linear->adapter("late")),
              module == "model.layers.1.self_attn.q_proj" || module == "model.layers.1.self_attn.v_proj")
        << module;
  config.target_modules = {"nothing_like_this"};
  EXPECT_MSG(error_of([&] { retain::add_lora_adapter(model, config, "none", 1); }), "matched no layer");
}

}  // namespace
