// LoRA adapters: the forward pass and ΔW against their closed forms, merging as an explicit export,
// PEFT's config semantics (rsLoRA, rank/alpha patterns, target_modules, layers_to_transform), the
// PEFT folder round trip and strict loading of bad adapter folders.
//
// Oracles: y = x Wᵀ + b + s·x Aᵀ Bᵀ and ΔW = s·B A computed here with plain matmuls; the unmerged
// model is the reference for the merged one; PEFT's documented matching rules (a pattern key
// matches a module when the module name fullmatches `(.*\.)?(key)`, the first key in file order
// wins; a target_modules list matches by name suffix at a dot, a string by regex fullmatch); the
// ranks and scalings PEFT chose for the committed lora_patterns fixture (its tensors' shapes).
//
// Tolerances: float64 throughout; the closed forms reassociate a few sums of ≤ 96 products
// (~1e-15 relative), merged vs unmerged adds ΔW into W before instead of after the matmul (same
// order of error through 2 layers), so 1e-12.
//
// The checks are plain functions grouped into one gtest case per topic (`Suite.Checks`, each check
// named by SCOPED_TRACE when it fails): CTest runs every case in its own process and loading libtorch
// costs ~0.5 s, which would otherwise dominate the suite. Checks that currently fail on library bugs
// are separate cases.
#include "model_test_util.h"
#include "retain/core/files.h"
#include "retain/io/safetensors.h"
#include "retain/model/loader.h"
#include "retain/model/lora.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace {

using retain::json;
using retain::LoraConfig;
using retain::testing::error_of;
using retain::testing::fixtures;
using retain::testing::relative_error;
using retain::testing::temp_dir;
namespace fs = std::filesystem;

using retain::testing::contains;
using retain::testing::forward;

constexpr double kFloat64 = 1e-12;

// ---- the adapter alone --------------------------------------------------------------------------

void LoraAdapter_ForwardAndDeltaWeightAreTheClosedForm() {
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

void LoraConfigRules_ScalingIsAlphaOverRankOrOverItsRootWithRsLora() {
  auto c = config_from({{"r", 4}, {"lora_alpha", 8}, {"target_modules", {"q_proj"}}});
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 8.0 / 4);
  c = config_from({{"r", 4}, {"lora_alpha", 8}, {"use_rslora", true}, {"target_modules", {"q_proj"}}});
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 8.0 / std::sqrt(4.0));
  c = config_from({{"r", 8}, {"lora_alpha", 16}, {"use_rslora", true}, {"target_modules", {"q_proj"}}});
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 16.0 / std::sqrt(8.0));
}

void LoraConfigRules_PatternKeysMatchAtADotAndTheFirstMatchWins() {
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

void LoraConfigRules_TargetModulesListIsASuffixMatchAndAStringAFullRegexMatch() {
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

void LoraConfigRules_LayersToTransformRestrictsByLayerIndex() {
  auto c = config_from({{"target_modules", {"q_proj", "lm_head"}}, {"layers_to_transform", {1}}});
  EXPECT_TRUE(c.targets("model.layers.1.self_attn.q_proj"));
  EXPECT_FALSE(c.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(c.targets("model.layers.11.self_attn.q_proj"));
  EXPECT_FALSE(c.targets("lm_head"));  // no layer index: PEFT leaves it alone when layers are listed
  auto single = config_from({{"target_modules", {"q_proj"}}, {"layers_to_transform", 0}});
  EXPECT_TRUE(single.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(single.targets("model.layers.1.self_attn.q_proj"));
}

void LoraConfigRules_UnsupportedOrMalformedConfigsNameTheKey() {
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

json tiny_json() {
  return {{"model_type", "llama"},    {"vocab_size", 64},       {"hidden_size", 32},
          {"intermediate_size", 48},  {"num_hidden_layers", 2}, {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-6},   {"max_position_embeddings", 128},
          {"initializer_range", 0.3}};
}

retain::CausalLM tiny_model(uint64_t seed = 1) {
  retain::CausalLM model(retain::ModelConfig::from_json(tiny_json(), "tiny"));
  retain::init_weights(model, seed);
  model->to(at::kDouble);
  model->eval();
  return model;
}

std::map<std::string, at::Tensor> base_snapshot(retain::CausalLM& model) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, p] : model->base_parameters()) out[name] = p.detach().clone();
  return out;
}

void expect_base_unchanged(retain::CausalLM& model, const std::map<std::string, at::Tensor>& snapshot) {
  auto now = model->base_parameters();
  ASSERT_EQ(now.size(), snapshot.size());
  for (auto& [name, p] : now) EXPECT_TRUE(p.equal(snapshot.at(name))) << name << " changed";
}

// Random B for every LoRA named `name` (PEFT initialises B = 0, which would make every check trivial).
void randomise_b(retain::CausalLM& model, const std::string& name, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& [module, linear] : model->linear_layers())
    if (auto lora = std::dynamic_pointer_cast<retain::LoraAdapterImpl>(linear->adapter(name)))
      lora->lora_B.copy_(at::randn(lora->lora_B.sizes(), gen, at::kDouble) * 0.5);
}

int64_t adapter_count(retain::CausalLM& model) {
  int64_t n = 0;
  for (auto& [module, linear] : model->linear_layers()) n += static_cast<int64_t>(linear->adapters().size());
  return n;
}

const std::vector<std::string> kAllLinear = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};

