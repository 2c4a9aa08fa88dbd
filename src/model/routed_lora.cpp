#include "retain/model/routed_lora.h"

#include "retain/core/error.h"
#include "retain/model/lora.h"
#include "retain/model/module_names.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace retain {

namespace {
constexpr const char* kComponent = "routed_lora";

// Attaches a RoutedLora `name` built from A (N, r, in), B (N, out, r), or refreshes the one there.
void attach(AdaptedLinear& linear, const std::string& name, const at::Tensor& A, const at::Tensor& B) {
  if (auto existing = linear->adapter(name)) {
    auto routed = std::dynamic_pointer_cast<RoutedLoraImpl>(existing);
    RETAIN_CHECK(routed, kComponent, "the layer already has an adapter \"{}\" that is not a routed LoRA", name);
    routed->set_adapters(A, B);
    return;
  }
  linear->add_adapter(name, std::make_shared<RoutedLoraImpl>(A, B));
}
}  // namespace

RoutedLoraImpl::RoutedLoraImpl(const at::Tensor& A, const at::Tensor& B) { set_adapters(A, B); }

void RoutedLoraImpl::set_adapters(const at::Tensor& A, const at::Tensor& B) {
  RETAIN_CHECK(A.dim() == 3 && B.dim() == 3 && A.size(0) == B.size(0) && A.size(1) == B.size(2), kComponent,
               "expected A (N, r, in) and B (N, out, r), got [{}] and [{}]", fmt::join(A.sizes(), ", "),
               fmt::join(B.sizes(), ", "));
  RETAIN_CHECK(A.size(0) >= 1, kComponent, "a routed LoRA needs at least one adapter");
  num_adapters_ = A.size(0);
  rank_ = A.size(1);
  in_ = A.size(2);
  out_ = B.size(1);
  torch::NoGradGuard no_grad;
  // Pre-transposed so that the per-token products are plain bmm's; slot N is the zero adapter.
  a_t_ = at::cat({A.detach().transpose(1, 2), at::zeros({1, in_, rank_}, A.options())}, 0).contiguous();
  b_t_ = at::cat({B.detach().transpose(1, 2).to(A.options()), at::zeros({1, rank_, out_}, A.options())}, 0).contiguous();
  clear_routes();
}

void RoutedLoraImpl::set_routes(const at::Tensor& routes) {
  RETAIN_CHECK(routes.dim() == 1 && routes.numel() >= 1, kComponent, "routes must be (batch,), got [{}]",
               fmt::join(routes.sizes(), ", "));
  if (routes.device().is_cpu()) {  // device routes are trusted (they come from an argmax), not synced
    const auto lo = routes.min().item<int64_t>(), hi = routes.max().item<int64_t>();
    RETAIN_CHECK(lo >= -1 && hi < num_adapters_, kComponent, "routes must lie in [-1, {}), got values in [{}, {}]",
                 num_adapters_, lo, hi);
  }
  auto index = routes.to(a_t_.device(), at::kLong);
  index = index.masked_fill(index.lt(0), num_adapters_);
  a_sel_ = a_t_.index_select(0, index);  // (B, in, r)
  b_sel_ = b_t_.index_select(0, index);  // (B, r, out)
}

void RoutedLoraImpl::clear_routes() {
  a_sel_ = at::Tensor();
  b_sel_ = at::Tensor();
}

at::Tensor RoutedLoraImpl::x3(const at::Tensor& x) const {
  RETAIN_CHECK(x.dim() >= 2 && x.size(0) == a_sel_.size(0) && x.size(-1) == in_, kComponent,
               "input [{}] does not fit {} routes of a layer with {} inputs", fmt::join(x.sizes(), ", "),
               a_sel_.size(0), in_);
  return x.reshape({x.size(0), -1, in_});
}

at::Tensor RoutedLoraImpl::forward(const at::Tensor& x) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out_;
  if (!has_routes()) return at::zeros(shape, x.options());
  return at::bmm(at::bmm(x3(x), a_sel_), b_sel_).view(shape);  // (B, T, r) then (B, T, out)
}

at::Tensor RoutedLoraImpl::add_to(at::Tensor y, const at::Tensor& x) {
  if (!has_routes()) return y;
  auto h = at::bmm(x3(x), a_sel_);  // (B, T, r)
  if (at::GradMode::is_enabled() || !y.is_contiguous()) return y + at::bmm(h, b_sel_).view(y.sizes());
  y.view({y.size(0), -1, out_}).baddbmm_(h, b_sel_);
  return y;
}

