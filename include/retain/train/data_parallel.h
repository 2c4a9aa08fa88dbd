// retain/train/data_parallel.h — one optimizer step's forward and backward passes on data-parallel
// ranks, and the gradient sum that makes every rank hold the single-process gradient.
//
// Every rank builds the same global step (train/trainer.h plan_task_steps) and takes, of each
// micro-batch, its contiguous share of the rows (dist/shard.h). Each share's loss is divided by the
// answer tokens of the WHOLE step, so the ranks' gradients sum to the gradient of the full batch;
// the method's extra loss is divided by the number of ranks that have rows in that micro-batch, so
// it too counts once. After backward the gradients of the trainable parameters are summed over the
// ranks in buckets of dist.bucket_mb, in the order trainable() gave them (the same on every rank); a
// parameter without a gradient on a rank contributes zeros, and is left without one when no rank
// had one (as in one process: AdamW then skips it). The reduction runs after the whole backward
// pass; launching buckets from autograd hooks, to overlap communication with backward, is not done
// yet (docs/distributed.md).
//
// dist.simulate_ranks = W in one process runs the W shares one after another and sums their
// gradients in rank order: for 2 ranks (fp32 sums of two numbers are the same either way) and
// grad_accum = 1 that is bitwise the 2-rank result.
#pragma once

#include "retain/train/method.h"
#include "retain/train/trainer.h"

#include <vector>

namespace retain {

/// How this process takes part: `world` shares per micro-batch, of which it computes `ranks`.
struct DataParallelPlan {
  int world = 1;
  std::vector<int> ranks = {0};
  bool simulated = false;  // one process computing every rank's share (dist.simulate_ranks)
  const DistContext* dist = nullptr;
};

/// The plan of a run's DistContext: its own rank of its world, or all of dist.simulate_ranks.
DataParallelPlan data_parallel_plan(const DistContext& dist);

/// A step's totals over all ranks (the same on each): sum of answer-token cross-entropies, the
/// method's extra loss, tokens (padding excluded) and answer tokens.
struct StepSums {
  double loss_sum = 0, extra = 0;
  int64_t tokens = 0, targets = 0;
};

/// Forward and backward of this process's shares of step `step_index` (`step`), then the gradients of
/// `params` summed over the ranks (world > 1). On return every rank's params hold the same .grad.
/// Before its shares, rank r seeds the default generators from (run seed, task, step_index, r), so
/// its dropout masks are the same whether it runs alone or simulated (a full batch draws others).
StepSums data_parallel_backward(Method& method, TaskContext& ctx, const DataParallelPlan& plan,
                                std::vector<at::Tensor>& params, const std::vector<TokenizedExample>& examples,
                                const PlannedStep& step, int64_t step_index, int64_t pad_token_id);

/// Throws, naming the ranks that differ, unless every rank trains the same number of parameters
/// with the same shapes (a hang or garbage sums otherwise).
void check_same_parameters(const DistContext& dist, const std::vector<at::Tensor>& params, const std::string& task);

/// Answer tokens of a batch: labels that carry loss after the shift (train/loss.h).
int64_t answer_tokens(const Batch& batch);

}  // namespace retain
