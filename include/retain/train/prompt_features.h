// retain/train/prompt_features.h — what a router reads from a prompt: the model's final norm of the
// hidden states after the first L layers, averaged over the prompt's tokens. ASR's RLS router and
// SETA's gate both route on these features (no adapter sits below L, so they never change).
#pragma once

#include "retain/data/batching.h"
#include "retain/data/task.h"
#include "retain/model/causal_lm.h"
#include "retain/train/method.h"

#include <cstdint>
#include <vector>

namespace retain {

/// L for a model of `n_layers` layers: min(feature_layers, n_layers / 2).
int64_t resolve_feature_layers(int64_t feature_layers, int64_t n_layers);

/// norm(hidden) averaged over the tokens where mask (B, T) is 1, for hidden states (B, T, d):
/// (B, d) float32.
at::Tensor pool_features(RMSNorm& norm, const at::Tensor& hidden, const at::Tensor& mask);
/// pool_features with the model's final norm.
at::Tensor pooled_features(CausalLM& model, const at::Tensor& hidden, const at::Tensor& mask);

/// pooled_features of each prompt (token ids) after the first `layers` layers, batched by
/// `batch_size` (longest first); (N, d) float32 on the model's device. No gradient.
at::Tensor prompt_features(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts, int64_t layers,
                           int64_t batch_size);
/// The same over data-parallel ranks: the batches one process would make are shared out whole
/// (dist/shard.h) and the rows gathered back in prompt order, so every rank returns all N rows,
/// bitwise as one process computes them.
at::Tensor prompt_features(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts, int64_t layers,
                           int64_t batch_size, const DistContext& dist);

/// The prompt part of each tokenized example.
std::vector<std::vector<int64_t>> prompts_of(const std::vector<TokenizedExample>& examples);
/// The generation prompts of a task's test split, tokenized as the evaluator does.
std::vector<std::vector<int64_t>> test_prompts(const RunContext& run, const Task& task);

/// A PromptRouter (model/causal_lm.h) that pools the prompt after `layer` layers with `norm` and
/// hands the features to `route_features`, which sets the routes of the method's adapters.
class PooledPromptRouter : public PromptRouter {
 public:
  PooledPromptRouter(RMSNorm norm, int64_t layer, std::function<void(const at::Tensor& features)> route_features)
      : norm_(std::move(norm)), layer_(layer), route_features_(std::move(route_features)) {}
  int64_t layer() const override { return layer_; }
  void route(const at::Tensor& hidden, const at::Tensor& mask) override {
    route_features_(pool_features(norm_, hidden, mask));
  }

 private:
  RMSNorm norm_;
  int64_t layer_;
  std::function<void(const at::Tensor&)> route_features_;
};

}  // namespace retain