at::Tensor RoutedLoraImpl::delta_weight() const {
  fail(kComponent, "a routed LoRA applies a different adapter to each sample: it has no single ΔW to merge");
}

int64_t add_routed_lora(CausalLM& model, const std::vector<std::string>& lora_names, const std::string& name) {
  RETAIN_CHECK(!lora_names.empty(), kComponent, "no adapters to route between");
  std::vector<std::vector<std::string>> groups;
  for (const auto& lora_name : lora_names) groups.push_back({lora_name});
  return add_routed_lora_sums(model, groups, name);
}

int64_t add_routed_lora_sums(CausalLM& model, const std::vector<std::vector<std::string>>& groups,
                             const std::string& name) {
  RETAIN_CHECK(!groups.empty(), kComponent, "no adapters to route between");
  const int64_t n = static_cast<int64_t>(groups.size());
  std::vector<std::string> all;
  for (const auto& group : groups) all.insert(all.end(), group.begin(), group.end());
  int64_t layers = 0;
  torch::NoGradGuard no_grad;
  for (auto& [module_name, linear] : model->linear_layers()) {
    std::vector<std::vector<std::shared_ptr<LoraAdapterImpl>>> loras(n);
    int64_t rank = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t group_rank = 0;
      for (const auto& lora_name : groups[i]) {
        auto lora = std::dynamic_pointer_cast<LoraAdapterImpl>(linear->adapter(lora_name));
        RETAIN_CHECK(lora || !linear->adapter(lora_name), kComponent, "{}: adapter \"{}\" is not a LoRA", module_name,
                     lora_name);
        if (!lora) continue;
        group_rank += lora->rank;
        loras[i].push_back(lora);
      }
      rank = std::max(rank, group_rank);
    }
    if (rank == 0) continue;
    const auto options = linear->weight.options();
    auto A = at::zeros({n, rank, linear->in_features}, options);
    auto B = at::zeros({n, linear->out_features, rank}, options);
    for (int64_t i = 0; i < n; ++i) {
      int64_t offset = 0;  // the group's LoRAs side by side along the rank
      for (const auto& lora : loras[i]) {
        const int64_t r = lora->rank;
        A[i].narrow(0, offset, r).copy_(lora->lora_A);
        B[i].narrow(1, offset, r).copy_(lora->lora_B * lora->scaling);
        offset += r;
      }
    }
    attach(linear, name, A, B);
    ++layers;
  }
  RETAIN_CHECK(layers > 0, kComponent, "no layer of the model has any of the adapters {}", fmt::join(all, ", "));
  return layers;
}

int64_t add_random_routed_lora(CausalLM& model, int64_t adapters, int64_t rank,
                               const std::vector<std::string>& target_modules, uint64_t seed, const std::string& name) {
  RETAIN_CHECK(adapters >= 1 && rank >= 1, kComponent, "need at least one adapter of rank ≥ 1, got {} of rank {}",
               adapters, rank);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  int64_t layers = 0;
  for (auto& [module_name, linear] : model->linear_layers()) {
    if (!module_matches_any(module_name, target_modules)) continue;
    const double bound_a = 1.0 / std::sqrt(static_cast<double>(linear->in_features));
    const double bound_b = 1.0 / std::sqrt(static_cast<double>(rank));
    auto A = at::empty({adapters, rank, linear->in_features}, at::kFloat).uniform_(-bound_a, bound_a, generator);
    auto B = at::empty({adapters, linear->out_features, rank}, at::kFloat).uniform_(-bound_b, bound_b, generator);
    const auto options = linear->weight.options();
    attach(linear, name, A.to(options), B.to(options));
    ++layers;
  }
  RETAIN_CHECK(layers > 0, kComponent, "target_modules {} matched no layer", fmt::join(target_modules, ", "));
  return layers;
}

std::vector<std::shared_ptr<RoutedLoraImpl>> routed_adapters(CausalLM& model, const std::string& name) {
  std::vector<std::shared_ptr<RoutedLoraImpl>> out;
  for (auto& [module_name, linear] : model->linear_layers())
    for (auto& [adapter_name, adapter] : linear->adapters())
      if (name.empty() || adapter_name == name)
        if (auto routed = std::dynamic_pointer_cast<RoutedLoraImpl>(adapter)) out.push_back(routed);
  return out;
}

void set_routes(CausalLM& model, const at::Tensor& routes) {
  for (auto& routed : routed_adapters(model)) routed->set_routes(routes);
}

void clear_routes(CausalLM& model) {
  for (auto& routed : routed_adapters(model)) routed->clear_routes();
}

}  // namespace retain
