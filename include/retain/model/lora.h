// retain/model/lora.h — LoRA adapters and the PEFT adapter format.
//
// ΔW = scaling · B A with A (r × in), B (out × r); scaling = α / r, or α / √r with rsLoRA.
// The forward adds scaling · B(A(dropout(x))) to the base output; the base weight is untouched.
#pragma once

#include "retain/model/causal_lm.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace retain {

class LoraAdapterImpl : public LinearAdapterImpl {
 public:
  LoraAdapterImpl(int64_t in_features, int64_t out_features, int64_t rank, double scaling, double dropout);
  at::Tensor forward(const at::Tensor& x) override;
  at::Tensor delta_weight() const override;
  torch::Tensor lora_A;  // (r, in)
  torch::Tensor lora_B;  // (out, r)
  int64_t rank;
  double scaling;
  double dropout;
};
TORCH_MODULE(LoraAdapter);

/// The fields of PEFT's adapter_config.json that retain supports (others must be at their defaults).
struct LoraConfig {
  int64_t r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0.0;
  bool use_rslora = false;
  std::vector<std::string> target_modules;  // suffix match on module names
  std::optional<std::string> target_regex;  // when target_modules is a string: full match
  std::vector<std::pair<std::string, int64_t>> rank_pattern;  // in file order: the first match wins
  std::vector<std::pair<std::string, double>> alpha_pattern;
  std::vector<int64_t> layers_to_transform;  // empty = all layers

  /// Parses adapter_config.json text; unsupported PEFT features (DoRA, biases, fan_in_fan_out,
  /// modules_to_save, ...) are errors naming the key.
  static LoraConfig from_json_text(const std::string& text, const std::string& where);
  /// adapter_config.json text in PEFT's format (patterns kept in order).
  std::string to_json_text() const;
  /// Whether PEFT would wrap `module_name` (e.g. "model.layers.0.self_attn.q_proj").
  bool targets(const std::string& module_name) const;
  int64_t rank_for(const std::string& module_name) const;
  double alpha_for(const std::string& module_name) const;
  double scaling_for(const std::string& module_name) const;
};

/// Attaches a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) under
/// `name` to every targeted layer. Errors name the file and tensor for anything missing, misshaped
/// or left over. Returns the number of adapted layers.
int64_t load_peft_adapter(CausalLM& model, const std::filesystem::path& dir, const std::string& name = "default");

/// Attaches freshly initialised LoRA adapters (A Kaiming-uniform, B zero, as PEFT) to targeted layers.
int64_t add_lora_adapter(CausalLM& model, const LoraConfig& config, const std::string& name, uint64_t seed);

/// Writes `name`'s adapters of the model as a PEFT folder that peft's PeftModel.from_pretrained loads.
void save_peft_adapter(const std::filesystem::path& dir, CausalLM& model, const LoraConfig& config,
                       const std::string& name);

}  // namespace retain
