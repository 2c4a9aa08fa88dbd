// retain/model/causal_lm.h — the decoder-only LLaMA-family model (Llama 1/2/3, Mistral, Qwen2, Qwen3).
//
// Module tree and parameter names are Hugging Face's, so named_parameters() yields exactly the
// names of model.safetensors: model.embed_tokens.weight, model.layers.{i}.self_attn.{q,k,v,o}_proj.*,
// model.layers.{i}.self_attn.{q,k}_norm.weight (Qwen3), model.layers.{i}.mlp.{gate,up,down}_proj.*,
// model.layers.{i}.{input,post_attention}_layernorm.weight, model.norm.weight, lm_head.weight.
#pragma once

#include "retain/model/adapted_linear.h"
#include "retain/model/config.h"
#include "retain/model/kv_cache.h"
#include "retain/model/rope.h"

#include <torch/torch.h>

namespace retain {

/// RMSNorm as Hugging Face computes it: in float32 (or wider), scaled by `weight`.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& config, int64_t layer_index);
  /// x: (B, T, hidden); cos/sin: (B, T, head_dim); mask: additive (B, 1, T, T_total) or undefined
  /// with `causal` meaning plain causal attention; cache: this layer's slot or nullptr.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     bool causal, KVCache* cache);
  AdaptedLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  int64_t layer_index, num_heads, num_kv_heads, head_dim;
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const ModelConfig& config);
  at::Tensor forward(const at::Tensor& x);  // down(silu(gate(x)) * up(x))
  AdaptedLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& config, int64_t layer_index);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     bool causal, KVCache* cache);
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

/// Inputs of one forward pass.
struct ForwardInput {
  at::Tensor input_ids;       // (B, T) int64
  at::Tensor attention_mask;  // (B, T_past + T) of 0/1, or undefined = all ones
  at::Tensor position_ids;    // (B, T), or undefined = derived from the mask / the cache length
  KVCache* cache = nullptr;   // appended to when given
  at::Tensor route_mask = {};  // (B, T) 0/1: the prompt tokens a PromptRouter averages over, or
                               // undefined = attention_mask (rank scoring leaves out the answer tokens)
  /// Called after each decoder layer i with its input and output hidden states (B, T, hidden), for
  /// passes that read them (OSFT's layer importance); empty = not called.
  std::function<void(int64_t layer, const at::Tensor& before, const at::Tensor& after)> on_layer = {};
};

/// Routed inference (ASR, model/routed_lora.h): picks each sample's adapter from the hidden states
/// after the first layer() decoder layers of its prompt. When a router is set on the model, every
/// prefill forward (no cache, or an empty one) runs layers [0, layer()) once, calls route(), then
/// runs the remaining layers; decode steps keep the routes set in the prefill.
class PromptRouter {
 public:
  virtual ~PromptRouter() = default;
  /// Decoder layers before routing, in [0, num_hidden_layers).
  virtual int64_t layer() const = 0;
  /// hidden: (B, T, hidden) after layer() layers (no final norm); mask: (B, T) 0/1 of the tokens to
  /// route on. Sets every sample's adapter for the rest of the pass and the decode steps after it.
  virtual void route(const at::Tensor& hidden, const at::Tensor& mask) = 0;
};

class DecoderModelImpl : public torch::nn::Module {
 public:
  explicit DecoderModelImpl(const ModelConfig& config);
  /// Hidden states after layers [begin, end) — the final norm is applied only when end == n_layers.
  /// `hidden` replaces the embedding lookup when defined (to resume from an earlier layer's output).
  at::Tensor forward(const ForwardInput& input, int64_t begin = 0, int64_t end = -1, at::Tensor hidden = {});
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  std::vector<DecoderLayer> layer_list;
  RMSNorm norm{nullptr};
  RotaryEmbedding rotary{nullptr};
  ModelConfig config;
};
TORCH_MODULE(DecoderModel);

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(const ModelConfig& config);
  /// Logits (B, T, vocab) in the compute dtype. Routes the prefill when `router` is set.
  /// = logits(hidden_states(input)).
  at::Tensor forward(const ForwardInput& input);
  /// The final hidden states (B, T, hidden), after the final norm, routed as forward() routes: for
  /// taking logits at some positions only (rank scoring).
  at::Tensor hidden_states(const ForwardInput& input);
  /// Logits from final hidden states (B, …, hidden) (applies lm_head or the tied embedding).
  at::Tensor logits(const at::Tensor& hidden);
  /// Every AdaptedLinear with its HF module name ("model.layers.0.self_attn.q_proj", "lm_head").
  std::vector<std::pair<std::string, AdaptedLinear>> linear_layers();
  /// Merges every enabled adapter into its base weight and removes the adapters — an explicit export
  /// step only; nothing else ever merges. Returns the number of layers changed.
  int64_t merge_adapters();
  /// Parameters under their Hugging Face names (adapter parameters excluded).
  std::vector<std::pair<std::string, at::Tensor>> base_parameters();

  DecoderModel model{nullptr};
  AdaptedLinear lm_head{nullptr};  // null when tie_word_embeddings
  ModelConfig config;
  std::shared_ptr<PromptRouter> router;  // routed inference; null: a plain forward
};
TORCH_MODULE(CausalLM);

/// Random initialisation as transformers does it: normal(0, initializer_range) for linear and
/// embedding weights, ones for norms, zeros for biases. Seeded from `seed`.
void init_weights(CausalLM& model, uint64_t seed);

}  // namespace retain
