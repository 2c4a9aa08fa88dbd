#include "retain/train/methods/seta.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/io/safetensors.h"
#include "retain/model/module_names.h"
#include "retain/train/batch_forward.h"
#include "retain/dist/bucketed_all_reduce.h"
#include "retain/dist/shard.h"
#include "retain/train/fisher.h"
#include "retain/train/prompt_features.h"
#include "retain/train/subset.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

namespace retain {

namespace {
constexpr const char* kComponent = "seta";
constexpr const char* kExpertsFormat = "retain.seta_experts/1";
constexpr const char* kGateFormat = "retain.seta_gate/1";

// The target matrices: layers ≥ feature_layers whose name ends with one of target_modules.
std::vector<std::pair<std::string, AdaptedLinear>> target_layers(CausalLM& model, const SetaSettings& s,
                                                                 int64_t feature_layers) {
  std::vector<std::pair<std::string, AdaptedLinear>> out;
  for (auto& [name, linear] : model->linear_layers())
    if (decoder_layer_of(name) >= feature_layers && module_matches_any(name, s.target_modules))
      out.emplace_back(name, linear);
  return out;
}

// ρ: `density`, or trainable_share of all (base) parameters spread over the target matrices.
double resolve_density(CausalLM& model, const SetaSettings& s, int64_t feature_layers) {
  if (s.lora_rank_budget > 0) return 0;
  if (s.density > 0) return s.density;
  int64_t total = 0, targets = 0;
  for (auto& [name, p] : model->base_parameters()) total += p.numel();
  for (auto& [name, linear] : target_layers(model, s, feature_layers)) targets += linear->weight.numel();
  RETAIN_CHECK(targets > 0, kComponent, "target_modules {} match no layer at or above layer {}",
               fmt::join(s.target_modules, ", "), feature_layers);
  return std::min(1.0, s.trainable_share * static_cast<double>(total) / static_cast<double>(targets));
}

json to_json(const SETA::TaskExperts& e) {
  return {{"task", e.task},
          {"unique", e.unique},
          {"shared", e.shared},
          {"shared_new", e.shared_new},
          {"shared_moved", e.shared_moved},
          {"new_values", e.new_values},
          {"total_values", e.total_values}};
}

SETA::TaskExperts task_experts_from(const json& j) {
  SETA::TaskExperts e;
  e.task = j.at("task").get<std::string>();
  e.unique = j.at("unique").get<int64_t>();
  e.shared = j.at("shared").get<int64_t>();
  e.shared_new = j.at("shared_new").get<int64_t>();
  e.shared_moved = j.at("shared_moved").get<int64_t>();
  e.new_values = j.at("new_values").get<int64_t>();
  e.total_values = j.at("total_values").get<int64_t>();
  return e;
}
}  // namespace

void SetaSettings::validate(const std::string& where) const {
  auto one_of = [&](const std::string& key, const std::string& value, const std::vector<std::string>& allowed) {
    RETAIN_CHECK(std::find(allowed.begin(), allowed.end(), value) != allowed.end(), "config",
                 "{}.{} = \"{}\" is not known: expected {}", where, key, value, fmt::join(allowed, " | "));
  };
  RETAIN_CHECK(!target_modules.empty(), "config", "{}.target_modules must name at least one module", where);
  RETAIN_CHECK(trainable_share > 0 && trainable_share <= 1, "config", "{}.trainable_share must be in (0, 1], got {}",
               where, trainable_share);
  RETAIN_CHECK(density >= 0 && density <= 1, "config", "{}.density must be in [0, 1] (0: from trainable_share), got {}",
               where, density);
  RETAIN_CHECK(lora_rank_budget >= 0, "config", "{}.lora_rank_budget must be >= 0, got {}", where, lora_rank_budget);
  one_of("selection", selection, {"sensitivity", "fisher"});
  RETAIN_CHECK(selection_batches >= 1 && selection_batch_size >= 1, "config",
               "{}.selection_batches and selection_batch_size must be at least 1, got {} and {}", where,
               selection_batches, selection_batch_size);
  RETAIN_CHECK(anchor_lambda >= 0, "config", "{}.anchor_lambda must be >= 0, got {}", where, anchor_lambda);
  one_of("importance_norm", importance_norm, {"mean", "max", "none"});
  RETAIN_CHECK(importance_samples >= 1, "config", "{}.importance_samples must be at least 1, got {}", where,
               importance_samples);
  RETAIN_CHECK(feature_layers >= 0, "config", "{}.feature_layers must be >= 0, got {}", where, feature_layers);
  RETAIN_CHECK(feature_batch_size >= 1, "config", "{}.feature_batch_size must be at least 1, got {}", where,
               feature_batch_size);
  RETAIN_CHECK(gate_hidden >= 0, "config", "{}.gate_hidden must be >= 0, got {}", where, gate_hidden);
  RETAIN_CHECK(gate_lr > 0, "config", "{}.gate_lr must be positive, got {}", where, gate_lr);
  RETAIN_CHECK(gate_steps >= 0, "config", "{}.gate_steps must be >= 0, got {}", where, gate_steps);
  RETAIN_CHECK(gate_kl >= 0, "config", "{}.gate_kl must be >= 0, got {}", where, gate_kl);
  RETAIN_CHECK(pseudo_samples >= 1, "config", "{}.pseudo_samples must be at least 1, got {}", where, pseudo_samples);
  one_of("covariance", covariance, {"full", "diagonal"});
  RETAIN_CHECK(covariance_shrinkage >= 0 && covariance_shrinkage <= 1, "config",
               "{}.covariance_shrinkage must be in [0, 1], got {}", where, covariance_shrinkage);
  RETAIN_CHECK(top_k >= 1, "config", "{}.top_k must be at least 1, got {}", where, top_k);
  one_of("kernel", kernel, {"auto", "gather", "csr", "merged"});
}

SETA::SETA(SetaSettings settings) : settings_(std::move(settings)) { settings_.validate(); }

std::string SETA::expert_name(uint64_t owners, bool unique) {
  const auto tasks = owner_tasks(owners);
  RETAIN_CHECK(!tasks.empty() && (!unique || tasks.size() == 1), kComponent, "a {} expert with {} owners",
               unique ? "unique" : "shared", tasks.size());
  std::string name = unique ? "unique" : "shared";
  for (int64_t t : tasks) name += "_t" + std::to_string(t);
  return name;
}

std::vector<std::pair<std::string, SparseExperts>> SETA::expert_layers() const {
  std::vector<std::pair<std::string, SparseExperts>> out;
  for (const auto& l : layers_) out.emplace_back(l.module, l.adapter);
  return out;
}

void SETA::attach(RunContext& run) {
  layers_.clear();
  density_ = resolve_density(run.model, settings_, feature_layers_);
  for (auto& [name, linear] : target_layers(run.model, settings_, feature_layers_)) {
    Layer l;
    l.module = name;
    l.weight = linear->weight;
    const int64_t out = linear->out_features, in = linear->in_features;
    l.entries = settings_.lora_rank_budget > 0 ? std::min(settings_.lora_rank_budget * (in + out), out * in)
                                               : top_count(out * in, density_);
    if (auto existing = std::dynamic_pointer_cast<SparseExpertsImpl>(linear->adapter(kAdapterName))) {
      l.adapter = SparseExperts(existing);
    } else {
      l.adapter = SparseExperts(in, out, kernel_);
      linear->add_adapter(kAdapterName, l.adapter.ptr());
    }
    l.adapter->kernel = kernel_;
    layers_.push_back(std::move(l));
  }
  RETAIN_CHECK(!layers_.empty(), kComponent, "target_modules {} match no layer at or above layer {}",
               fmt::join(settings_.target_modules, ", "), feature_layers_);
}

void SETA::on_run_start(RunContext& run) {
  const int64_t n_layers = run.model->config.num_hidden_layers;
  feature_layers_ = resolve_feature_layers(settings_.feature_layers, n_layers);
  RETAIN_CHECK(feature_layers_ < n_layers, kComponent, "a {}-layer model leaves no layer for the experts", n_layers);
  RETAIN_CHECK(static_cast<int64_t>(run.tasks.size()) <= kSetaMaxTasks, kComponent,
               "{} tasks: owner sets hold at most {} tasks", run.tasks.size(), kSetaMaxTasks);
  kernel_ = settings_.kernel == "auto" ? SparseKernel::Merged : parse_sparse_kernel(settings_.kernel);
  attach(run);
  gate_ = std::make_shared<SetaGate>(SetaGate::create(run.model->config.hidden_size, settings_.gate_hidden,
                                                      run.seed * 1000003ull + 0x6A7E, run.device));
  stats_.clear();
  task_experts_.clear();
  anchors_.clear();
}

std::vector<at::Tensor> SETA::select_entries(TaskContext& ctx) {
  RunContext& run = ctx.run;
  const auto& examples = ctx.train_examples();
  RETAIN_CHECK(!examples.empty(), kComponent, "task \"{}\" has no training examples to select experts with",
               ctx.task().name);
  const int64_t per_batch = settings_.selection_batch_size;
  const auto rows = random_subset(static_cast<int64_t>(examples.size()), settings_.selection_batches * per_batch,
                                  {run.seed, static_cast<uint64_t>(ctx.task_index), uint64_t{0x5E7A}});
  std::vector<at::Tensor> weights;
  for (auto& l : layers_) weights.push_back(l.weight);
  const bool fisher = settings_.selection == "fisher";
  std::vector<at::Tensor> squares;  // fisher: Σ_b (∇W L_b)² in float32, one per matrix
  if (fisher)
    for (auto& w : weights) squares.push_back(at::zeros(w.sizes(), w.options().dtype(at::kFloat).requires_grad(false)));
  GradientsOnly only(run.model, weights);
  run.model->eval();
  // Data parallel: each rank takes its contiguous share of the batches (each batch whole, so every
  // batch's mean loss is as in one process); the sums are all-reduced below.
  std::vector<int64_t> batch_starts;
  for (size_t first = 0; first < rows.size(); first += static_cast<size_t>(per_batch))
    batch_starts.push_back(static_cast<int64_t>(first));
  const DistContext& dist = *run.dist;
  if (dist.distributed()) batch_starts = shard_of(batch_starts, dist.rank(), dist.world_size());
  for (const int64_t start : batch_starts) {
    const auto first = static_cast<size_t>(start);
    const std::vector<int64_t> batch(rows.begin() + first, rows.begin() + std::min(rows.size(), first + per_batch));
    auto loss = answer_loss(run.model, run.device, run.autocast_bf16, examples, batch);
    if (!loss.defined()) continue;
    loss.backward();
    if (!fisher) continue;
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < weights.size(); ++i)
      if (weights[i].grad().defined()) {
        squares[i].add_(weights[i].grad().to(at::kFloat).square());
        weights[i].mutable_grad() = at::Tensor();
      }
  }
  torch::NoGradGuard no_grad;
  if (dist.distributed()) {  // Σ over every rank's batches: of the squares (fisher), or of the gradients
    std::vector<at::Tensor> sums;
    at::Tensor has = at::zeros({static_cast<int64_t>(weights.size())}, at::kDouble);
    for (size_t i = 0; i < weights.size(); ++i) {
      if (fisher) {
        sums.push_back(squares[i]);
        continue;
      }
      if (weights[i].grad().defined())
        has[static_cast<int64_t>(i)] = 1;
      else
        weights[i].mutable_grad() = at::zeros_like(weights[i]);
      sums.push_back(weights[i].grad());
    }
    bucketed_all_reduce_sum(dist, sums, static_cast<int64_t>(dist.settings().bucket_mb * (1 << 20)), ReduceDtype::Fp32,
                            "SETA's selection statistics");
    if (!fisher) {
      dist.all_reduce_sum(has, "SETA's selection statistics (which matrices had a gradient)");
      for (size_t i = 0; i < weights.size(); ++i)
        if (has[static_cast<int64_t>(i)].item<double>() == 0) weights[i].mutable_grad() = at::Tensor();
    }
  }
  // One matrix at a time: its float32 scores live only while its entries are selected.
  std::vector<at::Tensor> selected;
  for (size_t i = 0; i < weights.size(); ++i) {
    at::Tensor score;
    if (fisher)
      score = std::move(squares[i]);
    else if (weights[i].grad().defined())
      score = (weights[i].to(at::kFloat) * weights[i].grad().to(at::kFloat)).abs();
    else
      score = at::zeros(weights[i].sizes(), weights[i].options().dtype(at::kFloat));
    weights[i].mutable_grad() = at::Tensor();
    selected.push_back(select_top_k(score, layers_[i].entries));
  }
  return selected;
}

