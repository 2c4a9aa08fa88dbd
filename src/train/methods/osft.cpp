#include "retain/train/methods/osft.h"

#include "retain/dist/shard.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/model/module_names.h"
#include "retain/train/subset.h"

#include <torch/torch.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace retain {

namespace {

// Cosine of a and b along the last dimension, per token; float32 (float64 for float64 inputs).
at::Tensor token_cosines(const at::Tensor& a, const at::Tensor& b) {
  const auto dtype = a.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor x = a.to(dtype), y = b.to(dtype);
  return (x * y).sum(-1) / (x.square().sum(-1) * y.square().sum(-1)).sqrt().clamp_min(1e-30);
}

// Σ cos(x, W x) over the tokens x that reach a layer (the leading min(in, out) components when W is
// not square), and how many tokens there were.
struct CosineSum {
  double sum = 0;
  int64_t tokens = 0;
};

at::ScalarType basis_dtype(const std::string& setting, const at::Tensor& weight, bool autocast_bf16) {
  if (setting == "float32") return at::kFloat;
  if (setting == "bfloat16" || autocast_bf16) return at::kBFloat16;
  return weight.scalar_type();
}

}  // namespace

void OsftSettings::validate(const std::string& where) const {
  if (!(mrr >= 0 && mrr <= 1)) fail("config", "{}.mrr = {} must be in [0, 1]", where, mrr);
  if (!(trr >= 0 && trr <= 1)) fail("config", "{}.trr = {} must be in [0, 1]", where, trr);
  if (!(ratio >= 0 && ratio <= 1)) fail("config", "{}.ratio = {} must be in [0, 1]", where, ratio);
  parse_osft_projection(projection, where + ".projection");
  if (importance_examples < 1)
    fail("config", "{}.importance_examples = {} must be at least 1", where, importance_examples);
  parse_importance_scope(importance_scope, where + ".importance_scope");
  if (targets.empty()) fail("config", "{}.targets is empty: name at least one module (e.g. \"q_proj\")", where);
  if (non_target != "train" && non_target != "freeze")
    fail("config", "{}.non_target = \"{}\" is not known: expected \"train\" or \"freeze\"", where, non_target);
  if (basis_dtype != "auto" && basis_dtype != "float32" && basis_dtype != "bfloat16")
    fail("config", "{}.basis_dtype = \"{}\" is not known: expected \"auto\", \"float32\" or \"bfloat16\"", where,
         basis_dtype);
}

std::vector<std::string> osft_target_modules(CausalLM& model, const std::vector<std::string>& targets) {
  std::vector<std::string> out;
  for (auto& [name, linear] : model->linear_layers())
    if (module_matches_any(name, targets)) out.push_back(name);
  return out;
}

ImportanceScope parse_importance_scope(const std::string& name, const std::string& where) {
  if (name == "block") return ImportanceScope::block;
  if (name == "matrix") return ImportanceScope::matrix;
  if (name == "truncate") return ImportanceScope::truncate;
  fail("config", "{} = \"{}\" is not known: expected \"block\", \"matrix\" or \"truncate\"", where, name);
}

