#include "retain/model/sparse_expert.h"

#include "retain/core/error.h"

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/torch.h>

#include <algorithm>

namespace retain {

namespace {
constexpr const char* kComponent = "sparse_expert";
// Gather kernel: at most this many gathered elements (N × entries) alive at once.
constexpr int64_t kChunkElements = int64_t{1} << 24;

void check_indices(const at::Tensor& indices, int64_t out, int64_t in, const std::string& what) {
  RETAIN_CHECK(indices.defined() && indices.dim() == 1 && indices.scalar_type() == at::kLong, kComponent,
               "{}: indices must be a 1-d int64 tensor", what);
  if (indices.numel() == 0) return;
  const auto lo = indices.min().item<int64_t>(), hi = indices.max().item<int64_t>();
  RETAIN_CHECK(lo >= 0 && hi < out * in, kComponent, "{}: indices in [{}, {}] fall outside a {} × {} weight", what, lo,
               hi, out, in);
  if (indices.numel() > 1) {
    const bool increasing =
        indices.narrow(0, 1, indices.numel() - 1).gt(indices.narrow(0, 0, indices.numel() - 1)).all().item<bool>();
    RETAIN_CHECK(increasing, kComponent, "{}: indices must be sorted and distinct", what);
  }
}

at::Tensor csr(const at::Tensor& crow, const at::Tensor& cols, const at::Tensor& values, int64_t rows,
               int64_t columns) {
  return at::sparse_csr_tensor(crow, cols, values, {rows, columns}, values.options().layout(at::kSparseCsr));
}

bool half_precision(at::ScalarType t) { return t == at::kHalf || t == at::kBFloat16; }

at::Tensor gather_forward(const at::Tensor& x, const at::Tensor& rows, const at::Tensor& cols, const at::Tensor& v,
                          int64_t out) {
  const int64_t n = x.size(0), nnz = v.numel();
  auto y = at::zeros({n, out}, x.options());
  const int64_t chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, n));
  for (int64_t s = 0; s < nnz; s += chunk) {
    const int64_t c = std::min(chunk, nnz - s);
    y.index_add_(1, rows.narrow(0, s, c), x.index_select(1, cols.narrow(0, s, c)).mul_(v.narrow(0, s, c)));
  }
  return y;
}