void SETA::split_layer(Layer& layer, const at::Tensor& selected, int64_t task, TaskExperts& counts) {
  auto& adapter = layer.adapter;
  std::vector<ExpertEntries> existing;
  std::vector<std::string> names;
  for (const auto& [name, e] : adapter->experts()) {
    existing.push_back({e->owners, name.rfind("unique", 0) == 0, e->indices});
    names.push_back(name);
  }
  const SplitPlan plan = split_on_share(selected, existing, task);
  const auto device = layer.weight.device();
  const auto options = layer.weight.options().requires_grad(false);
  torch::NoGradGuard no_grad;

  struct Created {
    std::string name;
    at::Tensor indices, values, omega;
    uint64_t owners;
  };
  std::vector<Created> created;
  for (const auto& sh : plan.shared) {  // read the moving values before their experts shrink
    const int64_t n = sh.indices.numel();
    auto values = at::zeros({n}, options);
    const auto source = sh.source;
    for (size_t e = 0; e < existing.size(); ++e) {
      const auto dst = source.eq(static_cast<int64_t>(e)).nonzero().view({-1});
      if (dst.numel() == 0) continue;
      const auto from = adapter->expert(names[e])->values.index_select(0, sh.position.index_select(0, dst).to(device));
      values.index_put_({dst.to(device)}, from);
    }
    const int64_t moved = source.ge(0).sum().item<int64_t>();
    counts.shared += n;
    counts.shared_moved += moved;
    counts.shared_new += n - moved;
    // Ω: the accumulated importance of the earlier owners, at these entries.
    const auto indices = sh.indices.to(device);
    auto omega = at::zeros({n}, at::TensorOptions().dtype(at::kFloat).device(device));
    for (int64_t s : owner_tasks(sh.owners & ~task_bit(task))) {
      RETAIN_CHECK(s < static_cast<int64_t>(layer.importance.size()), kComponent,
                   "{}: no importance of task {} (owners of a shared expert)", layer.module, s);
      const auto& [owned, fisher] = layer.importance[s];
      const auto pos = at::searchsorted(owned, indices).clamp_max(owned.numel() - 1);
      RETAIN_CHECK(owned.index_select(0, pos).equal(indices), kComponent,
                   "{}: task {} owns a shared entry it never selected", layer.module, s);
      omega.add_(fisher.index_select(0, pos));
    }
    created.push_back({expert_name(sh.owners, false), indices, values,
                       normalise_importance(omega, settings_.importance_norm), sh.owners});
  }
  for (size_t e = 0; e < existing.size(); ++e) {  // shared experts lose the entries that moved on
    if (existing[e].unique || plan.keep[e].all().item<bool>()) continue;
    if (!plan.keep[e].any().item<bool>()) {
      adapter->remove_expert(names[e]);
      continue;
    }
    const auto keep = plan.keep[e].nonzero().view({-1}).to(device);
    auto old = adapter->expert(names[e]);
    adapter->set_expert(names[e], old->indices.index_select(0, keep), old->values.index_select(0, keep), old->owners);
  }
  if (plan.unique.numel() > 0) {
    adapter->set_expert(expert_name(task_bit(task), true), plan.unique.to(device), at::zeros({plan.unique.numel()}, options),
                        task_bit(task));
    counts.unique += plan.unique.numel();
  }
  for (auto& c : created) {
    adapter->set_expert(c.name, c.indices, c.values, c.owners);
    anchors_.push_back({adapter->expert(c.name)->values, c.values.clone(), c.omega});
  }
}

