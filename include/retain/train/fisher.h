// retain/train/fisher.h — the diagonal empirical Fisher, F(θ) = mean over examples of (∇_θ L)², one
// example at a time (Kirkpatrick et al. 2017 as TRACE computes it). EWC's penalty weights and SETA's
// per-entry importance both come from here.
#pragma once

#include "retain/data/batching.h"
#include "retain/dist/process_group.h"
#include "retain/model/causal_lm.h"

#include <vector>

namespace retain {

struct FisherOptions {
  at::Device device = at::kCPU;
  bool autocast_bf16 = false;  // the forward passes under bf16 autocast (CUDA only)
  /// Accumulate in float64 for float64 parameters (EWC: F lives in the parameter's precision); else
  /// always float32.
  bool float64_for_float64 = false;
  /// Data parallel: each rank takes its contiguous share of `rows` (dist/shard.h) and the sums of
  /// squares and the count of examples used are all-reduced before the mean, so every rank returns
  /// the same Fisher (up to float summation order, the single-process one). Null: this process alone.
  const DistContext* dist = nullptr;
};

/// For each of `params`: the mean over examples[rows], each its own batch, of the squared gradient
/// of its answer-token loss (train/batch_forward.h answer_loss). Examples that truncation left
/// without an answer token are skipped and not counted; all zeros when none is left. Only `params`
/// are differentiated (their requires_grad flags are restored afterwards); the model's train/eval
/// mode is the caller's.
std::vector<at::Tensor> diagonal_fisher(CausalLM& model, const std::vector<at::Tensor>& params,
                                        const std::vector<TokenizedExample>& examples,
                                        const std::vector<int64_t>& rows, const FisherOptions& options);

}  // namespace retain