// y = x ΔWᵀ with the sparse ΔW given by its entries; the backward is written out so that no dense
// out × in tensor ever exists.
class SparseDeltaFunction : public torch::autograd::Function<SparseDeltaFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& values,
                            const SparsePattern& p, int64_t kernel) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const auto v = values.to(x.scalar_type());
    ctx->save_for_backward({x, values});
    ctx->saved_data["rows"] = p.rows;
    ctx->saved_data["cols"] = p.cols;
    ctx->saved_data["kernel"] = kernel;
    ctx->saved_data["out"] = p.out;
    if (static_cast<SparseKernel>(kernel) == SparseKernel::Gather) return gather_forward(x, p.rows, p.cols, v, p.out);
    ctx->saved_data["crow"] = p.crow;
    ctx->saved_data["t_order"] = p.t_order;
    ctx->saved_data["t_crow"] = p.t_crow;
    ctx->saved_data["t_cols"] = p.t_cols;
    return at::mm(csr(p.crow, p.cols, v, p.out, p.in), x.t()).t();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& values = saved[1];
    const auto gy = grads[0].to(x.scalar_type());
    const auto rows = ctx->saved_data["rows"].toTensor(), cols = ctx->saved_data["cols"].toTensor();
    const int64_t out = ctx->saved_data["out"].toInt(), in = x.size(1), nnz = values.numel(), n = x.size(0);
    const auto v = values.to(x.scalar_type());
    const bool need_x = ctx->needs_input_grad(0), need_v = ctx->needs_input_grad(1);
    at::Tensor grad_x, grad_v;
    if (static_cast<SparseKernel>(ctx->saved_data["kernel"].toInt()) == SparseKernel::Gather) {
      if (need_x) grad_x = at::zeros_like(x);
      if (need_v) grad_v = at::empty({nnz}, x.options());
      const int64_t chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, n));
      for (int64_t s = 0; s < nnz; s += chunk) {
        const int64_t c = std::min(chunk, nnz - s);
        const auto g = gy.index_select(1, rows.narrow(0, s, c));  // (N, c)
        if (need_v) grad_v.narrow(0, s, c).copy_((g * x.index_select(1, cols.narrow(0, s, c))).sum(0));
        if (need_x) grad_x.index_add_(1, cols.narrow(0, s, c), g * v.narrow(0, s, c));
      }
    } else {
      const auto crow = ctx->saved_data["crow"].toTensor();
      if (need_x) {
        const auto t_order = ctx->saved_data["t_order"].toTensor();
        const auto transposed = csr(ctx->saved_data["t_crow"].toTensor(), ctx->saved_data["t_cols"].toTensor(),
                                    v.index_select(0, t_order), in, out);
        grad_x = at::mm(transposed, gy.t()).t();
      }
      if (need_v) {
        // SDDMM: (gyᵀ x) at the entries; half precision is sampled in float32.
        const auto dtype = half_precision(x.scalar_type()) ? at::kFloat : x.scalar_type();
        const auto pattern = csr(crow, cols, at::zeros({nnz}, x.options().dtype(dtype)), out, in);
        grad_v =
            at::sparse_sampled_addmm(pattern, gy.t().to(dtype).contiguous(), x.to(dtype).contiguous(), 0, 1).values();
      }
    }
    if (grad_v.defined()) grad_v = grad_v.to(values.scalar_type());
    return {grad_x, grad_v, at::Tensor(), at::Tensor()};
  }
};

// y = x Mᵀ with M = W + ΔW already merged: the forward is the dense product (autocast applies to it
// as to any at::linear); the backward gives x and the values their gradients, M none.
class MergedSparseFunction : public torch::autograd::Function<MergedSparseFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& values,
                            const at::Tensor& merged, const at::Tensor& indices) {
    ctx->save_for_backward({x, merged, indices});
    ctx->saved_data["values_dtype"] = static_cast<int64_t>(values.scalar_type());
    return at::linear(x, merged);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &merged = saved[1], &indices = saved[2];
    const auto gy = grads[0].reshape({-1, merged.size(0)});  // (N, out), the forward's dtype
    at::Tensor grad_x, grad_v;
    if (ctx->needs_input_grad(0))
      grad_x = gy.mm(merged.to(gy.scalar_type())).to(x.scalar_type()).reshape(x.sizes());
    if (ctx->needs_input_grad(1)) {
      const auto x2 = x.reshape({-1, merged.size(1)}).to(gy.scalar_type());
      grad_v = gy.t().mm(x2).view({-1}).index_select(0, indices);  // (gyᵀ x) at the entries
      grad_v = grad_v.to(static_cast<at::ScalarType>(ctx->saved_data["values_dtype"].toInt()));
    }
    return {grad_x, grad_v, at::Tensor(), at::Tensor()};
  }
};

template <typename T>
const void* impl_of(const T& t) {
  return t.unsafeGetTensorImpl();
}
}  // namespace

SparseKernel parse_sparse_kernel(const std::string& name) {
  if (name == "gather") return SparseKernel::Gather;
  if (name == "csr") return SparseKernel::Csr;
  if (name == "merged") return SparseKernel::Merged;
  fail(kComponent, "unknown sparse kernel \"{}\" (expected gather, csr or merged)", name);
}

std::string to_string(SparseKernel kernel) {
  switch (kernel) {
    case SparseKernel::Csr:
      return "csr";
    case SparseKernel::Merged:
      return "merged";
    default:
      return "gather";
  }
}