void SETA::on_task_start(TaskContext& ctx) {
  RunContext& run = ctx.run;
  const int64_t t = ctx.task_index;
  RETAIN_CHECK(gate_, kComponent, "on_task_start before on_run_start");
  RETAIN_CHECK(static_cast<int64_t>(task_experts_.size()) == t, kComponent,
               "task \"{}\" starts after {} tasks, expected {}", ctx.task().name, task_experts_.size(), t);
  run.model->router = nullptr;
  for (auto& l : layers_) l.adapter->clear_routes();
  anchors_.clear();
  // Sensitivity at the model task t starts from: the base weights (no expert of task t exists yet).
  const auto selected = select_entries(ctx);
  TaskExperts counts;
  counts.task = ctx.task().name;
  for (size_t i = 0; i < layers_.size(); ++i) split_layer(layers_[i], selected[i], t, counts);
  counts.new_values = counts.unique + counts.shared_new;
  for (auto& l : layers_)
    for (const auto& [name, e] : l.adapter->experts()) counts.total_values += e->values.numel();
  task_experts_.push_back(counts);
  for (auto& l : layers_) l.adapter->set_route(t);
}

std::vector<at::Tensor> SETA::trainable(TaskContext& ctx) {
  std::vector<at::Tensor> out;
  for (auto& l : layers_)
    for (const auto& [name, e] : l.adapter->experts())
      if (e->owners >> ctx.task_index & 1u) out.push_back(e->values);
  return out;
}

