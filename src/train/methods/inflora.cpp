#include "retain/train/methods/inflora.h"

#include "retain/dist/shard.h"

#include "retain/core/error.h"
#include "retain/io/safetensors.h"
#include "retain/train/adapter_checkpoint.h"
#include "retain/train/batch_forward.h"
#include "retain/train/subset.h"

#include <torch/torch.h>

#include <algorithm>

namespace retain {

namespace {

constexpr const char* kComponent = "inflora";
// Directions whose energy is below this fraction of tr(C) are round-off of the float64 eigen-solver
// (its error is about in · 2.2e-16 · ‖C‖, < 1e-11 · tr(C) for in ≤ 16384), not inputs.
constexpr double kNegligibleEnergy = 1e-10;

// Sums x xᵀ over the real tokens of each recorded layer's input, batch by batch. A layer whose input
// is the very tensor the previously recorded layer received (v_proj after q_proj) shares its sum.
struct InputRecorder {
  at::Tensor rows;  // flat (B·T) indices of the current batch's real tokens
  std::map<std::string, at::Tensor> sums;
  std::map<std::string, std::string> same_as;
  at::Tensor last_input;  // held, so that its address cannot be reused by a later tensor
  std::string last_module;

  void next_batch(at::Tensor real_rows) {
    rows = std::move(real_rows);
    last_input = at::Tensor();
    last_module.clear();
  }