SparsePattern SparsePattern::from_indices(const at::Tensor& indices, int64_t out, int64_t in) {
  RETAIN_CHECK(out >= 1 && in >= 1, kComponent, "a sparse pattern needs a non-empty weight, got {} × {}", out, in);
  SparsePattern p;
  p.out = out;
  p.in = in;
  p.indices = std::get<0>(indices.to(at::kLong).sort());
  check_indices(p.indices, out, in, "sparse pattern");
  const auto device = p.indices.device();
  const auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  p.rows = p.indices.div(in, "floor");
  p.cols = p.indices - p.rows * in;
  p.crow = at::searchsorted(p.rows, at::arange(out + 1, long_options));
  p.t_order = std::get<1>((p.cols * out + p.rows).sort());
  p.t_cols = p.rows.index_select(0, p.t_order);
  p.t_crow = at::searchsorted(p.cols.index_select(0, p.t_order), at::arange(in + 1, long_options));
  return p;
}

at::Tensor sparse_delta_matmul(const at::Tensor& x, const SparsePattern& p, const at::Tensor& values,
                               SparseKernel kernel) {
  RETAIN_CHECK(x.dim() == 2 && x.size(1) == p.in, kComponent, "input [{}] does not fit a pattern of a {} × {} weight",
               fmt::join(x.sizes(), ", "), p.out, p.in);
  RETAIN_CHECK(values.dim() == 1 && values.numel() == p.nnz(), kComponent, "{} values for a pattern of {} entries",
               values.numel(), p.nnz());
  if (p.nnz() == 0) return at::zeros({x.size(0), p.out}, x.options());
  RETAIN_CHECK(kernel != SparseKernel::Merged, kComponent,
               "the merged kernel computes the whole layer (merged_sparse_linear), not the sparse product alone");
  RETAIN_CHECK(kernel == SparseKernel::Gather || x.is_cuda() || !half_precision(x.scalar_type()), kComponent,
               "the csr kernel needs float32 or float64 on the CPU (got {}); use kernel gather",
               c10::toString(x.scalar_type()));
  return SparseDeltaFunction::apply(x, values, p, static_cast<int64_t>(kernel));
}

at::Tensor merged_sparse_linear(const at::Tensor& x, const at::Tensor& merged, const at::Tensor& bias,
                                const at::Tensor& indices, const at::Tensor& values) {
  RETAIN_CHECK(merged.dim() == 2 && x.dim() >= 1 && x.size(-1) == merged.size(1), kComponent,
               "input [{}] does not fit a {} × {} weight", fmt::join(x.sizes(), ", "), merged.size(0), merged.size(1));
  RETAIN_CHECK(values.dim() == 1 && indices.dim() == 1 && values.numel() == indices.numel(), kComponent,
               "{} values for {} entries", values.numel(), indices.numel());
  auto y = MergedSparseFunction::apply(x, values, merged.detach(), indices);
  return bias.defined() ? y + bias.detach() : y;
}

at::Tensor sparse_to_dense(const at::Tensor& indices, const at::Tensor& values, int64_t out, int64_t in) {
  RETAIN_CHECK(indices.dim() == 1 && values.dim() == 1 && indices.numel() == values.numel(), kComponent,
               "{} indices for {} values", indices.numel(), values.numel());
  return at::zeros({out * in}, values.options())
      .index_add(0, indices.to(values.device(), at::kLong), values)
      .view({out, in});
}

SparseExpertImpl::SparseExpertImpl(at::Tensor indices_, const at::Tensor& values_, uint64_t owners_)
    : indices(std::move(indices_)), owners(owners_) {
  values = register_parameter("values", values_.detach().clone());
}

SparseExpertsImpl::SparseExpertsImpl(int64_t in, int64_t out, SparseKernel kernel_)
    : in_features(in), out_features(out), kernel(kernel_) {}