at::Tensor SETA::anchoring() const {
  if (anchors_.empty() || settings_.anchor_lambda == 0) return {};
  at::Tensor total;
  for (const auto& a : anchors_) {
    auto term = anchoring_penalty(a.values, a.start, a.omega, settings_.anchor_lambda);
    total = total.defined() ? total + term : term;
  }
  return total;
}

at::Tensor SETA::extra_loss(TaskContext&, const Batch&, const at::Tensor&) {
  // The loop adds this to every micro-batch and divides it by their number: once per step in all.
  return anchoring();
}

void SETA::compute_importance(TaskContext& ctx) {
  RunContext& run = ctx.run;
  const int64_t t = ctx.task_index;
  const auto& examples = ctx.train_examples();
  const auto rows = random_subset(static_cast<int64_t>(examples.size()), settings_.importance_samples,
                                  {run.seed, static_cast<uint64_t>(t), uint64_t{0xF15E}});
  auto params = trainable(ctx);
  run.model->eval();
  FisherOptions options;
  options.device = run.device;
  options.autocast_bf16 = run.autocast_bf16;
  options.dist = run.dist.get();  // each rank its share of the rows, the sums all-reduced
  const auto squares = diagonal_fisher(run.model, params, examples, rows, options);
  torch::NoGradGuard no_grad;
  // Per matrix, F_t on M_t (the route's merged, sorted entries; task t's experts are disjoint).
  size_t next = 0;
  for (auto& l : layers_) {
    const auto entries = l.adapter->route_delta(t).first.indices;
    auto fisher = at::zeros({entries.numel()}, at::TensorOptions().dtype(at::kFloat).device(entries.device()));
    for (const auto& [name, e] : l.adapter->experts()) {
      if (!(e->owners >> t & 1u)) continue;
      fisher.index_put_({at::searchsorted(entries, e->indices.to(entries.device()))}, squares[next++]);
    }
    l.importance.resize(static_cast<size_t>(t));
    l.importance.emplace_back(entries.clone(), fisher);
  }
}