std::map<std::string, double> osft_importance(CausalLM& model, const std::vector<std::string>& modules,
                                              const std::vector<TokenizedExample>& examples, at::Device device,
                                              ImportanceScope scope,
                                              const DistContext* dist) {
  RETAIN_CHECK(!examples.empty(), "osft", "layer importance needs at least one example");
  torch::NoGradGuard no_grad;
  auto& decoder = model->model;
  const int64_t n_layers = static_cast<int64_t>(decoder->layer_list.size());
  std::map<std::string, AdaptedLinear> layers;
  for (auto& [name, linear] : model->linear_layers()) layers.emplace(name, linear);

  // Matrices read at their own input carry an input hook; the others read their decoder block's cosine.
  std::map<std::string, CosineSum> at_input;
  std::vector<InputHookHandle> hooks;
  std::map<std::string, int64_t> from_block;
  for (const auto& module : modules) {
    auto it = layers.find(module);
    RETAIN_CHECK(it != layers.end(), "osft", "the model has no linear layer named {}", module);
    AdaptedLinear linear = it->second;
    const bool square = linear->in_features == linear->out_features;
    if (scope == ImportanceScope::truncate || (scope == ImportanceScope::matrix && square)) {
      RETAIN_CHECK(linear->adapters().empty(), "osft",
                   "{} carries adapters; osft trains the dense weights of plain layers", module);
      CosineSum& acc = at_input[module];
      hooks.push_back(linear->add_input_hook([&acc, weight = linear->weight.detach(), square](const at::Tensor& x) {
        const at::Tensor y = at::linear(x, weight);
        const int64_t d = std::min(x.size(-1), y.size(-1));
        const at::Tensor a = square ? x : x.narrow(-1, 0, d), b = square ? y : y.narrow(-1, 0, d);
        acc.sum += token_cosines(a, b).sum().item<double>();
        acc.tokens += a.numel() / a.size(-1);
      }));
    } else {
      const int64_t block = decoder_layer_of(module);
      RETAIN_CHECK(block >= 0 && block < n_layers, "osft",
                   "{} is not inside a decoder block, so its importance cannot use the block's hidden states; set "
                   "method.osft.importance_scope = \"truncate\" or rank_rule = \"fixed\"",
                   module);
      from_block[module] = block;
    }
  }

  // The prompt and answer of each example, one at a time, cut to the narrowest sliding window.
  int64_t window = std::numeric_limits<int64_t>::max();
  for (int64_t w : model->config.sliding_window)
    if (w > 0) window = std::min(window, w);
  std::vector<double> block_sum(n_layers, 0.0);
  int64_t block_tokens = 0;
  const bool sharded = dist && dist->distributed();
  const ShardRange mine = sharded ? shard_range(static_cast<int64_t>(examples.size()), dist->rank(), dist->world_size())
                                  : ShardRange{0, static_cast<int64_t>(examples.size())};
  for (int64_t e = mine.begin; e < mine.end; ++e) {
    const auto& example = examples[static_cast<size_t>(e)];
    std::vector<int64_t> ids = example.ids;
    if (static_cast<int64_t>(ids.size()) > window) ids.resize(window);
    if (ids.empty()) continue;
    ForwardInput in;
    in.input_ids = at::tensor(ids, at::kLong).unsqueeze(0).to(device);
    if (!from_block.empty())
      in.on_layer = [&](int64_t i, const at::Tensor& before, const at::Tensor& after) {
        block_sum[i] += token_cosines(before, after).sum().item<double>();
      };
    decoder->forward(in);
    block_tokens += static_cast<int64_t>(ids.size());
  }
  hooks.clear();  // the probes come off before the sums travel
  if (sharded) {  // [input sums and tokens per module (sorted), block sums, block tokens] in float64
    std::vector<double> flat;
    for (const auto& [module, acc] : at_input) flat.insert(flat.end(), {acc.sum, static_cast<double>(acc.tokens)});
    flat.insert(flat.end(), block_sum.begin(), block_sum.end());
    flat.push_back(static_cast<double>(block_tokens));
    at::Tensor t = at::tensor(flat, at::kDouble);
    dist->all_reduce_sum(t, "OSFT's layer importance sums");
    const auto v = t.accessor<double, 1>();
    int64_t i = 0;
    for (auto& [module, acc] : at_input) {
      acc.sum = v[i++];
      acc.tokens = static_cast<int64_t>(v[i++]);
    }
    for (auto& b : block_sum) b = v[i++];
    block_tokens = static_cast<int64_t>(v[i]);
  }
  RETAIN_CHECK(block_tokens > 0, "osft", "layer importance: every example is empty");

  std::map<std::string, double> importance;
  for (const auto& [module, acc] : at_input) importance[module] = acc.sum / static_cast<double>(acc.tokens);
  for (const auto& [module, block] : from_block)
    importance[module] = block_sum[block] / static_cast<double>(block_tokens);
  return importance;
}