void SparseExpertsImpl::set_expert(const std::string& name, const at::Tensor& indices, const at::Tensor& values,
                                   uint64_t owners) {
  RETAIN_CHECK(!name.empty() && name.find('.') == std::string::npos, kComponent,
               "expert name \"{}\" must be non-empty and contain no '.'", name);
  RETAIN_CHECK(owners != 0, kComponent, "expert {} has no owner task", name);
  check_indices(indices, out_features, in_features, "expert " + name);
  RETAIN_CHECK(values.dim() == 1 && values.numel() == indices.numel() && values.is_floating_point(), kComponent,
               "expert {}: {} floating-point values expected, got [{}] {}", name, indices.numel(),
               fmt::join(values.sizes(), ", "), c10::toString(values.scalar_type()));
  auto expert = std::make_shared<SparseExpertImpl>(indices.to(values.device()), values, owners);
  auto it = std::find_if(experts_.begin(), experts_.end(), [&](const auto& e) { return e.first == name; });
  if (it != experts_.end()) {
    unregister_module(name);
    it->second = expert;
  } else {
    experts_.emplace_back(name, expert);
  }
  register_module(name, expert);
  caches_.clear();
}

void SparseExpertsImpl::remove_expert(const std::string& name) {
  auto it = std::find_if(experts_.begin(), experts_.end(), [&](const auto& e) { return e.first == name; });
  RETAIN_CHECK(it != experts_.end(), kComponent, "no expert named \"{}\"", name);
  unregister_module(name);
  experts_.erase(it);
  caches_.clear();
}

std::shared_ptr<SparseExpertImpl> SparseExpertsImpl::expert(const std::string& name) const {
  for (const auto& [n, e] : experts_)
    if (n == name) return e;
  return nullptr;
}

void SparseExpertsImpl::set_route(int64_t task) {
  RETAIN_CHECK(task >= -1 && task < 64, kComponent, "route {} is outside [-1, 64)", task);
  groups_.clear();
  batch_ = 0;
  single_route_ = task;
  if (task < 0) work_ = WorkingWeight();
}

void SparseExpertsImpl::set_routes(const at::Tensor& routes, const at::Tensor& weights) {
  RETAIN_CHECK(routes.defined() && (routes.dim() == 1 || routes.dim() == 2) && routes.size(0) >= 1, kComponent,
               "routes must be (batch,) or (batch, k), got [{}]",
               routes.defined() ? fmt::format("{}", fmt::join(routes.sizes(), ", ")) : "");
  RETAIN_CHECK(!weights.defined() || weights.sizes() == routes.sizes(), kComponent,
               "weights [{}] must have the routes' shape [{}]", fmt::join(weights.sizes(), ", "),
               fmt::join(routes.sizes(), ", "));
  const auto r = (routes.dim() == 1 ? routes.unsqueeze(1) : routes).to(at::kCPU, at::kLong).contiguous();
  at::Tensor w;
  if (weights.defined())
    w = (weights.dim() == 1 ? weights.unsqueeze(1) : weights).to(at::kCPU, at::kFloat).contiguous();
  const int64_t b = r.size(0), k = r.size(1);
  const auto* rp = r.data_ptr<int64_t>();
  std::vector<Group> groups;
  for (int64_t i = 0; i < k; ++i) {
    std::map<int64_t, std::vector<int64_t>> by_route;
    for (int64_t s = 0; s < b; ++s) {
      const int64_t route = rp[s * k + i];
      RETAIN_CHECK(route >= -1 && route < 64, kComponent, "route {} of sample {} is outside [-1, 64)", route, s);
      if (route >= 0) by_route[route].push_back(s);
    }
    for (auto& [route, samples] : by_route) {
      Group g;
      g.route = route;
      auto index = at::tensor(samples, at::kLong);
      if (w.defined()) g.weights = w.select(1, i).index_select(0, index).view({-1, 1, 1});
      if (static_cast<int64_t>(samples.size()) < b) g.samples = index;
      groups.push_back(std::move(g));
    }
  }
  single_route_ = -1;
  batch_ = b;
  groups_ = std::move(groups);
  work_ = WorkingWeight();
}