void SETA::on_task_end(TaskContext& ctx) {
  RunContext& run = ctx.run;
  const int64_t t = ctx.task_index;
  compute_importance(ctx);
  anchors_.clear();
  // Data parallel: every rank pools its share of the prompts, all rows gathered in order, so every
  // rank fits the same statistics and trains the same gate (seeded).
  const auto features = prompt_features(run.model, prompts_of(ctx.train_examples()), feature_layers_,
                                        settings_.feature_batch_size, *run.dist);
  stats_.resize(static_cast<size_t>(t));
  stats_.push_back(feature_stats(features, settings_.covariance == "diagonal"));
  RETAIN_CHECK(gate_->classes() == t, kComponent, "the gate has {} classes before task {}", gate_->classes(), t);
  gate_->add_class();
  GateTraining o;
  o.lr = settings_.gate_lr;
  o.steps = settings_.gate_steps;
  o.kl = settings_.gate_kl;
  o.replay = settings_.gate_replay;
  o.pseudo_samples = settings_.pseudo_samples;
  o.shrinkage = settings_.covariance_shrinkage;
  const std::vector<FeatureStats> earlier(stats_.begin(), stats_.begin() + t);
  train_gate(*gate_, features, t, earlier, o, run.seed * 1000003ull + static_cast<uint64_t>(t));
}

void SETA::prepare_evaluation(RunContext& run, int64_t tasks_seen) {
  run.model->router = nullptr;
  for (auto& l : layers_) l.adapter->clear_routes();
  if (tasks_seen == 0) return;  // the base model
  RETAIN_CHECK(gate_ && gate_->classes() == tasks_seen, kComponent,
               "evaluation after {} tasks, but the gate has {} classes", tasks_seen, gate_ ? gate_->classes() : 0);
  std::vector<SparseExperts> adapters;
  for (auto& l : layers_) adapters.push_back(l.adapter);
  const int64_t top_k = settings_.top_k;
  run.model->router = std::make_shared<PooledPromptRouter>(
      run.model->model->norm, feature_layers_,
      [gate = gate_, adapters = std::move(adapters), top_k](const at::Tensor& features) mutable {
        auto [routes, weights] = gate->route(features, top_k);
        for (auto& adapter : adapters) adapter->set_routes(routes, top_k > 1 ? weights : at::Tensor());
      });
}

std::optional<std::vector<double>> SETA::routing_accuracy(RunContext& run, int64_t tasks_seen) {
  if (tasks_seen == 0) return std::nullopt;
  std::vector<double> accuracy;
  for (int64_t i = 0; i < tasks_seen; ++i) {
    const Task& task = run.tasks[i];
    const auto prompts = test_prompts(run, task);
    RETAIN_CHECK(!prompts.empty(), kComponent, "task \"{}\" has an empty test split", task.name);
    torch::NoGradGuard no_grad;
    const auto features = prompt_features(run.model, prompts, feature_layers_, settings_.feature_batch_size);
    const auto routes = gate_->route(features, 1).first.select(1, 0);
    accuracy.push_back(routes.eq(i).to(at::kDouble).mean().item<double>());
  }
  return accuracy;
}

json SETA::resolved_settings(RunContext& run) const {
  const int64_t layers = resolve_feature_layers(settings_.feature_layers, run.model->config.num_hidden_layers);
  json out = {{"feature_layers", layers}};
  if (settings_.lora_rank_budget == 0) out["density"] = resolve_density(run.model, settings_, layers);
  return out;
}

