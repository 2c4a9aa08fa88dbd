#include "retain/train/adamw.h"

#include "retain/core/error.h"
#include "retain/core/torch_compat.h"

#include <c10/core/GradMode.h>

#include <cmath>
#include <map>
#include <tuple>

namespace retain {

namespace {

std::vector<AdamWGroup> one_group(std::vector<at::Tensor> params) {
  std::vector<AdamWGroup> groups(1);
  groups[0].params = std::move(params);
  return groups;
}

}  // namespace

AdamW::AdamW(std::vector<at::Tensor> params, AdamWOptions options) : AdamW(one_group(std::move(params)), options) {}

AdamW::AdamW(std::vector<AdamWGroup> groups, AdamWOptions defaults) : options_(defaults) {
  RETAIN_CHECK(options_.lr >= 0 && options_.eps >= 0 && options_.beta1 >= 0 && options_.beta1 < 1 &&
                   options_.beta2 >= 0 && options_.beta2 < 1,
               "adamw", "invalid options: lr {}, betas ({}, {}), eps {}", options_.lr, options_.beta1, options_.beta2,
               options_.eps);
  for (size_t g = 0; g < groups.size(); ++g) {
    Group group;
    group.first = params_.size();
    group.count = groups[g].params.size();
    group.lr = groups[g].lr.value_or(options_.lr);
    group.weight_decay = groups[g].weight_decay.value_or(options_.weight_decay);
    RETAIN_CHECK(group.lr >= 0 && group.weight_decay >= 0, "adamw",
                 "parameter group {}: lr {} and weight decay {} must be >= 0", g, group.lr, group.weight_decay);
    for (auto& p : groups[g].params) params_.push_back(std::move(p));
    groups_.push_back(group);
  }
  state_.resize(params_.size());
}

void AdamW::set_lr(double lr) {
  options_.lr = lr;
  for (auto& g : groups_) g.lr = lr;
}

void AdamW::set_lr(size_t group, double lr) { groups_.at(group).lr = lr; }

void AdamW::init_state(size_t i) {
  auto& s = state_[i];
  if (s.exp_avg.defined()) return;
  s.exp_avg = at::zeros_like(params_[i], at::MemoryFormat::Preserve);
  s.exp_avg_sq = at::zeros_like(params_[i], at::MemoryFormat::Preserve);
}

void AdamW::step() {
  c10::NoGradGuard no_grad;
  const double b1 = options_.beta1, b2 = options_.beta2;
  // Fused multi-tensor path: parameters grouped by (group, device, dtype), one kernel per group.
  std::map<std::tuple<size_t, std::string, at::ScalarType>, std::vector<size_t>> fused_groups;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const double lr = groups_[g].lr, weight_decay = groups_[g].weight_decay;
    for (size_t i = groups_[g].first; i < groups_[g].first + groups_[g].count; ++i) {
      auto& p = params_[i];
      const at::Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      init_state(i);
      auto& s = state_[i];
      ++s.step;
      if (options_.fused && compat::has_fused_adamw() && p.is_cuda() && !grad.is_sparse()) {
        fused_groups[{g, p.device().str(), p.scalar_type()}].push_back(i);
        continue;
      }
      if (weight_decay != 0) p.mul_(1 - lr * weight_decay);
      const double bias_correction1 = 1 - std::pow(b1, static_cast<double>(s.step));
      const double bias_correction2 = 1 - std::pow(b2, static_cast<double>(s.step));
      s.exp_avg.mul_(b1).add_(grad, 1 - b1);
      s.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1 - b2);
      const at::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(options_.eps);
      p.addcdiv_(s.exp_avg, denom, -lr / bias_correction1);
    }
  }
  for (auto& [key, indices] : fused_groups) {
    const Group& group = groups_[std::get<0>(key)];
    std::vector<at::Tensor> ps, gs, ms, vs, steps;
    for (size_t i : indices) {
      auto& s = state_[i];
      // The device copy of the step count follows the host one: created at step − 1, then one
      // multi-tensor increment per group (the kernel reads the count after this step's increment).
      if (!s.step_tensor.defined())
        s.step_tensor = at::full({}, static_cast<double>(s.step - 1), params_[i].options().dtype(at::kFloat));
      ps.push_back(params_[i]);
      gs.push_back(params_[i].grad());
      ms.push_back(s.exp_avg);
      vs.push_back(s.exp_avg_sq);
      steps.push_back(s.step_tensor);
    }
    at::_foreach_add_(steps, 1.0);
    compat::fused_adamw_(ps, gs, ms, vs, steps, group.lr, b1, b2, group.weight_decay, options_.eps);
    // The contract of an in-place update: the parameter's version counter moves. Caches keyed on
    // it (SETA's merged working weights, model/sparse_expert.h) rely on that; the fused kernel alone
    // does not guarantee it, so every updated parameter is bumped here (one more bump is harmless).
    for (auto& p : ps) p.unsafeGetTensorImpl()->bump_version();
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_) p.mutable_grad() = at::Tensor();
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < state_.size(); ++i) {
    const auto& s = state_[i];
    if (s.step == 0) continue;
    const std::string prefix = std::to_string(i) + ".";
    out.emplace_back(prefix + "exp_avg", s.exp_avg);
    out.emplace_back(prefix + "exp_avg_sq", s.exp_avg_sq);
    out.emplace_back(prefix + "step",
                     at::full({}, static_cast<double>(s.step), at::TensorOptions().dtype(at::kDouble)));
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, at::Tensor>>& state) {
  std::map<std::string, at::Tensor> by_name(state.begin(), state.end());
  c10::NoGradGuard no_grad;
  size_t used = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string prefix = std::to_string(i) + ".";
    auto step = by_name.find(prefix + "step");
    auto& s = state_[i];
    if (step == by_name.end()) {
      s = ParamState{};
      continue;
    }
    for (const char* part : {"exp_avg", "exp_avg_sq"}) {
      auto it = by_name.find(prefix + part);
      RETAIN_CHECK(it != by_name.end(), "adamw", "saved optimizer state has {}step but no {}{}", prefix, prefix, part);
      RETAIN_CHECK(it->second.sizes() == params_[i].sizes(), "adamw",
                   "saved optimizer state {}{} has shape {} but parameter {} has shape {}", prefix, part,
                   fmt::join(it->second.sizes(), "×"), i, fmt::join(params_[i].sizes(), "×"));
    }
    init_state(i);
    s.exp_avg.copy_(by_name.at(prefix + "exp_avg"));
    s.exp_avg_sq.copy_(by_name.at(prefix + "exp_avg_sq"));
    s.step = static_cast<int64_t>(step->second.item<double>());
    s.step_tensor = at::Tensor();
    used += 3;
  }
  RETAIN_CHECK(used == state.size(), "adamw", "saved optimizer state holds {} tensors, {} match the {} parameters",
               state.size(), used, params_.size());
}

}  // namespace retain