void SparseExpertsImpl::clear_routes() {
  single_route_ = -1;
  batch_ = 0;
  groups_.clear();
  work_ = WorkingWeight();
}

SparseKernel SparseExpertsImpl::product_kernel(const at::Tensor& x) const {
  if (kernel != SparseKernel::Merged) return kernel;
  return x.is_cuda() ? SparseKernel::Csr : SparseKernel::Gather;
}

const at::Tensor& SparseExpertsImpl::working_weight(const at::Tensor& weight, const SparsePattern& pattern,
                                                    const at::Tensor& values, const RouteCache& cache) {
  torch::NoGradGuard no_grad;
  WorkingWeight& w = work_;
  const auto weight_version = static_cast<uint32_t>(weight._version());
  if (!w.tensor.defined() || w.source != impl_of(weight) || w.source_version != weight_version) {
    w = WorkingWeight();
    w.tensor = weight.detach().clone();
    w.source = impl_of(weight);
    w.source_version = weight_version;
  }
  std::vector<std::pair<const void*, uint32_t>> versions;
  for (const auto& e : cache.experts) versions.emplace_back(impl_of(e->values), static_cast<uint32_t>(e->values._version()));
  const bool same_entries = w.written.defined() && impl_of(w.written) == impl_of(pattern.indices);
  if (same_entries && versions == w.values_versions) return w.tensor;
  auto flat = w.tensor.view({-1});
  const auto base = weight.detach().reshape({-1});
  if (w.written.defined() && !same_entries) flat.index_copy_(0, w.written, base.index_select(0, w.written));
  flat.index_copy_(0, pattern.indices, base.index_select(0, pattern.indices) + values.detach().to(weight.scalar_type()));
  w.written = pattern.indices;
  w.values_versions = std::move(versions);
  return w.tensor;
}

const SparseExpertsImpl::RouteCache& SparseExpertsImpl::cache_for(int64_t task) {
  auto it = caches_.find(task);
  if (it != caches_.end()) return it->second;
  RouteCache c;
  std::vector<at::Tensor> indices;
  for (const auto& [name, e] : experts_)
    if (e->owners >> task & 1u) {
      c.experts.push_back(e);
      indices.push_back(e->indices.to(e->values.device()));
    }
  if (indices.empty()) {
    c.pattern.out = out_features;
    c.pattern.in = in_features;
  } else if (indices.size() == 1) {
    c.pattern = SparsePattern::from_indices(indices[0], out_features, in_features);
  } else {
    const auto all = at::cat(indices);
    auto [sorted, order] = all.sort();
    auto [unique, inverse, counts] = at::unique_consecutive(sorted, /*return_inverse=*/true);
    c.pattern = SparsePattern::from_indices(unique, out_features, in_features);
    const bool identity = unique.numel() == all.numel() && order.equal(at::arange(all.numel(), order.options()));
    if (!identity) c.slots = at::empty_like(inverse).scatter_(0, order, inverse);
  }
  return caches_.emplace(task, std::move(c)).first->second;
}

std::pair<SparsePattern, at::Tensor> SparseExpertsImpl::route_delta(int64_t task) {
  const RouteCache& c = cache_for(task);
  if (c.experts.empty()) return {c.pattern, at::Tensor()};
  std::vector<at::Tensor> values;
  for (const auto& e : c.experts) values.push_back(e->values);
  at::Tensor v = values.size() == 1 ? values[0] : at::cat(values);
  if (c.slots.defined()) v = at::zeros({c.pattern.nnz()}, v.options()).index_add(0, c.slots, v);
  return {c.pattern, v};
}