json SETA::report(RunContext&) {
  json experts = json::array();
  for (const auto& e : task_experts_) experts.push_back(to_json(e));
  return {{"experts", experts}};
}

void SETA::save(RunContext& run, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const int64_t tasks = gate_->classes();
  std::vector<std::string> names;
  for (int64_t t = 0; t < tasks; ++t) names.push_back(run.tasks[t].name);

  std::vector<std::pair<std::string, at::Tensor>> experts;
  json modules = json::object();
  for (const auto& l : layers_) {
    json list = json::array();
    for (const auto& [name, e] : l.adapter->experts()) {
      experts.emplace_back(l.module + ".seta." + name + ".indices", e->indices);
      experts.emplace_back(l.module + ".seta." + name + ".values", e->values.detach());
      list.push_back({{"name", name}, {"owners", owner_tasks(e->owners)}, {"entries", e->indices.numel()}});
    }
    modules[l.module] = {
        {"shape", {l.weight.size(0), l.weight.size(1)}}, {"entries_per_task", l.entries}, {"experts", list}};
  }
  safetensors::save(dir / "experts.safetensors", experts, {{"format", kExpertsFormat}, {"tasks", json(names).dump()}});

  std::vector<std::pair<std::string, at::Tensor>> gate;
  for (const auto& [name, t] : gate_->tensors()) gate.emplace_back(name, t);
  safetensors::save(dir / "gate.safetensors", gate,
                    {{"format", kGateFormat},
                     {"tasks", json(names).dump()},
                     {"hidden", std::to_string(gate_->hidden)},
                     {"feature_layers", std::to_string(feature_layers_)},
                     {"top_k", std::to_string(settings_.top_k)}});

  std::vector<std::pair<std::string, at::Tensor>> stats;
  json counts = json::array();
  for (size_t t = 0; t < stats_.size(); ++t) {
    stats.emplace_back("task" + std::to_string(t) + ".mean", stats_[t].mean);
    stats.emplace_back("task" + std::to_string(t) + ".covariance", stats_[t].covariance);
    counts.push_back(stats_[t].count);
  }
  safetensors::save(dir / "feature_stats.safetensors", stats,
                    {{"tasks", json(names).dump()}, {"covariance", settings_.covariance}, {"counts", counts.dump()}});

  json report_list = json::array();
  for (const auto& e : task_experts_) report_list.push_back(to_json(e));
  const json ownership = {{"format", "retain.seta/1"},    {"tasks", names},     {"feature_layers", feature_layers_},
                          {"kernel", to_string(kernel_)}, {"modules", modules}, {"per_task", report_list}};
  write_file_atomic(dir / "experts.json", ownership.dump(2) + "\n", kComponent);
}

MethodState SETA::state(RunContext&) {
  MethodState s;
  json experts = json::array();
  for (const auto& l : layers_) {
    for (const auto& [name, e] : l.adapter->experts()) {
      experts.push_back({{"module", l.module}, {"name", name}, {"owners", e->owners}});
      s.tensors.emplace_back("experts/" + l.module + "/" + name, e->indices);
    }
    for (size_t t = 0; t < l.importance.size(); ++t) {
      s.tensors.emplace_back("importance/" + l.module + "/" + std::to_string(t) + "/entries", l.importance[t].first);
      s.tensors.emplace_back("importance/" + l.module + "/" + std::to_string(t) + "/fisher", l.importance[t].second);
    }
  }
  json counts = json::array();
  for (size_t t = 0; t < stats_.size(); ++t) {
    s.tensors.emplace_back("stats/" + std::to_string(t) + "/mean", stats_[t].mean);
    s.tensors.emplace_back("stats/" + std::to_string(t) + "/covariance", stats_[t].covariance);
    counts.push_back(stats_[t].count);
  }
  for (const auto& [name, t] : gate_->tensors()) s.tensors.emplace_back("gate/" + name, t);
  json report_list = json::array();
  for (const auto& e : task_experts_) report_list.push_back(to_json(e));
  s.meta = {
      {"experts", experts}, {"feature_layers", feature_layers_}, {"stat_counts", counts}, {"per_task", report_list}};
  return s;
}