  void record(const std::string& module, const at::Tensor& x) {
    if (last_input.defined() && x.is_same(last_input)) {
      same_as[module] = last_module;
      return;
    }
    // x: (B, T, in) → the real tokens' rows (N, in), in float64 before the product.
    at::Tensor real = x.reshape({-1, x.size(-1)}).index_select(0, rows).to(at::kDouble);
    at::Tensor xtx = at::matmul(real.t(), real);
    auto it = sums.find(module);
    if (it == sums.end())
      sums.emplace(module, xtx);
    else
      it->second.add_(xtx);
    last_input = x;
    last_module = module;
  }
};

// The adapters named `name`, with their layers.
struct InfLoraLayer {
  std::string module;
  AdaptedLinear linear;
  std::shared_ptr<LoraAdapterImpl> adapter;
};
std::vector<InfLoraLayer> inflora_adapters(CausalLM& model, const std::string& name) {
  std::vector<InfLoraLayer> out;
  for (auto& [module, linear] : model->linear_layers())
    if (auto a = std::dynamic_pointer_cast<LoraAdapterImpl>(linear->adapter(name))) out.push_back({module, linear, a});
  return out;
}

// Each column's largest-magnitude entry (the first, on ties) made positive.
at::Tensor fix_signs(const at::Tensor& vectors) {
  if (vectors.size(1) == 0) return vectors;
  at::Tensor rows = vectors.abs().argmax(0);                 // (cols)
  at::Tensor pivots = vectors.gather(0, rows.unsqueeze(0));  // (1, cols)
  return vectors * (pivots < 0).to(vectors.scalar_type()).mul(-2).add(1);
}

at::Tensor empty_basis(int64_t in) { return at::zeros({in, 0}, at::TensorOptions().dtype(at::kDouble)); }

// The recorder on every adapted layer's input, and eval mode, for one capture pass; the hooks go and
// the training mode comes back however the pass ends.
struct RecordingGuard {
  std::vector<InputHookHandle> hooks;
  CausalLM& model;
  bool was_training;
  RecordingGuard(const std::vector<InfLoraLayer>& layers, CausalLM& m, InputRecorder& recorder)
      : model(m), was_training(m->is_training()) {
    for (auto l : layers)
      hooks.push_back(l.linear->add_input_hook([&recorder, module = l.module](const at::Tensor& x) {
        recorder.record(module, x);
      }));
    model->eval();
  }
  ~RecordingGuard() { model->train(was_training); }
};

}  // namespace

void InfLoraSettings::validate(const std::string& where) const {
  if (lora.r < 1) fail("config", "{}.r = {} must be at least 1", where, lora.r);
  if (!(lora.dropout >= 0 && lora.dropout < 1))
    fail("config", "{}.dropout = {} must be in [0, 1)", where, lora.dropout);
  if (lora.target_modules.empty()) fail("config", "{}.target_modules is empty: name at least one module", where);
  if (samples < 0) fail("config", "{}.samples = {} must be ≥ 0 (0: every training example)", where, samples);
  if (capture_batch_size < 1)
    fail("config", "{}.capture_batch_size = {} must be at least 1", where, capture_batch_size);
  if (!(threshold_start > 0 && threshold_start <= 1))
    fail("config", "{}.threshold_start = {} must be in (0, 1]", where, threshold_start);
  if (!(threshold_end >= threshold_start && threshold_end <= 1))
    fail("config", "{}.threshold_end = {} must be in [threshold_start = {}, 1]", where, threshold_end, threshold_start);
  if (spectrum != "inputs" && spectrum != "covariance")
    fail("config", "{}.spectrum = \"{}\" is not known: expected \"inputs\" or \"covariance\"", where, spectrum);
}

at::Tensor orthogonal_complement(const at::Tensor& basis) {
  RETAIN_CHECK(basis.dim() == 2 && basis.size(1) <= basis.size(0), kComponent,
               "a basis must be in × k with k ≤ in, got [{}]", fmt::join(basis.sizes(), ", "));
  const int64_t in = basis.size(0), k = basis.size(1);
  const auto options = basis.options().dtype(at::kDouble);
  if (k == 0) return at::eye(in, options);
  // Householder QR: the last in − k columns of the complete Q span the complement of span(basis).
  auto [q, r] = at::linalg_qr(basis.to(at::kDouble), "complete");
  return q.narrow(1, k, in - k).contiguous();
}

ProjectedSpectrum projected_spectrum(const at::Tensor& covariance, const at::Tensor& basis) {
  RETAIN_CHECK(covariance.dim() == 2 && covariance.size(0) == covariance.size(1), kComponent,
               "a covariance must be square, got [{}]", fmt::join(covariance.sizes(), ", "));
  RETAIN_CHECK(basis.dim() == 2 && basis.size(0) == covariance.size(0), kComponent,
               "basis [{}] does not fit a covariance of size {}", fmt::join(basis.sizes(), ", "), covariance.size(0));
  const at::Tensor c = covariance.to(at::kDouble);
  const at::Tensor q = orthogonal_complement(basis.to(c.device()));  // (in, in − k)
  if (q.size(1) == 0) return {at::zeros({0}, c.options()), q};
  // Qᵀ C Q is C̃ = (I − MMᵀ) C (I − MMᵀ) written in a basis of the complement: its eigenvectors,
  // mapped back by Q, are those of C̃ that lie outside span(M).
  at::Tensor s = at::matmul(q.t(), at::matmul(c, q));
  s = (s + s.t()) * 0.5;
  auto [values, vectors] = at::linalg_eigh(s);  // ascending
  return {values.flip(0).clamp_min(0), fix_signs(at::matmul(q, vectors.flip(1)))};
}

at::Tensor inflora_down_projection(const at::Tensor& covariance, const at::Tensor& basis, int64_t rank) {
  RETAIN_CHECK(rank >= 1, kComponent, "rank must be at least 1, got {}", rank);
  const ProjectedSpectrum spectrum = projected_spectrum(covariance, basis);
  at::Tensor a = at::zeros({rank, covariance.size(0)}, spectrum.vectors.options());
  const int64_t available = std::min(rank, spectrum.vectors.size(1));
  if (available > 0) a.narrow(0, 0, available).copy_(spectrum.vectors.narrow(1, 0, available).t());
  return a;
}

at::Tensor gpm_extend_basis(const at::Tensor& covariance, const at::Tensor& basis, double threshold) {
  const at::Tensor c = covariance.to(at::kDouble);
  const at::Tensor m = basis.to(c.device()).to(at::kDouble);
  const double total = c.trace().item<double>();
  if (!(total > 0)) return m;  // no input energy at all: nothing to keep
  double captured = m.size(1) > 0 ? at::matmul(m.t(), at::matmul(c, m)).trace().item<double>() : 0.0;
  const ProjectedSpectrum spectrum = projected_spectrum(c, m);
  const at::Tensor values = spectrum.values.to(at::kCPU).contiguous();
  const double* v = values.data_ptr<double>();
  int64_t added = 0;
  while (added < values.numel() && captured < threshold * total && v[added] > kNegligibleEnergy * total)
    captured += v[added++];
  if (added == 0) return m;
  at::Tensor u = spectrum.vectors.narrow(1, 0, added);
  // Lies outside span(M) up to round-off; one more projection and a QR (diag R > 0, so Q ≈ u) make
  // [M, u] orthonormal to machine precision however many tasks accumulate.
  if (m.size(1) > 0) u = u - at::matmul(m, at::matmul(m.t(), u));
  auto [q, r] = at::linalg_qr(u, "reduced");
  q = q * (r.diagonal() < 0).to(q.scalar_type()).mul(-2).add(1).unsqueeze(0);
  return at::cat({m, q}, 1);
}

double inflora_threshold(int64_t task_index, int64_t tasks, double start, double end) {
  if (tasks <= 1) return start;
  return start + (end - start) * static_cast<double>(task_index) / static_cast<double>(tasks - 1);
}

int64_t add_inflora_adapter(CausalLM& model, const LoraConfig& config, const std::string& name) {
  torch::NoGradGuard no_grad;
  int64_t adapted = 0;
  for (auto& [module, linear] : model->linear_layers()) {
    if (!config.targets(module)) continue;
    auto adapter =
        std::make_shared<LoraAdapterImpl>(linear->in_features, linear->out_features, config.rank_for(module),
                                          config.scaling_for(module), config.lora_dropout);
    adapter->to(linear->weight.device(), linear->weight.scalar_type());
    adapter->lora_A.requires_grad_(false);  // fixed before training (on_task_start), never trained
    linear->add_adapter(name, adapter);
    ++adapted;
  }
  RETAIN_CHECK(adapted > 0, kComponent, "target_modules matched no layer of this {} model", model->config.model_type);
  return adapted;
}

std::map<std::string, at::Tensor> inflora_input_covariances(CausalLM& model,
                                                            const std::vector<TokenizedExample>& examples,
                                                            const std::string& adapter_name, int64_t batch_size,
                                                            at::Device device, const DistContext* dist) {
  auto adapters = inflora_adapters(model, adapter_name);
  RETAIN_CHECK(!adapters.empty(), kComponent, "the model has no InfLoRA adapter named \"{}\"", adapter_name);
  RETAIN_CHECK(!examples.empty(), kComponent, "no examples to collect the inputs of adapter \"{}\" from", adapter_name);
  RETAIN_CHECK(batch_size >= 1, kComponent, "batch_size must be at least 1, got {}", batch_size);
  bool needs_head = false;
  for (const auto& l : adapters) needs_head = needs_head || l.module == "lm_head";

  const bool sharded = dist && dist->distributed();
  const ShardRange mine = sharded ? shard_range(static_cast<int64_t>(examples.size()), dist->rank(), dist->world_size())
                                  : ShardRange{0, static_cast<int64_t>(examples.size())};
  RETAIN_CHECK(mine.size() > 0, kComponent,
               "rank {} of {} has no example to capture the inputs of adapter \"{}\" from ({} in all): give "
               "method.inflora.samples at least the number of ranks",
               dist ? dist->rank() : 0, dist ? dist->world_size() : 1, adapter_name, examples.size());
  InputRecorder recorder;
  int64_t tokens = 0;
  {
    torch::NoGradGuard no_grad;
    RecordingGuard guard(adapters, model, recorder);
    const int64_t pad = model->config.pad_token_id.value_or(0);
    const int64_t n = mine.end;
    for (int64_t first = mine.begin; first < n; first += batch_size) {
      std::vector<int64_t> indices;
      for (int64_t i = first; i < std::min(n, first + batch_size); ++i) indices.push_back(i);
      const ForwardInput input = forward_input(collate(examples, indices, pad), device);
      at::Tensor rows = input.attention_mask.reshape({-1}).nonzero().squeeze(1);
      tokens += rows.numel();
      recorder.next_batch(rows);
      if (needs_head)
        model->forward(input);
      else
        model->model->forward(input);  // the head's output is not needed: skip the vocabulary product
    }
  }
  if (sharded) {  // Σ x xᵀ and the token count over every rank's share, in the modules' (sorted) order
    std::vector<at::Tensor> sums;
    for (auto& [module, sum] : recorder.sums) sums.push_back(sum);
    sums.push_back(at::full({1}, tokens, at::kLong).to(sums.empty() ? at::Device(at::kCPU) : sums.front().device()));
    dist->all_reduce_sum(sums, "InfLoRA's input covariances");
    tokens = sums.back().item<int64_t>();
  }
  RETAIN_CHECK(tokens > 0, kComponent, "the examples hold no real token");
  std::map<std::string, at::Tensor> means;
  for (auto& [module, sum] : recorder.sums) means.emplace(module, sum / static_cast<double>(tokens));
  std::map<std::string, at::Tensor> out;
  for (auto& [module, linear, adapter] : adapters) {
    auto own = means.find(module);
    auto shared = recorder.same_as.find(module);
    RETAIN_CHECK((own != means.end()) != (shared != recorder.same_as.end()), kComponent,
                 "{}: its inputs were {} during the capture pass", module,
                 own == means.end() ? "never seen" : "both its own and another layer's");
    out.emplace(module, own != means.end() ? own->second : means.at(shared->second));
  }
  return out;
}

InfLoRA::InfLoRA(InfLoraSettings settings) : settings_(std::move(settings)) { settings_.validate(); }

std::map<std::string, at::Tensor> InfLoRA::covariances(TaskContext& ctx) const {
  const auto& all = ctx.train_examples();
  // A uniform random subset (train/subset.h), the same before and after training since the seed
  // depends on the task only. samples = 0: every example.
  const int64_t count = settings_.samples == 0 ? static_cast<int64_t>(all.size()) : settings_.samples;
  const auto subset = pick(all, random_subset(static_cast<int64_t>(all.size()), count,
                                              {ctx.run.seed, static_cast<uint64_t>(ctx.task_index), uint64_t{0x1AF}}));
  auto covs = inflora_input_covariances(ctx.run.model, subset, adapter_name(ctx.task_index),
                                        settings_.capture_batch_size, ctx.run.device, ctx.run.dist.get());
  if (settings_.spectrum == "covariance")  // the reference code's SVD of C: C² in place of C
    for (auto& [module, c] : covs) c = at::matmul(c, c);
  return covs;
}

void InfLoRA::on_task_start(TaskContext& ctx) {
  const std::string name = adapter_name(ctx.task_index);
  add_inflora_adapter(ctx.run.model, settings_.lora.to_lora_config(), name);
  const auto covs = covariances(ctx);
  torch::NoGradGuard no_grad;
  for (auto& [module, linear, adapter] : inflora_adapters(ctx.run.model, name)) {
    const at::Tensor& c = covs.at(module);
    auto basis = bases_.find(module);
    const at::Tensor m = basis != bases_.end() ? basis->second : empty_basis(c.size(0));
    adapter->lora_A.copy_(inflora_down_projection(c, m, adapter->rank));
  }
}

std::vector<at::Tensor> InfLoRA::trainable(TaskContext& ctx) {
  std::vector<at::Tensor> out;
  for (auto& [module, linear, adapter] : inflora_adapters(ctx.run.model, adapter_name(ctx.task_index)))
    out.push_back(adapter->lora_B);
  return out;
}

void InfLoRA::on_task_end(TaskContext& ctx) {
  const auto covs = covariances(ctx);
  const double threshold = inflora_threshold(ctx.task_index, static_cast<int64_t>(ctx.run.tasks.size()),
                                             settings_.threshold_start, settings_.threshold_end);
  torch::NoGradGuard no_grad;
  for (auto& [module, c] : covs) {
    auto basis = bases_.find(module);
    const at::Tensor m = basis != bases_.end() ? basis->second : empty_basis(c.size(0));
    bases_[module] = gpm_extend_basis(c, m, threshold).to(at::kCPU);
  }
  tasks_done_ = ctx.task_index + 1;
}

void InfLoRA::save(RunContext& run, const std::filesystem::path& dir) {
  const LoraConfig config = settings_.lora.to_lora_config();
  AdapterCheckpoint manifest{name(), {}, {}};
  for (int64_t t = 0; t < static_cast<int64_t>(run.tasks.size()); ++t)
    if (!inflora_adapters(run.model, adapter_name(t)).empty()) {
      save_peft_adapter(dir / adapter_name(t), run.model, config, adapter_name(t));
      manifest.tasks.push_back(run.tasks[t].name);
      manifest.adapters.push_back(adapter_name(t));
    }
  if (!manifest.adapters.empty()) write_adapter_manifest(dir, manifest);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [module, m] : bases_)
    if (m.size(1) > 0) tensors.emplace_back("basis." + module, m);
  if (tensors.empty()) return;
  std::filesystem::create_directories(dir);
  safetensors::save(dir / "inflora.safetensors", tensors,
                    {{"tasks", std::to_string(tasks_done_)},
                     {"spectrum", settings_.spectrum},
                     {"threshold_start", std::to_string(settings_.threshold_start)},
                     {"threshold_end", std::to_string(settings_.threshold_end)}});
}

