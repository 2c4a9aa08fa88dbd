#include "retain/train/trainer.h"

#include "retain/core/error.h"
#include "retain/core/torch_compat.h"
#include "retain/dist/replica_check.h"
#include "retain/train/adamw.h"
#include "retain/train/batch_forward.h"
#include "retain/train/data_parallel.h"
#include "retain/train/loss.h"
#include "retain/train/schedule.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <cmath>

namespace retain {

at::Tensor Method::forward(TaskContext& ctx, const Batch& batch) {
  return ctx.run.model->forward(forward_input(batch, ctx.run.device));
}

const at::Tensor& MethodState::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  fail("resume", "the saved method state has no tensor \"{}\" (it holds {} tensors)", name, tensors.size());
}

int64_t steps_per_task(int64_t examples, const OptimizerSettings& s) {
  if (s.max_steps > 0) return s.max_steps;
  const int64_t micro = (examples + s.batch_size - 1) / s.batch_size;
  const int64_t per_epoch = (micro + s.grad_accum - 1) / s.grad_accum;
  return per_epoch * s.epochs;
}

int64_t warmup_steps(const OptimizerSettings& s, int64_t total_steps) {
  return static_cast<int64_t>(std::ceil(s.warmup_ratio * static_cast<double>(total_steps)));
}

const std::vector<std::string>& optimizer_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    OptimizerSettings s;
    auto visitor = [&](const char* key, auto&, const char*) { out.emplace_back(key); };
    s.visit(visitor);
    return out;
  }();
  return keys;
}

void OptimizerSettings::validate(const std::string& where) const {
  RETAIN_CHECK(lr > 0 && std::isfinite(lr), "config", "{}.lr must be a positive number, got {}", where, lr);
  RETAIN_CHECK(weight_decay >= 0, "config", "{}.weight_decay must be >= 0, got {}", where, weight_decay);
  RETAIN_CHECK(beta1 >= 0 && beta1 < 1, "config", "{}.beta1 must be in [0, 1), got {}", where, beta1);
  RETAIN_CHECK(beta2 >= 0 && beta2 < 1, "config", "{}.beta2 must be in [0, 1), got {}", where, beta2);
  RETAIN_CHECK(eps >= 0, "config", "{}.eps must be >= 0, got {}", where, eps);
  RETAIN_CHECK(epochs >= 1, "config", "{}.epochs must be at least 1, got {}", where, epochs);
  RETAIN_CHECK(batch_size >= 1, "config", "{}.batch_size must be at least 1, got {}", where, batch_size);
  RETAIN_CHECK(grad_accum >= 1, "config", "{}.grad_accum must be at least 1, got {}", where, grad_accum);
  RETAIN_CHECK(warmup_ratio >= 0 && warmup_ratio < 1, "config", "{}.warmup_ratio must be in [0, 1), got {}", where,
               warmup_ratio);
  RETAIN_CHECK(max_grad_norm >= 0, "config", "{}.max_grad_norm must be >= 0 (0: no clipping), got {}", where,
               max_grad_norm);
  RETAIN_CHECK(max_steps >= 0, "config", "{}.max_steps must be >= 0 (0: epochs decide), got {}", where, max_steps);
}

std::vector<PlannedStep> plan_task_steps(const std::vector<int64_t>& lengths, const OptimizerSettings& s,
                                         uint64_t run_seed, int64_t task_index) {
  RETAIN_CHECK(!lengths.empty(), "train", "a task without training examples has no steps");
  BatchSamplerOptions options;
  options.batch_size = s.batch_size;
  options.seed = run_seed * 1000003ull + static_cast<uint64_t>(task_index);
  const BatchSampler sampler(lengths, options);
  const int64_t total = steps_per_task(static_cast<int64_t>(lengths.size()), s);
  std::vector<PlannedStep> plan;
  plan.reserve(static_cast<size_t>(total));
  for (int64_t epoch = 0; static_cast<int64_t>(plan.size()) < total; ++epoch) {
    const auto batches = sampler.batches(epoch);
    for (size_t first = 0; first < batches.size() && static_cast<int64_t>(plan.size()) < total;
         first += static_cast<size_t>(s.grad_accum)) {
      PlannedStep step;
      step.epoch = epoch;
      const size_t last = std::min(batches.size(), first + static_cast<size_t>(s.grad_accum));
      step.micro_batches.assign(batches.begin() + static_cast<std::ptrdiff_t>(first),
                                batches.begin() + static_cast<std::ptrdiff_t>(last));
      plan.push_back(std::move(step));
    }
  }
  return plan;
}

