#include "retain/train/data_parallel.h"

#include "retain/core/error.h"
#include "retain/core/torch_compat.h"
#include "retain/dist/bucketed_all_reduce.h"
#include "retain/dist/shard.h"
#include "retain/train/loss.h"

#include <torch/torch.h>

namespace retain {

DataParallelPlan data_parallel_plan(const DistContext& dist) {
  DataParallelPlan plan;
  plan.dist = &dist;
  if (dist.distributed()) {
    plan.world = dist.world_size();
    plan.ranks = {dist.rank()};
  } else if (dist.settings().simulate_ranks > 1) {
    plan.world = static_cast<int>(dist.settings().simulate_ranks);
    plan.simulated = true;
    plan.ranks.clear();
    for (int r = 0; r < plan.world; ++r) plan.ranks.push_back(r);
  }
  return plan;
}

int64_t answer_tokens(const Batch& batch) {
  return batch.labels.narrow(1, 1, batch.labels.size(1) - 1).ne(kIgnoreIndex).sum().item<int64_t>();
}

StepSums data_parallel_backward(Method& method, TaskContext& ctx, const DataParallelPlan& plan,
                                std::vector<at::Tensor>& params, const std::vector<TokenizedExample>& examples,
                                const PlannedStep& step, int64_t step_index, int64_t pad_token_id) {
  StepSums sums;
  for (const auto& rows : step.micro_batches) {  // the global counts: every rank sees the whole step
    const Batch whole = collate(examples, rows, pad_token_id);
    sums.targets += answer_tokens(whole);
    sums.tokens += whole.attention_mask.sum().item<int64_t>();
  }
  const double micro = static_cast<double>(step.micro_batches.size());
  double loss_sum = 0, extra_sum = 0;
  std::vector<std::vector<at::Tensor>> stash;  // simulated: each rank's gradients, in rank order
  for (const int rank : plan.ranks) {
    torch::manual_seed(((ctx.run.seed * 1000003ull + static_cast<uint64_t>(ctx.task_index)) * 1000003ull +
                        static_cast<uint64_t>(step_index)) * 1009ull + static_cast<uint64_t>(rank) + 0xD1);
    for (const auto& rows : step.micro_batches) {
      const std::vector<int64_t> share = shard_of(rows, rank, plan.world);
      if (share.empty()) continue;  // fewer rows than ranks: this rank sits the micro-batch out
      const auto active = static_cast<double>(std::min<int64_t>(plan.world, static_cast<int64_t>(rows.size())));
      const Batch batch = collate(examples, share, pad_token_id);
      compat::AutocastGuard autocast(ctx.run.autocast_bf16 && ctx.run.device.is_cuda(), at::kBFloat16);
      at::Tensor logits = method.forward(ctx, batch);
      auto parts = causal_lm_loss_sum(logits, batch.labels);
      at::Tensor loss = parts.sum / static_cast<double>(std::max<int64_t>(1, sums.targets));
      at::Tensor extra = method.extra_loss(ctx, batch, logits);
      if (extra.defined()) {
        extra = extra / (micro * active);
        extra_sum += extra.item<double>();
        loss = loss + extra;
      }
      loss_sum += parts.sum.item<double>();
      loss.backward();
    }
    if (plan.simulated) {
      stash.emplace_back();
      for (auto& p : params) {
        stash.back().push_back(p.grad());
        p.mutable_grad() = at::Tensor();
      }
    }
  }
  torch::NoGradGuard no_grad;
  if (plan.simulated) {
    for (size_t i = 0; i < params.size(); ++i) {
      at::Tensor sum;
      for (const auto& grads : stash) {
        if (!grads[i].defined()) continue;
        sum = sum.defined() ? sum + grads[i] : grads[i];
      }
      params[i].mutable_grad() = sum;
    }
    sums.loss_sum = loss_sum;
    sums.extra = extra_sum;
    return sums;
  }
  // The losses and which parameters have a gradient anywhere travel together, in float64.
  at::Tensor totals = at::zeros({static_cast<int64_t>(params.size()) + 2}, at::kDouble);
  auto t = totals.accessor<double, 1>();
  t[0] = loss_sum;
  t[1] = extra_sum;
  std::vector<at::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    if (p.grad().defined()) {
      t[i + 2] = 1;
    } else {
      p.mutable_grad() = at::zeros_like(p);  // unused here (an unrouted expert): zeros, so nothing hangs
    }
    grads.push_back(p.grad());
  }
  const auto& dist = *plan.dist;
  const auto bucket = static_cast<int64_t>(dist.settings().bucket_mb * (1 << 20));
  bucketed_all_reduce_sum(dist, grads, bucket, dist.settings().reduce_dtype,
                          fmt::format("the gradients of task \"{}\"", ctx.task().name));
  dist.all_reduce_sum(totals, "the step's losses");
  t = totals.accessor<double, 1>();
  for (size_t i = 0; i < params.size(); ++i)
    if (t[i + 2] == 0) params[i].mutable_grad() = at::Tensor();  // no rank had one
  sums.loss_sum = t[0];
  sums.extra = t[1];
  return sums;
}

void check_same_parameters(const DistContext& dist, const std::vector<at::Tensor>& params, const std::string& task) {
  if (!dist.distributed()) return;
  // Count, elements, and a position-weighted sum of shapes: equal lists give equal triples.
  int64_t elements = 0, weighted = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    elements += params[i].numel();
    for (int64_t d = 0; d < params[i].dim(); ++d)
      weighted += static_cast<int64_t>(i + 1) * (d + 1) * params[i].size(d) % 1000003;
  }
  const at::Tensor mine = at::tensor(std::vector<int64_t>{static_cast<int64_t>(params.size()), elements, weighted});
  const auto all = dist.all_gather(mine, "the trainable parameters' shapes");
  std::vector<int> differ;
  for (int r = 0; r < dist.world_size(); ++r)
    if (!at::equal(all[r], all[0])) differ.push_back(r);
  RETAIN_CHECK(differ.empty(), "train",
               "task \"{}\": rank{} {} train{} other parameters than rank 0 ({} tensors, {} elements here on rank {}); "
               "every rank must build the same model",
               task, differ.size() == 1 ? "" : "s", fmt::join(differ, ", "), differ.size() == 1 ? "s" : "", params.size(),
               elements, dist.rank());
}

}  // namespace retain