void LoraModel_FreshAdapterIsANoOpAndMergingIsExplicitAndExact() {
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

void LoraModel_AddAdapterHonoursLayersToTransform() {
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

void LoraModel_SaveThenLoadGivesIdenticalOutputs() {
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  LoraConfig config;
  config.r = 4;
  config.lora_alpha = 16;
  config.use_rslora = true;
  config.target_modules = kAllLinear;
  config.rank_pattern = {{"down_proj", 6}};
  config.alpha_pattern = {{"layers.1.mlp.up_proj", 3}};
  retain::add_lora_adapter(model, config, "task", 3);
  randomise_b(model, "task", 4);
  auto ids = at::randint(0, 64, {2, 6}, at::make_generator<at::CPUGeneratorImpl>(8), at::kLong);
  const auto expected = forward(model, ids);

  const auto dir = temp_dir("lora_rt") / "adapter";
  retain::save_peft_adapter(dir, model, config, "task");
  auto fresh = tiny_model();
  const auto snapshot = base_snapshot(fresh);
  EXPECT_EQ(retain::load_peft_adapter(fresh, dir, "task"), 2 * 7);
  expect_base_unchanged(fresh, snapshot);
  // Same base, same A and B (stored as F64), same ranks and scalings: the same computation.
  EXPECT_LT(relative_error(forward(fresh, ids), expected), 1e-15);
  for (auto& [module, linear] : fresh->linear_layers()) {
    auto lora = std::dynamic_pointer_cast<retain::LoraAdapterImpl>(linear->adapter("task"));
    if (!lora) continue;
    EXPECT_EQ(lora->rank, config.rank_for(module)) << module;
    EXPECT_DOUBLE_EQ(lora->scaling, config.scaling_for(module)) << module;
  }
  const auto saved = LoraConfig::from_json_text(retain::read_file(dir / "adapter_config.json"), "saved");
  EXPECT_EQ(saved.rank_for("model.layers.0.mlp.down_proj"), 6);
  EXPECT_DOUBLE_EQ(saved.alpha_for("model.layers.1.mlp.up_proj"), 3.0);
  EXPECT_TRUE(saved.use_rslora);
}

TEST(LoraModel, SaveThenLoadKeepsTheOrderOfPatterns) {
  // PEFT takes the first matching pattern in file order, so saving must keep the order. Here
  // "q_proj" (first) gives every q_proj rank 2, although "layers.0.self_attn.q_proj" also matches
  // layer 0; written in sorted key order, layer 0 would come back as rank 3.
  auto model = tiny_model();
  LoraConfig config;
  config.r = 4;
  config.target_modules = {"q_proj"};
  config.rank_pattern = {{"q_proj", 2}, {"layers.0.self_attn.q_proj", 3}};
  config.alpha_pattern = {{"q_proj", 4}, {"layers.0.self_attn.q_proj", 9}};
  ASSERT_EQ(config.rank_for("model.layers.0.self_attn.q_proj"), 2);
  retain::add_lora_adapter(model, config, "task", 3);
  const auto dir = temp_dir("lora_rt") / "ordered";
  retain::save_peft_adapter(dir, model, config, "task");
  const auto saved = LoraConfig::from_json_text(retain::read_file(dir / "adapter_config.json"), "saved");
  EXPECT_EQ(saved.rank_for("model.layers.0.self_attn.q_proj"), 2);
  EXPECT_DOUBLE_EQ(saved.alpha_for("model.layers.0.self_attn.q_proj"), 4.0);
  auto fresh = tiny_model();
  EXPECT_EQ(error_of([&] { retain::load_peft_adapter(fresh, dir, "task"); }), "");
}

// ---- PEFT fixtures ------------------------------------------------------------------------------

void LoraFixture_LoadingNeverChangesTheBaseWeights() {
  torch::NoGradGuard no_grad;
  auto model = retain::load_model(fixtures() / "models" / "llama_gqa");
  const auto snapshot = base_snapshot(model);
  auto ids = at::arange(1, 12, at::kLong).view({1, -1});
  const auto base = forward(model, ids);
  EXPECT_EQ(retain::load_peft_adapter(model, fixtures() / "adapters" / "lora_qv"), 4);  // q, v × 2 layers
  expect_base_unchanged(model, snapshot);
  EXPECT_GT(relative_error(forward(model, ids), base), 1e-4) << "the adapter (init_lora_weights false) must act";
  expect_base_unchanged(model, snapshot);
}

void LoraFixture_RanksAndScalingsFollowRsLoraAndPatterns() {
  // lora_patterns: r 4, alpha 16, use_rslora, rank_pattern {down_proj: 6, layers.1.self_attn.q_proj: 2},
  // alpha_pattern {layers.0.mlp.up_proj: 3}. Scaling = alpha / √rank.
  auto model = retain::load_model(fixtures() / "models" / "llama_gqa");
  EXPECT_EQ(retain::load_peft_adapter(model, fixtures() / "adapters" / "lora_patterns"), 2 * 7);
  for (auto& [module, linear] : model->linear_layers()) {
    SCOPED_TRACE(module);
    auto lora = std::dynamic_pointer_cast<retain::LoraAdapterImpl>(linear->adapter("default"));
    if (module == "lm_head") {
      EXPECT_FALSE(lora);
      continue;
    }
    ASSERT_TRUE(lora);
    int64_t rank = 4;
    double alpha = 16;
    if (contains(module, "down_proj")) rank = 6;
    if (module == "model.layers.1.self_attn.q_proj") rank = 2;
    if (module == "model.layers.0.mlp.up_proj") alpha = 3;
    EXPECT_EQ(lora->rank, rank);
    EXPECT_DOUBLE_EQ(lora->scaling, alpha / std::sqrt(static_cast<double>(rank)));
  }
}

// ---- bad adapter folders ------------------------------------------------------------------------

class BadAdapter : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = temp_dir("lora_bad") / "adapter";
    fs::copy(fixtures() / "adapters" / "lora_qv", dir, fs::copy_options::recursive);
    weights = dir / "adapter_model.safetensors";
    const auto file = retain::safetensors::File::open(weights);
    for (const auto& t : file.tensors()) tensors.emplace_back(t.name, file.tensor(t.name).clone());
    config = json::parse(retain::read_file(dir / "adapter_config.json"));
    model = retain::load_model(fixtures() / "models" / "llama_gqa");
  }
  std::string load_error() {
    retain::safetensors::save(weights, tensors);
    std::ofstream(dir / "adapter_config.json") << config.dump(2);
    return error_of([&] { retain::load_peft_adapter(model, dir); });
  }
  at::Tensor& tensor(const std::string& name) {
    for (auto& [n, t] : tensors)
      if (n == name) return t;
    throw std::runtime_error("test: no tensor " + name);
  }
  fs::path dir, weights;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  json config;
  retain::CausalLM model{nullptr};
};