at::Tensor SparseExpertsImpl::delta_weight_for(int64_t task) const {
  at::Tensor total;
  for (const auto& [name, e] : experts_)
    if (e->owners >> task & 1u) {
      auto d = sparse_to_dense(e->indices, e->values, out_features, in_features);
      total = total.defined() ? total + d : d;
    }
  if (total.defined()) return total;
  const auto options =
      experts_.empty() ? at::TensorOptions().dtype(at::kFloat) : experts_.front().second->values.options();
  return at::zeros({out_features, in_features}, options);
}

at::Tensor SparseExpertsImpl::delta(const at::Tensor& x) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  RETAIN_CHECK(!shape.empty() && shape.back() == in_features, kComponent,
               "input [{}] does not fit a layer with {} inputs", fmt::join(x.sizes(), ", "), in_features);
  shape.back() = out_features;
  if (single_route_ >= 0) {
    auto [pattern, values] = route_delta(single_route_);
    if (!values.defined()) return at::zeros(shape, x.options());
    return sparse_delta_matmul(x.reshape({-1, in_features}), pattern, values, product_kernel(x)).reshape(shape);
  }
  RETAIN_CHECK(x.dim() >= 2 && x.size(0) == batch_, kComponent, "input [{}] does not fit routes for {} samples",
               fmt::join(x.sizes(), ", "), batch_);
  auto x3 = x.reshape({batch_, -1, in_features});
  const int64_t tokens = x3.size(1);
  auto out = at::zeros({batch_, tokens, out_features}, x.options());
  for (auto& g : groups_) {
    auto [pattern, values] = route_delta(g.route);
    if (!values.defined()) continue;
    if (g.samples.defined() && g.samples.device() != x.device()) g.samples = g.samples.to(x.device());
    if (g.weights.defined() && g.weights.device() != x.device()) g.weights = g.weights.to(x.device());
    const auto xs = g.samples.defined() ? x3.index_select(0, g.samples) : x3;
    auto d = sparse_delta_matmul(xs.reshape({-1, in_features}), pattern, values, product_kernel(x))
                 .reshape({xs.size(0), tokens, out_features});
    if (g.weights.defined()) d = d * g.weights.to(d.scalar_type());
    out = g.samples.defined() ? out.index_add(0, g.samples, d) : out + d;
  }
  return out.reshape(shape);
}

at::Tensor SparseExpertsImpl::forward(const at::Tensor& x) {
  if (has_routes()) return delta(x);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out_features;
  return at::zeros(shape, x.options());
}

at::Tensor SparseExpertsImpl::product(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (kernel != SparseKernel::Merged || single_route_ < 0 || weight.requires_grad()) return {};
  const RouteCache& cache = cache_for(single_route_);
  if (cache.experts.empty()) return {};
  auto [pattern, values] = route_delta(single_route_);
  const at::Tensor& merged = working_weight(weight, pattern, values, cache);
  if (!at::GradMode::is_enabled() || !values.requires_grad())
    return bias.defined() ? at::linear(x, merged, bias) : at::linear(x, merged);
  return merged_sparse_linear(x, merged, bias, pattern.indices, values);
}

at::Tensor SparseExpertsImpl::add_to(at::Tensor y, const at::Tensor& x) {
  if (!has_routes()) return y;
  auto d = delta(x);
  if (at::GradMode::is_enabled()) return y + d;
  return y.add_(d);
}

at::Tensor SparseExpertsImpl::delta_weight() const {
  RETAIN_CHECK(groups_.empty(), kComponent,
               "sparse experts routed per sample apply a different ΔW to each sample: there is no single ΔW to merge");
  if (single_route_ < 0) {
    const auto options =
        experts_.empty() ? at::TensorOptions().dtype(at::kFloat) : experts_.front().second->values.options();
    return at::zeros({out_features, in_features}, options);
  }
  return delta_weight_for(single_route_);
}

}  // namespace retain
