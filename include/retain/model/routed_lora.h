// retain/model/routed_lora.h — many LoRA adapters in one batched pass, each sample with its own.
//
// A RoutedLora holds N adapters of one linear layer stacked, A: (N, r, in) and B: (N, out, r) with
// the scaling folded into B, and a route per sample of the batch (−1 = no adapter: the base layer).
// set_routes() gathers each sample's A and B once (not per token); the forward then adds, for input
// x (B, T, in) and the layer's base output y (B, T, out),
//
//     y_b += (x_b A_{route_b}ᵀ) B_{route_b}ᵀ        two batched matrix products, the second in place
//
// — no per-sample loop, no merging. Adapters of different ranks are zero-padded to the largest
// (exact). Inference only: the stacked tensors are copies, not parameters, and receive no gradient.
//
// A model routes with set_routes(model, routes) for the whole batch, or through a PromptRouter
// (causal_lm.h) that sets them in the prefill. generate() never reorders or drops rows, so the
// routes stay aligned with the samples for every new token.
#pragma once

#include "retain/model/causal_lm.h"

#include <string>
#include <vector>

namespace retain {

class RoutedLoraImpl : public LinearAdapterImpl {
 public:
  /// A: (N, r, in), B: (N, out, r) with scaling folded in; same dtype and device.
  RoutedLoraImpl(const at::Tensor& A, const at::Tensor& B);
  /// Replaces the stacked adapters (N may change); clears the routes.
  void set_adapters(const at::Tensor& A, const at::Tensor& B);
  /// routes: (B,) integers in [−1, N); −1 = no adapter. Gathers each sample's A and B.
  void set_routes(const at::Tensor& routes);
  /// No routes: the adapter adds nothing.
  void clear_routes();
  bool has_routes() const { return a_sel_.defined(); }
  int64_t num_adapters() const { return num_adapters_; }
  int64_t rank() const { return rank_; }

  /// The routed delta (B, T, out) for x (B, T, in) (or (B, in)); zeros when no routes are set.
  at::Tensor forward(const at::Tensor& x) override;
  /// y + delta, added into y in place when autograd is off.
  at::Tensor add_to(at::Tensor y, const at::Tensor& x) override;
  /// Not defined (one ΔW per sample): an error, so that nothing merges a routed adapter.
  at::Tensor delta_weight() const override;

 private:
  at::Tensor x3(const at::Tensor& x) const;  // x as (B, T, in), checked against the routes
  int64_t num_adapters_ = 0, rank_ = 0, in_ = 0, out_ = 0;
  at::Tensor a_t_;    // (N + 1, in, r): Aᵀ of each adapter, then a zero slot for route −1
  at::Tensor b_t_;    // (N + 1, r, out): Bᵀ (scaled), then zeros
  at::Tensor a_sel_;  // (B, in, r) for the current routes
  at::Tensor b_sel_;  // (B, r, out)
};
TORCH_MODULE(RoutedLora);

/// Attaches (or, when present, refreshes) under `name` a RoutedLora in every layer that has at
/// least one of the LoRA adapters `lora_names`; adapter index i stacks lora_names[i] (zeros where a
/// layer lacks it, scaling folded in). Returns the number of layers. The LoRA adapters are left as
/// they are (disable them, or they are applied to every sample on top).
int64_t add_routed_lora(CausalLM& model, const std::vector<std::string>& lora_names, const std::string& name);

/// As add_routed_lora, but adapter i is the sum of the LoRA adapters groups[i], stacked along the
/// rank: Σ_j s_j B_j A_j = [s_0 B_0 | s_1 B_1 | …] [A_0; A_1; …] (exact, rank Σ_j r_j; a LoRA a
/// layer lacks adds nothing). So a route can carry several adapters summed, as inclora's inference
/// does with every task's adapter.
int64_t add_routed_lora_sums(CausalLM& model, const std::vector<std::vector<std::string>>& groups,
                             const std::string& name);

/// For benchmarks and tests: a RoutedLora `name` of `adapters` random LoRAs of rank `rank` (A and B
/// uniform in ±1/√in and ±1/√r, scaling 1) on every layer whose name ends with one of
/// `target_modules` ("q_proj", ..., the 7 linear layers of a decoder block). Returns the layers.
int64_t add_random_routed_lora(CausalLM& model, int64_t adapters, int64_t rank,
                               const std::vector<std::string>& target_modules, uint64_t seed,
                               const std::string& name = "routed");

/// Sets the routes (B,) of every RoutedLora of the model (see RoutedLoraImpl::set_routes).
void set_routes(CausalLM& model, const at::Tensor& routes);
/// Clears them (the model is the base model plus any other enabled adapters).
void clear_routes(CausalLM& model);
/// Every RoutedLora of the model named `name` ("" = any name).
std::vector<std::shared_ptr<RoutedLoraImpl>> routed_adapters(CausalLM& model, const std::string& name = "");

}  // namespace retain