MethodState InfLoRA::state(RunContext&) {
  MethodState s;
  json widths = json::object();
  for (auto& [module, m] : bases_) {
    widths[module] = m.size(1);
    if (m.size(1) > 0) s.tensors.emplace_back("basis." + module, m.detach());
  }
  s.meta = {{"tasks_done", tasks_done_}, {"basis_width", widths}};
  return s;
}

void InfLoRA::load_state(RunContext& run, int64_t tasks_done, const MethodState& state) {
  const int64_t saved = state.meta.value("tasks_done", int64_t{-1});
  RETAIN_CHECK(saved == tasks_done, kComponent, "the saved state holds {} tasks, the run resumes after {}", saved,
               tasks_done);
  const LoraConfig config = settings_.lora.to_lora_config();
  for (int64_t t = 0; t < tasks_done; ++t) add_inflora_adapter(run.model, config, adapter_name(t));
  std::map<std::string, int64_t> in_features;
  for (auto& [module, linear] : run.model->linear_layers()) in_features[module] = linear->in_features;
  bases_.clear();
  RETAIN_CHECK(state.meta.contains("basis_width") && state.meta["basis_width"].is_object(), kComponent,
               "the saved state has no \"basis_width\" table");
  for (const auto& [module, width] : state.meta["basis_width"].items()) {
    auto in = in_features.find(module);
    RETAIN_CHECK(in != in_features.end(), kComponent, "the saved basis of \"{}\" names no layer of this model", module);
    const int64_t k = width.get<int64_t>();
    at::Tensor m = empty_basis(in->second);
    if (k > 0) {
      const at::Tensor& saved_basis = state.tensor("basis." + module);
      RETAIN_CHECK(saved_basis.dim() == 2 && saved_basis.size(0) == in->second && saved_basis.size(1) == k, kComponent,
                   "the saved basis of \"{}\" has shape [{}], expected [{}, {}]", module,
                   fmt::join(saved_basis.sizes(), ", "), in->second, k);
      m = saved_basis.to(at::kCPU, at::kDouble).clone();
    }
    bases_[module] = m;
  }
  tasks_done_ = tasks_done;
}

}  // namespace retain