std::map<std::string, double> normalise_importance(const std::map<std::string, double>& importance) {
  RETAIN_CHECK(!importance.empty(), "osft", "no layer importance to normalise");
  double mean = 0;
  for (const auto& [name, value] : importance) mean += value;
  mean /= static_cast<double>(importance.size());
  RETAIN_CHECK(std::isfinite(mean) && mean > 0, "osft",
               "the mean layer importance is {} (cosines of inputs and outputs); dividing by it would invert the "
               "rank rule — use method.osft.rank_rule = \"fixed\" for this model",
               mean);
  std::map<std::string, double> out;
  for (const auto& [name, value] : importance) out[name] = value / mean;
  return out;
}

OSFT::OSFT(OsftSettings settings) : settings_(std::move(settings)) {
  settings_.validate();
  projection_ = parse_osft_projection(settings_.projection);
}

void OSFT::on_task_start(TaskContext& ctx) {
  RunContext& run = ctx.run;
  const auto modules = osft_target_modules(run.model, settings_.targets);
  RETAIN_CHECK(!modules.empty(), "osft", "no linear layer of the model matches method.osft.targets [{}]",
               fmt::join(settings_.targets, ", "));
  std::map<std::string, AdaptedLinear> layers;
  for (auto& [name, linear] : run.model->linear_layers()) layers.emplace(name, linear);
  for (const auto& module : modules)
    RETAIN_CHECK(layers.at(module)->adapters().empty(), "osft",
                 "{} carries adapters; osft trains the dense weights of plain layers", module);

  std::map<std::string, double> importance;
  if (settings_.rank_rule == RankRule::Importance) {
    // The previous task's data (the first task: its own), methods.md §3 step 2.
    const int64_t source = std::max<int64_t>(0, ctx.task_index - 1);
    const auto& data = run.train_data.at(source);
    const auto examples =
        pick(data, random_subset(static_cast<int64_t>(data.size()), settings_.importance_examples,
                                 {run.seed, static_cast<uint64_t>(ctx.task_index), uint64_t{0x05F7}}));
    importance = normalise_importance(
        osft_importance(run.model, modules, examples, run.device, parse_importance_scope(settings_.importance_scope),
                        run.dist.get()));
  }

  targets_.clear();
  ranks_.clear();
  importance_.clear();
  int64_t scratch = 0;
  at::TensorOptions scratch_options;
  for (const auto& module : modules) {
    const AdaptedLinear& linear = layers.at(module);
    const at::Tensor& W = linear->weight;
    const int64_t m = W.size(0), n = W.size(1), d = std::min(m, n);
    int64_t k = 0;
    if (settings_.rank_rule == RankRule::Importance)
      k = importance_rank(importance.at(module), settings_.mrr, settings_.trr, d);
    else if (settings_.rank_rule == RankRule::Fixed)
      k = fixed_rank(settings_.ratio, d);
    else
      k = progressive_rank(ctx.task_index, static_cast<int64_t>(run.tasks.size()), d);
    const at::ScalarType dtype = basis_dtype(settings_.basis_dtype, W, run.autocast_bf16 && run.device.is_cuda());
    Target target;
    target.name = module + ".weight";
    target.weight = W;
    target.projector = SubspaceProjector(W, k, projection_, dtype);
    if (k > 0) {
      target.snapshot = at::empty_like(W);
      scratch = std::max(scratch, m * n + target.projector.scratch_elements());
      scratch_options = W.options().dtype(dtype);
    }
    ranks_[target.name] = k;
    if (!importance.empty()) importance_[target.name] = importance.at(module);
    targets_.push_back(std::move(target));
  }
  scratch_ = scratch > 0 ? at::empty({scratch}, scratch_options) : at::Tensor();
  ++tasks_;
}