void SETA::load_state(RunContext& run, int64_t tasks_done, const MethodState& state) {
  RETAIN_CHECK(gate_, kComponent, "load_state before on_run_start");
  try {
    RETAIN_CHECK(state.meta.at("feature_layers").get<int64_t>() == feature_layers_, kComponent,
                 "the saved state's gate reads layer {}, these settings layer {}",
                 state.meta.at("feature_layers").get<int64_t>(), feature_layers_);
    std::map<std::string, Layer*> by_module;
    for (auto& l : layers_) by_module[l.module] = &l;
    for (const auto& e : state.meta.at("experts")) {
      const auto module = e.at("module").get<std::string>(), name = e.at("name").get<std::string>();
      auto it = by_module.find(module);
      RETAIN_CHECK(it != by_module.end(), kComponent, "the saved state has experts on {}, which carries none here",
                   module);
      Layer& l = *it->second;
      const auto indices = state.tensor("experts/" + module + "/" + name).to(l.weight.device());
      // The values come from the model state the runner restores by name.
      l.adapter->set_expert(name, indices, at::zeros({indices.numel()}, l.weight.options().requires_grad(false)),
                            e.at("owners").get<uint64_t>());
    }
    for (auto& l : layers_) {
      l.importance.clear();
      for (int64_t t = 0; t < tasks_done; ++t) {
        const std::string key = "importance/" + l.module + "/" + std::to_string(t);
        l.importance.emplace_back(state.tensor(key + "/entries").to(l.weight.device()),
                                  state.tensor(key + "/fisher").to(l.weight.device()));
      }
    }
    const auto counts = state.meta.at("stat_counts").get<std::vector<int64_t>>();
    RETAIN_CHECK(static_cast<int64_t>(counts.size()) == tasks_done, kComponent,
                 "the saved state has feature statistics of {} tasks, expected {}", counts.size(), tasks_done);
    stats_.clear();
    for (int64_t t = 0; t < tasks_done; ++t) {
      FeatureStats s;
      s.mean = state.tensor("stats/" + std::to_string(t) + "/mean");
      s.covariance = state.tensor("stats/" + std::to_string(t) + "/covariance");
      s.count = counts[t];
      stats_.push_back(s);
    }
    std::vector<std::pair<std::string, at::Tensor>> gate;
    for (const auto& [name, t] : state.tensors)
      if (name.rfind("gate/", 0) == 0) gate.emplace_back(name.substr(5), t.to(run.device));
    *gate_ = SetaGate::from_tensors(gate, gate_->dim, gate_->hidden, "the saved seta state");
    task_experts_.clear();
    for (const auto& e : state.meta.at("per_task")) task_experts_.push_back(task_experts_from(e));
  } catch (const json::exception& e) {
    fail(kComponent, "the saved state's meta is malformed ({})", e.what());
  }
  RETAIN_CHECK(gate_->classes() == tasks_done && static_cast<int64_t>(task_experts_.size()) == tasks_done, kComponent,
               "the saved state holds a gate of {} classes and {} tasks' experts, expected {}", gate_->classes(),
               task_experts_.size(), tasks_done);
  anchors_.clear();
}

void SetaCheckpoint::set_routes(const at::Tensor& routes, const at::Tensor& weights) const {
  for (auto adapter : adapters) adapter->set_routes(routes, weights);  // holders: shared modules
}

