#include "retain/train/methods/seta_gate.h"

#include "retain/core/error.h"
#include "retain/core/random.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace retain {

namespace {
constexpr const char* kComponent = "seta";
}  // namespace

FeatureStats feature_stats(const at::Tensor& features, bool diagonal) {
  RETAIN_CHECK(features.dim() == 2 && features.size(0) >= 1, kComponent, "features must be (N ≥ 1, d), got [{}]",
               fmt::join(features.sizes(), ", "));
  const auto f = features.to(at::kCPU, at::kDouble);
  const auto mean = f.mean(0);
  const auto c = f - mean;
  FeatureStats s;
  s.mean = mean.to(at::kFloat);
  s.covariance = (diagonal ? c.square().mean(0) : c.t().mm(c) / static_cast<double>(f.size(0))).to(at::kFloat);
  s.count = f.size(0);
  return s;
}

at::Tensor sample_features(const FeatureStats& stats, int64_t n, double shrinkage, uint64_t seed) {
  const int64_t d = stats.mean.numel();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto z = at::randn({n, d}, generator, at::TensorOptions().dtype(at::kDouble));
  const auto mean = stats.mean.to(at::kCPU, at::kDouble);
  const auto cov = stats.covariance.to(at::kCPU, at::kDouble);
  const double average = (cov.dim() == 1 ? cov.sum() : cov.trace()).item<double>() / static_cast<double>(d);
  // A vanishing jitter keeps the Cholesky factor defined for an unshrunk singular covariance.
  const double ridge = shrinkage * average + 1e-9 * std::max(average, 1e-12);
  at::Tensor draws;
  if (cov.dim() == 1) {
    draws = mean + z * ((1 - shrinkage) * cov + ridge).sqrt();
  } else {
    const auto shrunk = (1 - shrinkage) * cov + ridge * at::eye(d, cov.options());
    draws = mean + z.mm(at::linalg_cholesky(shrunk).t());
  }
  return draws.to(stats.mean.device(), at::kFloat);
}

SetaGate SetaGate::create(int64_t dim, int64_t hidden, uint64_t seed, at::Device device) {
  RETAIN_CHECK(dim >= 1 && hidden >= 0, kComponent, "a gate of dimension {} with {} hidden units", dim, hidden);
  SetaGate g;
  g.dim = dim;
  g.hidden = hidden;
  const auto options = at::TensorOptions().dtype(at::kFloat);
  if (hidden > 0) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    const double bound = 1.0 / std::sqrt(static_cast<double>(dim));
    g.w1 = at::empty({hidden, dim}, options).uniform_(-bound, bound, generator).to(device);
    g.b1 = at::empty({hidden}, options).uniform_(-bound, bound, generator).to(device);
  }
  g.w2 = at::zeros({0, hidden > 0 ? hidden : dim}, options.device(device));
  g.b2 = at::zeros({0}, options.device(device));
  return g;
}

void SetaGate::add_class() {
  w2 = at::cat({w2, at::zeros({1, w2.size(1)}, w2.options())});
  b2 = at::cat({b2, at::zeros({1}, b2.options())});
}

at::Tensor SetaGate::logits(const at::Tensor& features) const {
  RETAIN_CHECK(features.dim() == 2 && features.size(1) == dim, kComponent, "gate features must be (N, {}), got [{}]",
               dim, fmt::join(features.sizes(), ", "));
  auto h = features.to(w2.device(), at::kFloat);
  if (hidden > 0) h = at::relu(at::linear(h, w1, b1));
  return at::linear(h, w2, b2);
}

std::pair<at::Tensor, at::Tensor> SetaGate::route(const at::Tensor& features, int64_t k) const {
  RETAIN_CHECK(classes() >= 1, kComponent, "the gate has no task to route to");
  auto probs = at::softmax(logits(features), -1);
  auto [top, routes] = probs.topk(std::min(k, classes()), -1);
  return {routes, top / top.sum(-1, /*keepdim=*/true)};
}

std::vector<std::pair<std::string, at::Tensor>> SetaGate::tensors() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  if (hidden > 0) {
    out.emplace_back("w1", w1);
    out.emplace_back("b1", b1);
  }
  out.emplace_back("w2", w2);
  out.emplace_back("b2", b2);
  return out;
}