const std::string kB0 = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
const std::string kA1v = "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight";

struct BadAdapter_IntactCopyLoads : BadAdapter {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() { EXPECT_EQ(load_error(), ""); }();
  }
};

struct BadAdapter_MissingAdapterConfig : BadAdapter {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      fs::remove(dir / "adapter_config.json");
      const auto msg = error_of([&] { retain::load_peft_adapter(model, dir); });
      EXPECT_MSG(msg, "adapter_config.json");
      EXPECT_MSG(msg, dir.string());
    }();
  }
};

struct BadAdapter_DoraIsRefused : BadAdapter {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      config["use_dora"] = true;
      EXPECT_MSG(load_error(), "use_dora");
    }();
  }
};

struct BadAdapter_MissingLoraBIsNamed : BadAdapter {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [](const auto& t) { return t.first == kB0; }),
                    tensors.end());
      const auto msg = load_error();
      EXPECT_MSG(msg, "'" + kB0 + "'");
      EXPECT_MSG(msg, "missing");
      EXPECT_MSG(msg, weights.string());
    }();
  }
};

struct BadAdapter_MisshapedLoraAIsNamedWithBothShapes : BadAdapter {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      tensor(kA1v) = at::zeros({3, 64});
      const auto msg = load_error();
      EXPECT_MSG(msg, "'" + kA1v + "'");
      EXPECT_MSG(msg, "[3, 64]");
      EXPECT_MSG(msg, "[4, 64]");
    }();
  }
};

struct BadAdapter_ExtraTensorIsNamed : BadAdapter {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      const std::string extra =
          "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight";  // k_proj is not targeted
      tensors.emplace_back(extra, at::zeros({4, 64}));
      const auto msg = load_error();
      EXPECT_MSG(msg, "'" + extra + "'");
      EXPECT_MSG(msg, "unexpected");
    }();
  }
};