SetaCheckpoint load_seta_checkpoint(CausalLM& model, const std::filesystem::path& dir) {
  const auto ownership_path = dir / "experts.json", experts_path = dir / "experts.safetensors",
             gate_path = dir / "gate.safetensors";
  for (const auto& p : {ownership_path, experts_path, gate_path})
    RETAIN_CHECK(std::filesystem::is_regular_file(p), kComponent, "{}: no {} (a seta checkpoint holds experts.json, "
                 "experts.safetensors and gate.safetensors)", dir.string(), p.filename().string());
  const json ownership = read_json_file(ownership_path, kComponent);
  SetaCheckpoint c;
  std::vector<std::tuple<std::string, std::string, uint64_t>> wanted;  // module, expert, owners
  std::string kernel;
  std::map<std::string, std::pair<int64_t, int64_t>> shapes;
  try {
    RETAIN_CHECK(ownership.at("format").get<std::string>() == "retain.seta/1", kComponent,
                 "{}: \"format\" is {}, expected \"retain.seta/1\"", ownership_path.string(), ownership.at("format").dump());
    c.tasks = ownership.at("tasks").get<std::vector<std::string>>();
    c.feature_layers = ownership.at("feature_layers").get<int64_t>();
    kernel = ownership.at("kernel").get<std::string>();
    for (const auto& [module, m] : ownership.at("modules").items()) {
      const auto shape = m.at("shape").get<std::vector<int64_t>>();
      RETAIN_CHECK(shape.size() == 2, kComponent, "{}: modules.{}.shape must be [out, in]", ownership_path.string(), module);
      shapes[module] = {shape[0], shape[1]};
      for (const auto& e : m.at("experts")) {
        uint64_t owners = 0;
        for (int64_t t : e.at("owners").get<std::vector<int64_t>>()) {
          RETAIN_CHECK(t >= 0 && t < static_cast<int64_t>(c.tasks.size()), kComponent,
                       "{}: modules.{}: an owner task {} outside the {} tasks", ownership_path.string(), module, t, c.tasks.size());
          owners |= task_bit(t);
        }
        wanted.emplace_back(module, e.at("name").get<std::string>(), owners);
      }
    }
  } catch (const json::exception& e) {
    fail(kComponent, "{}: malformed ({})", ownership_path.string(), e.what());
  }
  RETAIN_CHECK(!c.tasks.empty(), kComponent, "{}: no tasks", ownership_path.string());
  const auto n_layers = model->config.num_hidden_layers;
  RETAIN_CHECK(c.feature_layers >= 0 && c.feature_layers < n_layers, kComponent,
               "{}: feature_layers {} outside this {}-layer model", ownership_path.string(), c.feature_layers, n_layers);

  std::map<std::string, AdaptedLinear> linears;
  for (auto& [name, linear] : model->linear_layers()) linears.emplace(name, linear);
  const auto experts = safetensors::File::open(experts_path);
  const auto format_of = [](const safetensors::File& f) {
    const auto it = f.metadata().find("format");
    return it == f.metadata().end() ? std::string("(none)") : it->second;
  };
  RETAIN_CHECK(format_of(experts) == kExpertsFormat, kComponent, "{}: format \"{}\", expected \"{}\"",
               experts_path.string(), format_of(experts), kExpertsFormat);
  const auto kind = parse_sparse_kernel(kernel);
  std::map<std::string, SparseExperts> by_module;
  for (const auto& [module, name, owners] : wanted) {
    auto it = linears.find(module);
    RETAIN_CHECK(it != linears.end(), kComponent, "{}: experts on {}, which this model does not have", ownership_path.string(), module);
    AdaptedLinear& linear = it->second;
    const auto [out, in] = shapes.at(module);
    RETAIN_CHECK(linear->out_features == out && linear->in_features == in, kComponent,
                 "{}: {} is [{}, {}] there, [{}, {}] in this model", ownership_path.string(), module, out, in,
                 linear->out_features, linear->in_features);
    auto [slot, fresh] = by_module.try_emplace(module, nullptr);
    if (fresh) {
      slot->second = SparseExperts(in, out, kind);
      linear->add_adapter(SETA::kAdapterName, slot->second.ptr());
      c.adapters.push_back(slot->second);
    }
    const std::string key = module + ".seta." + name;
    RETAIN_CHECK(experts.contains(key + ".indices") && experts.contains(key + ".values"), kComponent,
                 "{}: no tensors {}.indices and .values (experts.json lists them)", experts_path.string(), key);
    const auto& w = linear->weight;
    slot->second->set_expert(name, experts.tensor(key + ".indices").to(w.device(), at::kLong),
                             experts.tensor(key + ".values").to(w.options().requires_grad(false)), owners);
  }
  RETAIN_CHECK(!c.adapters.empty(), kComponent, "{}: no experts", ownership_path.string());

  const auto gate_file = safetensors::File::open(gate_path);
  RETAIN_CHECK(format_of(gate_file) == kGateFormat, kComponent, "{}: format \"{}\", expected \"{}\"",
               gate_path.string(), format_of(gate_file), kGateFormat);
  const auto& meta = gate_file.metadata();
  auto meta_int = [&](const std::string& key) {
    auto it = meta.find(key);
    RETAIN_CHECK(it != meta.end(), kComponent, "{}: no metadata \"{}\"", gate_path.string(), key);
    try {
      return static_cast<int64_t>(std::stoll(it->second));
    } catch (const std::exception&) {
      fail(kComponent, "{}: metadata \"{}\" = \"{}\" is not an integer", gate_path.string(), key, it->second);
    }
  };
  RETAIN_CHECK(meta_int("feature_layers") == c.feature_layers, kComponent,
               "{}: the gate reads layer {}, experts.json says {}", gate_path.string(), meta_int("feature_layers"),
               c.feature_layers);
  c.top_k = meta_int("top_k");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const char* name : {"w1", "b1", "w2", "b2"})
    if (gate_file.contains(name)) tensors.emplace_back(name, gate_file.tensor(name).to(model->model->embed_tokens->weight.device()));
  c.gate = std::make_shared<SetaGate>(
      SetaGate::from_tensors(tensors, model->config.hidden_size, meta_int("hidden"), gate_path.string()));
  RETAIN_CHECK(c.gate->classes() == static_cast<int64_t>(c.tasks.size()), kComponent,
               "{}: a gate of {} classes for the {} tasks of experts.json", gate_path.string(), c.gate->classes(),
               c.tasks.size());
  return c;
}

}  // namespace retain