namespace {

std::vector<std::pair<std::string, at::Tensor>> rng_state(const at::Device& device) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("cpu", at::globalContext().defaultGenerator(at::kCPU).get_state());
  if (device.is_cuda()) out.emplace_back("cuda", at::globalContext().defaultGenerator(device).get_state());
  return out;
}

void set_rng_state(const std::vector<std::pair<std::string, at::Tensor>>& state, const at::Device& device) {
  for (const auto& [name, t] : state) {
    if (name != "cpu" && !(name == "cuda" && device.is_cuda())) continue;
    at::Generator generator = at::globalContext().defaultGenerator(name == "cpu" ? at::Device(at::kCPU) : device);
    generator.set_state(t);
  }
}

}  // namespace

TaskTrainingSummary train_task(Method& method, TaskContext& ctx, const OptimizerSettings& settings,
                               const std::function<void(const StepInfo&)>& observe,
                               const StepCheckpointing* checkpointing) {
  settings.validate();
  OptimizerSettings s = settings;
  const int64_t multiplier = method.max_steps_multiplier(ctx);
  RETAIN_CHECK(multiplier >= 1, "train", "method {} asked for {} × max_steps on task \"{}\" (expected >= 1)",
               method.name(), multiplier, ctx.task().name);
  s.max_steps *= multiplier;
  const DataParallelPlan parallel = data_parallel_plan(*ctx.run.dist);
  RETAIN_CHECK(parallel.world == 1 || method.supports_data_parallel(), "train",
               "method {} does not support data-parallel training yet ({} ranks): its statistics are not reduced over "
               "ranks (docs/distributed.md); run it in one process", method.name(), parallel.world);
  torch::manual_seed(ctx.run.seed * 1000003ull + static_cast<uint64_t>(ctx.task_index) + 17);
  method.on_task_start(ctx);
  const std::vector<TokenizedExample> examples = method.training_examples(ctx);
  RETAIN_CHECK(!examples.empty(), "train", "task \"{}\" has no training examples", ctx.task().name);
  std::vector<at::Tensor> params = method.trainable(ctx);
  RETAIN_CHECK(!params.empty(), "train", "method {} returned no trainable parameters for task \"{}\"", method.name(),
               ctx.task().name);
  // Only what the method trains carries gradients: no wasted backward work on frozen weights.
  for (auto& p : ctx.run.model->parameters()) p.requires_grad_(false);
  for (auto& p : params) p.requires_grad_(true);
  check_same_parameters(*ctx.run.dist, params, ctx.task().name);

  AdamWOptions adamw;
  adamw.lr = s.lr;
  adamw.beta1 = s.beta1;
  adamw.beta2 = s.beta2;
  adamw.eps = s.eps;
  adamw.weight_decay = s.weight_decay;
  AdamW optimizer(params, adamw);
  std::vector<int64_t> lengths;
  lengths.reserve(examples.size());
  for (const auto& e : examples) lengths.push_back(static_cast<int64_t>(e.ids.size()));
  const std::vector<PlannedStep> plan = plan_task_steps(lengths, s, ctx.run.seed, ctx.task_index);
  const int64_t total_steps = static_cast<int64_t>(plan.size());
  const int64_t warmup = warmup_steps(s, total_steps);
  const int64_t pad = ctx.run.model->config.pad_token_id.value_or(0);

  TaskTrainingSummary summary;
  int64_t resume_at = 0;
  if (checkpointing && checkpointing->resume) {
    const TrainingState& state = *checkpointing->resume;
    RETAIN_CHECK(state.steps_done >= 0 && state.steps_done < total_steps, "train",
                 "cannot resume task \"{}\" after step {}: it has {} steps", ctx.task().name, state.steps_done,
                 total_steps);
    if (checkpointing->restore) checkpointing->restore();
    optimizer.load_state(state.optimizer);
    set_rng_state(state.rng, ctx.run.device);
    resume_at = state.steps_done;
  }
  // Test hook: RETAIN_TEST_CHECK_REPLICAS=1 compares the ranks' trainable parameters after every step
  // (dist/replica_check.h); the whole model is compared after every task regardless.
  const char* check_env = std::getenv("RETAIN_TEST_CHECK_REPLICAS");
  const bool check_every_step = ctx.run.dist->distributed() && check_env && std::string(check_env) == "1";
  auto last_checkpoint = std::chrono::steady_clock::now();
  int64_t steps_since_checkpoint = 0;

  ctx.run.model->train();
  const auto task_start = std::chrono::steady_clock::now();
  for (int64_t step = resume_at; step < total_steps; ++step) {  // steps before resume_at were done already
    const auto step_start = std::chrono::steady_clock::now();
    const PlannedStep& planned = plan[static_cast<size_t>(step)];
    int64_t step_targets_total = 0;
    double step_loss = 0, step_extra = 0;
    int64_t tokens = 0;
    if (parallel.world == 1) {
      std::vector<Batch> micro;
      int64_t step_targets = 0;
      for (const auto& rows : planned.micro_batches) {
        micro.push_back(collate(examples, rows, pad));
        step_targets += answer_tokens(micro.back());
        tokens += micro.back().attention_mask.sum().item<int64_t>();
      }
      // Every micro-batch's loss is divided by the answer tokens of the whole step, so that the
      // accumulated gradient equals the gradient of one batch holding all of them.
      for (const auto& batch : micro) {
        compat::AutocastGuard autocast(ctx.run.autocast_bf16 && ctx.run.device.is_cuda(), at::kBFloat16);
        at::Tensor logits = method.forward(ctx, batch);
        auto parts = causal_lm_loss_sum(logits, batch.labels);
        at::Tensor loss = parts.sum / static_cast<double>(std::max<int64_t>(1, step_targets));
        at::Tensor extra = method.extra_loss(ctx, batch, logits);
        if (extra.defined()) {
          extra = extra / static_cast<double>(micro.size());
          step_extra += extra.item<double>();
          loss = loss + extra;
        }
        step_loss += parts.sum.item<double>();
        loss.backward();
      }
      step_targets_total = step_targets;
    } else {
      const auto sums = data_parallel_backward(method, ctx, parallel, params, examples, planned, step, pad);
      step_loss = sums.loss_sum;
      step_extra = sums.extra;
      tokens = sums.tokens;
      step_targets_total = sums.targets;
    }
    method.after_backward(ctx);
    const double max_norm = s.max_grad_norm > 0 ? s.max_grad_norm : std::numeric_limits<double>::infinity();
    const double grad_norm = torch::nn::utils::clip_grad_norm_(params, max_norm);
    const double lr = learning_rate_at(s.schedule, s.lr, step, total_steps, warmup);
    optimizer.set_lr(lr);
    optimizer.step();
    method.after_step(ctx);
    optimizer.zero_grad();
    if (check_every_step)
      check_replicas(*ctx.run.dist, params, fmt::format("task \"{}\", step {}", ctx.task().name, step + 1));

    StepInfo info;
    info.task_index = ctx.task_index;
    info.epoch = planned.epoch;
    info.step = step;
    info.total_steps = total_steps;
    info.loss = step_loss / static_cast<double>(std::max<int64_t>(1, step_targets_total));
    info.extra_loss = step_extra;
    info.lr = lr;
    info.grad_norm = grad_norm;
    info.tokens = tokens;
    info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    if (step == 0) summary.first_loss = info.loss;
    summary.last_loss = info.loss;
    summary.tokens += tokens;
    if (observe) observe(info);
    ++steps_since_checkpoint;
    if (checkpointing && checkpointing->save && step + 1 < total_steps) {
      const auto now = std::chrono::steady_clock::now();
      const bool by_steps = checkpointing->every_steps > 0 && steps_since_checkpoint >= checkpointing->every_steps;
      const bool by_time = checkpointing->every_minutes > 0 &&
                           std::chrono::duration<double>(now - last_checkpoint).count() >= 60 * checkpointing->every_minutes;
      if (by_steps || by_time) {
        TrainingState state;
        state.steps_done = step + 1;
        state.optimizer = optimizer.state();
        state.rng = rng_state(ctx.run.device);
        checkpointing->save(state);
        last_checkpoint = std::chrono::steady_clock::now();
        steps_since_checkpoint = 0;
      }
    }
  }
  summary.steps = total_steps - resume_at;
  ctx.run.model->eval();
  for (auto& p : params) p.mutable_grad() = at::Tensor();
  method.on_task_end(ctx);
  if (ctx.run.dist->distributed())
    check_replicas(*ctx.run.dist, ctx.run.model->parameters(), fmt::format("the end of task \"{}\"", ctx.task().name));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - task_start).count();
  return summary;
}

}  // namespace retain