struct BadAdapter_TargetModulesMatchingNothing : BadAdapter {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      config["target_modules"] = {"c_attn"};
      const auto msg = load_error();
      EXPECT_MSG(msg, "matched no layer");
      EXPECT_MSG(msg, "adapter_config.json");
    }();
  }
};

struct BadAdapter_PickleOnlyFolderSaysWhy : BadAdapter {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      fs::rename(weights, dir / "adapter_model.bin");
      const auto msg = error_of([&] { retain::load_peft_adapter(model, dir); });
      EXPECT_MSG(msg, "adapter_model.safetensors");
      EXPECT_MSG(msg, "pickle");
    }();
  }
};

TEST_F(BadAdapter, FailedLoadLeavesTheModelWithoutAdapters) {
  // Strict loading is all or nothing: after an error the model must be as before, so that fixing
  // the folder and loading again works (and a half-adapted model is never used by mistake).
  tensors.emplace_back("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", at::zeros({4, 64}));
  ASSERT_NE(load_error(), "");
  EXPECT_EQ(adapter_count(model), 0);
  tensors.pop_back();
  EXPECT_EQ(load_error(), "") << "loading the corrected folder into the same model";
}

TEST(LoraAdapter, Checks) {
  {
    SCOPED_TRACE("ForwardAndDeltaWeightAreTheClosedForm");
    LoraAdapter_ForwardAndDeltaWeightAreTheClosedForm();
  }
}

TEST(LoraConfigRules, Checks) {
  {
    SCOPED_TRACE("ScalingIsAlphaOverRankOrOverItsRootWithRsLora");
    LoraConfigRules_ScalingIsAlphaOverRankOrOverItsRootWithRsLora();
  }
  {
    SCOPED_TRACE("PatternKeysMatchAtADotAndTheFirstMatchWins");
    LoraConfigRules_PatternKeysMatchAtADotAndTheFirstMatchWins();
  }
  {
    SCOPED_TRACE("TargetModulesListIsASuffixMatchAndAStringAFullRegexMatch");
    LoraConfigRules_TargetModulesListIsASuffixMatchAndAStringAFullRegexMatch();
  }
  {
    SCOPED_TRACE("LayersToTransformRestrictsByLayerIndex");
    LoraConfigRules_LayersToTransformRestrictsByLayerIndex();
  }
  {
    SCOPED_TRACE("UnsupportedOrMalformedConfigsNameTheKey");
    LoraConfigRules_UnsupportedOrMalformedConfigsNameTheKey();
  }
}

TEST(LoraModel, Checks) {
  {
    SCOPED_TRACE("FreshAdapterIsANoOpAndMergingIsExplicitAndExact");
    LoraModel_FreshAdapterIsANoOpAndMergingIsExplicitAndExact();
  }
  {
    SCOPED_TRACE("AddAdapterHonoursLayersToTransform");
    LoraModel_AddAdapterHonoursLayersToTransform();
  }
  {
    SCOPED_TRACE("SaveThenLoadGivesIdenticalOutputs");
    LoraModel_SaveThenLoadGivesIdenticalOutputs();
  }
}

TEST(LoraFixture, Checks) {
  {
    SCOPED_TRACE("LoadingNeverChangesTheBaseWeights");
    LoraFixture_LoadingNeverChangesTheBaseWeights();
  }
  {
    SCOPED_TRACE("RanksAndScalingsFollowRsLoraAndPatterns");
    LoraFixture_RanksAndScalingsFollowRsLoraAndPatterns();
  }
}

TEST(BadAdapterFolders, Checks) {
  {
    SCOPED_TRACE("IntactCopyLoads");
    BadAdapter_IntactCopyLoads t;
    t.check();
  }
  {
    SCOPED_TRACE("MissingAdapterConfig");
    BadAdapter_MissingAdapterConfig t;
    t.check();
  }
  {
    SCOPED_TRACE("DoraIsRefused");
    BadAdapter_DoraIsRefused t;
    t.check();
  }
  {
    SCOPED_TRACE("MissingLoraBIsNamed");
    BadAdapter_MissingLoraBIsNamed t;
    t.check();
  }
  {
    SCOPED_TRACE("MisshapedLoraAIsNamedWithBothShapes");
    BadAdapter_MisshapedLoraAIsNamedWithBothShapes t;
    t.check();
  }
  {
    SCOPED_TRACE("ExtraTensorIsNamed");
    BadAdapter_ExtraTensorIsNamed t;
    t.check();
  }
  {
    SCOPED_TRACE("TargetModulesMatchingNothing");
    BadAdapter_TargetModulesMatchingNothing t;
    t.check();
  }
  {
    SCOPED_TRACE("PickleOnlyFolderSaysWhy");
    BadAdapter_PickleOnlyFolderSaysWhy t;
    t.check();
  }
}

}  // namespace
