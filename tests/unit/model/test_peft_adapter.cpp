// PEFT adapter folders: the save/load round trip, the committed PEFT fixtures, and strict loading of
// bad adapter folders.
//
// Oracles: a saved-then-loaded adapter gives the same computation (same base, A and B stored as
// F64, same ranks and scalings: 1e-15); the ranks and scalings PEFT chose for the committed
// lora_patterns fixture (its tensors' shapes); loading never touches the base weights. Bad folders
// must be a retain::Error naming the file, key or tensor, and leave the model without adapters.
#include "lora_test_util.h"
#include "retain/core/files.h"
#include "retain/io/safetensors.h"
#include "retain/model/loader.h"
#include "retain/model/lora.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace {

using namespace retain::testing;
using retain::json;
using retain::LoraConfig;

// ---- the PEFT folder round trip -----------------------------------------------------------------

TEST(PeftRoundTrip, SaveThenLoadGivesIdenticalOutputs) {
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

TEST(PeftRoundTrip, SaveThenLoadKeepsTheOrderOfPatterns) {
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

TEST(LoraFixture, LoadingNeverChangesTheBaseWeights) {
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

TEST(LoraFixture, RanksAndScalingsFollowRsLoraAndPatterns) {
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
    if (module.find("down_proj") != std::string::npos) rank = 6;
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

TEST_F(BadAdapter, IntactCopyLoads) { EXPECT_EQ(load_error(), ""); }

TEST_F(BadAdapter, MissingAdapterConfig) {
  fs::remove(dir / "adapter_config.json");
  const auto msg = error_of([&] { retain::load_peft_adapter(model, dir); });
  EXPECT_MSG(msg, "adapter_config.json");
  EXPECT_MSG(msg, dir.string());
}

TEST_F(BadAdapter, DoraIsRefused) {
  config["use_dora"] = true;
  EXPECT_MSG(load_error(), "use_dora");
}

TEST_F(BadAdapter, MissingLoraBIsNamed) {
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [](const auto& t) { return t.first == kB0; }),
                tensors.end());
  const auto msg = load_error();
  EXPECT_MSG(msg, "'" + kB0 + "'");
  EXPECT_MSG(msg, "missing");
  EXPECT_MSG(msg, weights.string());
}

TEST_F(BadAdapter, MisshapedLoraAIsNamedWithBothShapes) {
  tensor(kA1v) = at::zeros({3, 64});
  const auto msg = load_error();
  EXPECT_MSG(msg, "'" + kA1v + "'");
  EXPECT_MSG(msg, "[3, 64]");
  EXPECT_MSG(msg, "[4, 64]");
}

TEST_F(BadAdapter, ExtraTensorIsNamed) {
  const std::string extra = "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight";  // k_proj is not targeted
  tensors.emplace_back(extra, at::zeros({4, 64}));
  const auto msg = load_error();
  EXPECT_MSG(msg, "'" + extra + "'");
  EXPECT_MSG(msg, "unexpected");
}

TEST_F(BadAdapter, TargetModulesMatchingNothing) {
  config["target_modules"] = {"c_attn"};
  const auto msg = load_error();
  EXPECT_MSG(msg, "matched no layer");
  EXPECT_MSG(msg, "adapter_config.json");
}

TEST_F(BadAdapter, PickleOnlyFolderSaysWhy) {
  fs::rename(weights, dir / "adapter_model.bin");
  const auto msg = error_of([&] { retain::load_peft_adapter(model, dir); });
  EXPECT_MSG(msg, "adapter_model.safetensors");
  EXPECT_MSG(msg, "pickle");
}

TEST_F(BadAdapter, FailedLoadLeavesTheModelWithoutAdapters) {
  // Strict loading is all or nothing: after an error the model must be as before, so that fixing
  // the folder and loading again works (and a half-adapted model is never used by mistake).
  tensors.emplace_back("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", at::zeros({4, 64}));
  ASSERT_NE(load_error(), "");
  EXPECT_EQ(adapter_count(model), 0);
  tensors.pop_back();
  EXPECT_EQ(load_error(), "") << "loading the corrected folder into the same model";
}

}  // namespace
