#include "retain/train/methods/ewc.h"

#include "retain/core/error.h"
#include "retain/io/safetensors.h"
#include "retain/train/fisher.h"
#include "retain/train/subset.h"

#include <torch/torch.h>

#include <algorithm>
#include <random>

namespace retain {

namespace {

// The dtype F and θ* are kept in: the parameter's, promoted to at least float32.
at::ScalarType storage_dtype(const at::Tensor& p) {
  return p.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}


}  // namespace

void EwcSettings::validate(const std::string& where) const {
  RETAIN_CHECK(lambda >= 0, "ewc", "{}.lambda must be >= 0, got {}", where, lambda);
  RETAIN_CHECK(fisher_samples >= 1, "ewc", "{}.fisher_samples must be at least 1, got {}", where, fisher_samples);
  RETAIN_CHECK(fisher_accumulate == "sum" || fisher_accumulate == "mean", "ewc",
               "{}.fisher_accumulate must be \"sum\" or \"mean\", got \"{}\"", where, fisher_accumulate);
}

std::map<std::string, at::Tensor> ewc_fisher(CausalLM& model, const std::vector<TokenizedExample>& examples,
                                             at::Device device, const DistContext* dist) {
  const auto named = model->base_parameters();
  std::vector<at::Tensor> params;
  for (const auto& [name, p] : named) params.push_back(p);
  std::vector<int64_t> rows(examples.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  FisherOptions options;
  options.device = device;
  options.float64_for_float64 = true;  // F in the parameter's precision (storage_dtype)
  options.dist = dist;
  auto squares = diagonal_fisher(model, params, examples, rows, options);
  std::map<std::string, at::Tensor> fisher;
  for (size_t k = 0; k < named.size(); ++k) fisher[named[k].first] = std::move(squares[k]);
  return fisher;
}

EWC::EWC(EwcSettings settings) : settings_(std::move(settings)) { settings_.validate(); }

at::Tensor EWC::penalty(CausalLM& model) const {
  if (fisher_.empty()) return {};
  at::Tensor total;
  for (auto& [name, p] : model->base_parameters()) {
    auto f = fisher_.find(name);
    RETAIN_CHECK(f != fisher_.end(), "ewc", "parameter {} has no Fisher: the model changed since the last task", name);
    const at::Tensor& anchor = anchor_.at(name);
    at::Tensor term = (f->second * (p.to(anchor.scalar_type()) - anchor).square()).sum();
    total = total.defined() ? total + term : term;
  }
  return total * (0.5 * settings_.lambda);
}

at::Tensor EWC::extra_loss(TaskContext& ctx, const Batch&, const at::Tensor&) {
  if (fisher_.empty() || settings_.lambda == 0) return {};
  // The loop adds this to every micro-batch and divides it by their number: once per step in all.
  return penalty(ctx.run.model);
}

void EWC::on_task_end(TaskContext& ctx) {
  const auto& all = ctx.train_examples();
  const auto subset = pick(all, random_subset(static_cast<int64_t>(all.size()), settings_.fisher_samples,
                                              {ctx.run.seed, static_cast<uint64_t>(ctx.task_index), uint64_t{0xE3C}}));
  auto task_fisher = ewc_fisher(ctx.run.model, subset, ctx.run.device, ctx.run.dist.get());
  torch::NoGradGuard no_grad;
  if (fisher_.empty()) {
    fisher_ = std::move(task_fisher);
  } else {
    for (auto& [name, f] : fisher_) {
      auto t = task_fisher.find(name);
      RETAIN_CHECK(t != task_fisher.end(), "ewc", "parameter {} vanished from the model", name);
      if (settings_.fisher_accumulate == "sum")
        f.add_(t->second);
      else
        f.mul_(static_cast<double>(tasks_)).add_(t->second).div_(static_cast<double>(tasks_ + 1));
    }
  }
  ++tasks_;
  anchor_.clear();
  for (auto& [name, p] : ctx.run.model->base_parameters())
    anchor_[name] = p.detach().to(storage_dtype(p)).clone();
}

void EWC::save(RunContext&, const std::filesystem::path& dir) {
  if (fisher_.empty()) return;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, f] : fisher_) tensors.emplace_back("fisher." + name, f);
  for (auto& [name, a] : anchor_) tensors.emplace_back("anchor." + name, a);
  std::filesystem::create_directories(dir);
  safetensors::save(dir / "ewc.safetensors", tensors,
                    {{"lambda", std::to_string(settings_.lambda)},
                     {"fisher_accumulate", settings_.fisher_accumulate},
                     {"tasks", std::to_string(tasks_)}});
}

MethodState EWC::state(RunContext& run) {
  MethodState s;
  for (const auto& [name, f] : fisher_) s.tensors.emplace_back("fisher/" + name, f);
  for (const auto& [name, a] : anchor_) s.tensors.emplace_back("anchor/" + name, a);
  s.meta["tasks"] = tasks_;
  return s;
}

void EWC::load_state(RunContext& run, int64_t tasks_done, const MethodState& state) {
  fisher_.clear();
  anchor_.clear();
  for (const auto& [name, t] : state.tensors) {
    if (name.rfind("fisher/", 0) == 0) fisher_[name.substr(7)] = t.to(run.device);
    else if (name.rfind("anchor/", 0) == 0) anchor_[name.substr(7)] = t.to(run.device);
  }
  tasks_ = state.meta.value("tasks", int64_t{0});
}

}  // namespace retain