SetaGate SetaGate::from_tensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors, int64_t dim,
                                int64_t hidden, const std::string& where) {
  auto get = [&](const std::string& name) {
    for (const auto& [n, t] : tensors)
      if (n == name) return t.to(at::kFloat);
    fail(kComponent, "{}: the gate has no tensor \"{}\"", where, name);
  };
  SetaGate g;
  g.dim = dim;
  g.hidden = hidden;
  const int64_t in = hidden > 0 ? hidden : dim;
  if (hidden > 0) {
    g.w1 = get("w1");
    g.b1 = get("b1");
    RETAIN_CHECK(g.w1.sizes() == at::IntArrayRef({hidden, dim}) && g.b1.sizes() == at::IntArrayRef({hidden}),
                 kComponent, "{}: gate w1 [{}] and b1 [{}] do not fit {} hidden units of dimension {}", where,
                 fmt::join(g.w1.sizes(), ", "), fmt::join(g.b1.sizes(), ", "), hidden, dim);
  }
  g.w2 = get("w2");
  g.b2 = get("b2");
  RETAIN_CHECK(g.w2.dim() == 2 && g.w2.size(1) == in && g.b2.dim() == 1 && g.b2.size(0) == g.w2.size(0), kComponent,
               "{}: gate w2 [{}] and b2 [{}] do not fit an input of {}", where, fmt::join(g.w2.sizes(), ", "),
               fmt::join(g.b2.sizes(), ", "), in);
  return g;
}

at::Tensor routing_kl(const at::Tensor& old_probs, const at::Tensor& new_logits) {
  RETAIN_CHECK(old_probs.dim() == 2 && new_logits.dim() == 2 && old_probs.size(0) == new_logits.size(0) &&
                   old_probs.size(1) <= new_logits.size(1),
               kComponent, "KL of old probabilities [{}] against new logits [{}]", fmt::join(old_probs.sizes(), ", "),
               fmt::join(new_logits.sizes(), ", "));
  const auto log_new = at::log_softmax(new_logits, -1).narrow(1, 0, old_probs.size(1));
  return (at::xlogy(old_probs, old_probs) - old_probs * log_new).sum(-1).mean();
}

double train_gate(SetaGate& gate, const at::Tensor& features, int64_t label, const std::vector<FeatureStats>& earlier,
                  const GateTraining& o, uint64_t seed) {
  const int64_t classes = gate.classes();
  RETAIN_CHECK(label >= 0 && label < classes && static_cast<int64_t>(earlier.size()) <= classes, kComponent,
               "gate training of class {} with {} earlier tasks, but the gate has {} classes", label, earlier.size(),
               classes);
  if (classes < 2 || o.steps == 0) return 0;  // one class: nothing to separate
  const auto device = gate.w2.device();
  const auto x = features.to(device, at::kFloat);
  const auto target = at::full({x.size(0)}, label, at::TensorOptions().dtype(at::kLong).device(device));
  at::Tensor pseudo, pseudo_labels, old_probs;
  const bool replay = o.replay && !earlier.empty();
  if (replay) {
    std::vector<at::Tensor> draws, labels;
    for (size_t s = 0; s < earlier.size(); ++s) {
      auto rng = seeded_rng({seed, static_cast<uint64_t>(s), uint64_t{0x6A7E}});
      draws.push_back(sample_features(earlier[s], o.pseudo_samples, o.shrinkage, rng()).to(device));
      labels.push_back(at::full({o.pseudo_samples}, static_cast<int64_t>(s), target.options()));
    }
    pseudo = at::cat(draws);
    pseudo_labels = at::cat(labels);
    torch::NoGradGuard no_grad;  // the gate before this task: its classes are the first classes − 1
    old_probs = at::softmax(gate.logits(pseudo).narrow(1, 0, classes - 1), -1);
  }
  std::vector<at::Tensor> params;
  for (auto* t : {&gate.w1, &gate.b1, &gate.w2, &gate.b2})
    if (t->defined()) {
      *t = t->detach().clone().requires_grad_(true);
      params.push_back(*t);
    }
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(o.lr));
  double last = 0;
  torch::AutoGradMode grad_mode(true);
  for (int64_t step = 0; step < o.steps; ++step) {
    optimizer.zero_grad();
    at::Tensor loss = torch::nn::functional::cross_entropy(gate.logits(x), target);
    if (replay) {
      const auto logits = gate.logits(pseudo);
      // Class-balanced: every earlier class has pseudo_samples rows, so its mean CE is the mean over
      // all pseudo rows times the number of earlier classes.
      const auto ce = torch::nn::functional::cross_entropy(logits, pseudo_labels) * static_cast<double>(earlier.size());
      loss = (loss + ce) / static_cast<double>(earlier.size() + 1) + o.kl * routing_kl(old_probs, logits);
    }
    loss.backward();
    optimizer.step();
    last = loss.item<double>();
  }
  for (auto* t : {&gate.w1, &gate.b1, &gate.w2, &gate.b2})
    if (t->defined()) *t = t->detach();
  return last;
}

}  // namespace retain
