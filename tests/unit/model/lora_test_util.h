// Shared by the LoRA and PEFT adapter tests: a tiny random float64 Llama (initializer_range 0.3, so
// that an adapter's effect shows), base-weight snapshots and adapters with random B.
#pragma once

#include "model_test_util.h"
#include "retain/model/lora.h"

#include <map>
#include <string>
#include <vector>

namespace retain::testing {

/// float64 throughout; the closed forms reassociate a few sums of ≤ 96 products (~1e-15 relative),
/// merged vs unmerged adds ΔW into W before instead of after the matmul (same order of error through
/// 2 layers), so 1e-12.
constexpr double kFloat64 = 1e-12;

inline json tiny_lora_json() {
  return {{"model_type", "llama"},    {"vocab_size", 64},       {"hidden_size", 32},
          {"intermediate_size", 48},  {"num_hidden_layers", 2}, {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-6},   {"max_position_embeddings", 128},
          {"initializer_range", 0.3}};
}

inline retain::CausalLM tiny_model(uint64_t seed = 1) {
  retain::CausalLM model(retain::ModelConfig::from_json(tiny_lora_json(), "tiny"));
  retain::init_weights(model, seed);
  model->to(at::kDouble);
  model->eval();
  return model;
}

inline std::map<std::string, at::Tensor> base_snapshot(retain::CausalLM& model) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, p] : model->base_parameters()) out[name] = p.detach().clone();
  return out;
}

inline void expect_base_unchanged(retain::CausalLM& model, const std::map<std::string, at::Tensor>& snapshot) {
  auto now = model->base_parameters();
  ASSERT_EQ(now.size(), snapshot.size());
  for (auto& [name, p] : now) EXPECT_TRUE(p.equal(snapshot.at(name))) << name << " changed";
}

// Random B for every LoRA named `name` (PEFT initialises B = 0, which would make every check trivial).
inline void randomise_b(retain::CausalLM& model, const std::string& name, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& [module, linear] : model->linear_layers())
    if (auto lora = std::dynamic_pointer_cast<retain::LoraAdapterImpl>(linear->adapter(name)))
      lora->lora_B.copy_(at::randn(lora->lora_B.sizes(), gen, at::kDouble) * 0.5);
}

inline int64_t adapter_count(retain::CausalLM& model) {
  int64_t n = 0;
  for (auto& [module, linear] : model->linear_layers()) n += static_cast<int64_t>(linear->adapters().size());
  return n;
}

inline const std::vector<std::string> kAllLinear = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                    "gate_proj", "up_proj", "down_proj"};

}  // namespace retain::testing