std::vector<at::Tensor> OSFT::trainable(TaskContext& ctx) {
  std::vector<at::Tensor> out;
  const bool all = settings_.non_target == "train";
  for (auto& [name, p] : ctx.run.model->base_parameters())
    if (all || ranks_.count(name)) out.push_back(p);
  return out;
}

// Scratch layout per matrix: [0, m·n) holds the applied update (or a gradient converted to the basis
// dtype), [m·n, m·n + projector scratch) the projection's temporaries. Mixed dtypes (float32
// parameters with bfloat16 bases) convert through the first region: nothing is allocated per step.
void OSFT::after_backward(TaskContext&) {
  torch::NoGradGuard no_grad;
  for (auto& t : targets_) {
    if (t.projector.is_identity()) continue;
    at::Tensor grad = t.weight.grad();
    t.stepped = grad.defined();
    if (!t.stepped) continue;
    t.snapshot.copy_(t.weight);
    const int64_t m = grad.size(0), n = grad.size(1);
    at::Tensor temporaries = scratch_.narrow(0, m * n, t.projector.scratch_elements());
    if (grad.scalar_type() == t.projector.dtype() && grad.is_contiguous()) {
      t.projector.apply_(grad, temporaries);
    } else {
      at::Tensor converted = scratch_.narrow(0, 0, m * n).view({m, n});
      converted.copy_(grad);
      t.projector.apply_(converted, temporaries);
      grad.copy_(converted);
    }
  }
}

void OSFT::after_step(TaskContext&) {
  torch::NoGradGuard no_grad;
  for (auto& t : targets_) {
    if (t.projector.is_identity() || !t.stepped) continue;
    t.stepped = false;
    // W ← W_old + P(W_new − W_old).
    at::Tensor& W = t.weight;
    const int64_t m = W.size(0), n = W.size(1);
    at::Tensor delta = scratch_.narrow(0, 0, m * n).view({m, n});
    at::Tensor temporaries = scratch_.narrow(0, m * n, t.projector.scratch_elements());
    at::sub_out(delta, W, t.snapshot);
    t.projector.apply_(delta, temporaries);
    at::add_out(W, t.snapshot, delta);
  }
}

void OSFT::on_task_end(TaskContext&) {
  targets_.clear();
  scratch_ = at::Tensor();
}

const SubspaceProjector& OSFT::projector(const std::string& tensor_name) const {
  for (const auto& t : targets_)
    if (t.name == tensor_name) return t.projector;
  fail("osft", "no projector for \"{}\": not a target, or no task is being trained", tensor_name);
}

void OSFT::save(RunContext&, const std::filesystem::path& dir) {
  json ranks = json::object();
  for (const auto& [name, k] : ranks_) ranks[name] = k;
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "osft_ranks.json", ranks.dump(2) + "\n", "osft");
}

MethodState OSFT::state(RunContext&) {
  MethodState s;
  json ranks = json::object();
  for (const auto& [name, k] : ranks_) ranks[name] = k;
  s.meta = {{"ranks", ranks}, {"tasks", tasks_}};
  return s;
}

void OSFT::load_state(RunContext&, int64_t tasks_done, const MethodState& state) {
  ranks_.clear();
  importance_.clear();
  targets_.clear();
  scratch_ = at::Tensor();
  tasks_ = tasks_done;
  if (!state.meta.contains("ranks")) return;
  const json& ranks = state.meta.at("ranks");
  RETAIN_CHECK(ranks.is_object(), "osft", "the saved osft state's \"ranks\" is not an object");
  for (const auto& [name, k] : ranks.items()) {
    RETAIN_CHECK(k.is_number_integer(), "osft", "the saved osft rank of {} is not an integer", name);
    ranks_[name] = k.get<int64_t>();
  }
}

}  // namespace retain
