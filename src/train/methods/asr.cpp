#include "retain/train/methods/asr.h"

#include "retain/core/error.h"
#include "retain/data/prompt.h"
#include "retain/io/safetensors.h"
#include "retain/model/lora.h"
#include "retain/train/methods/pertask.h"
#include "retain/train/prompt_features.h"

#include <torch/torch.h>

#include <algorithm>

namespace retain {

namespace {
constexpr const char* kComponent = "asr";
constexpr const char* kFormat = "retain.asr_router/1";

at::ScalarType parse_router_dtype(const std::string& name) {
  if (name == "float64") return at::kDouble;
  if (name == "float32") return at::kFloat;
  fail(kComponent, "router dtype \"{}\" is not supported (expected \"float64\" or \"float32\")", name);
}

std::string router_dtype_name(at::ScalarType dtype) { return dtype == at::kDouble ? "float64" : "float32"; }

json parse_metadata_json(const std::map<std::string, std::string>& meta, const std::string& key,
                         const std::filesystem::path& path) {
  auto it = meta.find(key);
  RETAIN_CHECK(it != meta.end(), kComponent, "{}: metadata has no \"{}\"", path.string(), key);
  return parse_json(it->second, path.string() + " metadata \"" + key + "\"", kComponent);
}
}  // namespace

void AsrSettings::validate(const std::string& where) const {
  RETAIN_CHECK(feature_layers >= 0, "config", "{}.feature_layers must be >= 0, got {}", where, feature_layers);
  RETAIN_CHECK(expansion_dim >= 1, "config", "{}.expansion_dim must be at least 1, got {}", where, expansion_dim);
  RETAIN_CHECK(activation == "relu" || activation == "none", "config",
               "{}.activation = \"{}\" is not known: expected \"relu\" or \"none\"", where, activation);
  RETAIN_CHECK(lambda > 0, "config", "{}.lambda must be positive, got {}", where, lambda);
  RETAIN_CHECK(solver == "woodbury" || solver == "cholesky", "config",
               "{}.solver = \"{}\" is not known: expected \"woodbury\" or \"cholesky\"", where, solver);
  RETAIN_CHECK(router_dtype == "float64" || router_dtype == "float32", "config",
               "{}.router_dtype = \"{}\" is not known: expected \"float64\" or \"float32\"", where, router_dtype);
  RETAIN_CHECK(block_size >= 1, "config", "{}.block_size must be at least 1, got {}", where, block_size);
  RETAIN_CHECK(feature_batch_size >= 1, "config", "{}.feature_batch_size must be at least 1, got {}", where,
               feature_batch_size);
  RETAIN_CHECK(lora.r >= 1, "config", "{}.r must be at least 1, got {}", where, lora.r);
  RETAIN_CHECK(lora.dropout >= 0 && lora.dropout < 1, "config", "{}.dropout must be in [0, 1), got {}", where,
               lora.dropout);
}

at::Tensor AsrRouter::expand(const at::Tensor& features) const {
  return expand_features(features, expansion, activation);
}

at::Tensor AsrRouter::predict(const at::Tensor& features) { return rls.predict(expand(features)); }

at::Tensor AsrRouter::routes(const at::Tensor& features) {
  std::vector<int64_t> route_of_column;
  int64_t task = 0;
  for (const auto& name : classes) route_of_column.push_back(name == kGeneralClass ? -1 : task++);
  auto columns = predict(features);
  return at::tensor(route_of_column, at::kLong).to(columns.device()).index_select(0, columns);
}

int64_t AsrRouter::add_class(const std::string& name) {
  const int64_t column = rls.add_class();
  classes.push_back(name);
  return column;
}

void AsrRouter::absorb(const at::Tensor& features, int64_t column) {
  const int64_t n = features.size(0), block = rls.options().block_size;
  for (int64_t first = 0; first < n; first += block)
    rls.absorb_class(expand(features.narrow(0, first, std::min(block, n - first))), column);
}

int64_t AsrRouter::tasks() const {
  return static_cast<int64_t>(std::count_if(classes.begin(), classes.end(),
                                            [](const std::string& c) { return c != kGeneralClass; }));
}

void AsrRouter::save(const std::filesystem::path& path, const std::vector<std::string>& adapter_folders) {
  auto tensors = rls.tensors();
  tensors.emplace_back("expansion", expansion);
  const auto& o = rls.options();
  std::filesystem::create_directories(path.parent_path());
  safetensors::save(path, tensors,
                    {{"format", kFormat},
                     {"tasks", json(classes).dump()},
                     {"adapters", json(adapter_folders).dump()},
                     {"lambda", json(o.lambda).dump()},
                     {"activation", to_string(activation)},
                     {"feature_layers", std::to_string(feature_layers)},
                     {"dtype", router_dtype_name(o.dtype)},
                     {"solver", to_string(o.solver)},
                     {"block_size", std::to_string(o.block_size)},
                     {"expansion_seed", std::to_string(expansion_seed)}});
}

AsrRouter AsrRouter::load(const std::filesystem::path& path, at::Device device) {
  const auto file = safetensors::File::open(path);
  const auto& meta = file.metadata();
  auto text = [&](const std::string& key) {
    auto it = meta.find(key);
    RETAIN_CHECK(it != meta.end(), kComponent, "{}: metadata has no \"{}\" (not an ASR router file?)", path.string(), key);
    return it->second;
  };
  RETAIN_CHECK(text("format") == kFormat, kComponent, "{}: format \"{}\", expected \"{}\"", path.string(), text("format"),
               kFormat);
  AsrRouter router;
  try {
    router.classes = parse_metadata_json(meta, "tasks", path).get<std::vector<std::string>>();
    router.feature_layers = std::stoll(text("feature_layers"));
    router.expansion_seed = std::stoll(text("expansion_seed"));
    router.activation = parse_expansion_activation(text("activation"));
    RlsRouterOptions o;
    o.lambda = parse_metadata_json(meta, "lambda", path).get<double>();
    o.dtype = parse_router_dtype(text("dtype"));
    o.solver = parse_rls_solver(text("solver"));
    o.block_size = std::stoll(text("block_size"));
    o.device = device;
    RETAIN_CHECK(file.contains("expansion"), kComponent, "{}: no tensor \"expansion\"", path.string());
    router.expansion = file.tensor("expansion").to(device, o.dtype);
    o.dim = router.expansion.size(0);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& info : file.tensors()) tensors.emplace_back(info.name, file.tensor(info.name));
    router.rls = RlsRouter::from_tensors(o, tensors, path.string());
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(kComponent, "{}: malformed metadata ({})", path.string(), e.what());
  }
  RETAIN_CHECK(router.rls.classes() == static_cast<int64_t>(router.classes.size()), kComponent,
               "{}: W has {} columns but \"tasks\" names {}", path.string(), router.rls.classes(), router.classes.size());
  return router;
}

std::vector<std::string> AsrRouter::saved_adapters(const std::filesystem::path& path) {
  const auto file = safetensors::File::open(path);
  try {
    return parse_metadata_json(file.metadata(), "adapters", path).get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    fail(kComponent, "{}: metadata \"adapters\" is not a list of names ({})", path.string(), e.what());
  }
}

void install_asr_routing(CausalLM& model, std::shared_ptr<AsrRouter> router, const std::string& routed_name) {
  auto adapters = routed_adapters(model, routed_name);
  RETAIN_CHECK(!adapters.empty(), kComponent, "the model has no routed adapter \"{}\"", routed_name);
  RETAIN_CHECK(router->feature_layers < model->config.num_hidden_layers, kComponent,
               "the router reads layer {} of a {}-layer model", router->feature_layers, model->config.num_hidden_layers);
  const int64_t layer = router->feature_layers;
  model->router = std::make_shared<PooledPromptRouter>(
      model->model->norm, layer, [router = std::move(router), adapters = std::move(adapters)](const at::Tensor& f) mutable {
        auto routes = router->routes(f);
        for (auto& adapter : adapters) adapter->set_routes(routes);
      });
}

void remove_asr_routing(CausalLM& model) {
  model->router = nullptr;
  clear_routes(model);
}

std::shared_ptr<AsrRouter> load_asr_checkpoint(CausalLM& model, const std::filesystem::path& dir) {
  const auto path = dir / "router.safetensors";
  const auto device = model->model->embed_tokens->weight.device();
  auto router = std::make_shared<AsrRouter>(AsrRouter::load(path, device));
  const auto folders = AsrRouter::saved_adapters(path);
  RETAIN_CHECK(static_cast<int64_t>(folders.size()) == router->tasks(), kComponent,
               "{}: {} adapter folders for {} task columns", path.string(), folders.size(), router->tasks());
  std::vector<std::string> names;
  for (size_t t = 0; t < folders.size(); ++t) {
    names.push_back(ASR::adapter_name(static_cast<int64_t>(t)));
    load_peft_adapter(model, dir / folders[t], names.back());
  }
  add_routed_lora(model, names, ASR::kRoutedName);
  enable_only_adapter(model, ASR::kRoutedName);
  install_asr_routing(model, router, ASR::kRoutedName);
  return router;
}

ASR::ASR(AsrSettings settings) : settings_(std::move(settings)) { settings_.validate(); }

LoraConfig ASR::lora_config(int64_t n_layers) const {
  LoraConfig c = settings_.lora.to_lora_config();
  for (int64_t i = feature_layers_; i < n_layers; ++i) c.layers_to_transform.push_back(i);
  return c;
}

std::vector<std::string> ASR::adapter_names(int64_t tasks) const {
  std::vector<std::string> names;
  for (int64_t t = 0; t < tasks; ++t) names.push_back(adapter_name(t));
  return names;
}

void ASR::on_run_start(RunContext& run) {
  const int64_t n_layers = run.model->config.num_hidden_layers;
  feature_layers_ = resolve_feature_layers(settings_.feature_layers, n_layers);
  RETAIN_CHECK(feature_layers_ < n_layers, kComponent, "a {}-layer model leaves no layer for the task adapters", n_layers);
  RlsRouterOptions o;
  o.dim = settings_.expansion_dim;
  o.lambda = settings_.lambda;
  o.solver = parse_rls_solver(settings_.solver);
  o.dtype = parse_router_dtype(settings_.router_dtype);
  o.block_size = settings_.block_size;
  o.device = run.device;
  router_ = std::make_shared<AsrRouter>();
  router_->feature_layers = feature_layers_;
  router_->activation = parse_expansion_activation(settings_.activation);
  router_->expansion_seed = settings_.expansion_seed;
  router_->expansion = random_expansion(run.model->config.hidden_size, o.dim,
                                        static_cast<uint64_t>(settings_.expansion_seed), o.dtype)
                           .to(run.device);
  router_->rls = RlsRouter(o);
  if (!settings_.general_task.empty()) {
    const Task general = load_task(settings_.general_task);
    std::vector<std::vector<int64_t>> prompts;
    for (const auto& e : general.train)
      prompts.push_back(tokenize_prompt(*run.tokenizer, format_prompt(general, e), run.tokenize));
    RETAIN_CHECK(!prompts.empty(), kComponent, "general task {} has no training examples", settings_.general_task);
    const int64_t column = router_->add_class(AsrRouter::kGeneralClass);
    router_->absorb(prompt_features(run.model, prompts, feature_layers_, settings_.feature_batch_size, *run.dist), column);
  }
}

void ASR::on_task_start(TaskContext& ctx) {
  auto& model = ctx.run.model;
  remove_asr_routing(model);
  add_lora_adapter(model, lora_config(model->config.num_hidden_layers), adapter_name(ctx.task_index),
                   ctx.run.seed + static_cast<uint64_t>(ctx.task_index));
  model->to(ctx.run.device);
  // Trained from the base model: no other task's adapter (nor the routed one) takes part.
  enable_only_adapter(model, adapter_name(ctx.task_index));
}

std::vector<at::Tensor> ASR::trainable(TaskContext& ctx) {
  return adapter_parameters(ctx.run.model, adapter_name(ctx.task_index));
}

void ASR::on_task_end(TaskContext& ctx) {
  RETAIN_CHECK(router_, kComponent, "on_task_end before on_run_start");
  RETAIN_CHECK(router_->tasks() == ctx.task_index, kComponent, "the router holds {} tasks, expected {} before task \"{}\"",
               router_->tasks(), ctx.task_index, ctx.task().name);
  // Data parallel: each rank pools its share of the prompts and all rows are gathered in order, so
  // every rank absorbs the same X and the routers stay identical (and exact).
  auto features = prompt_features(ctx.run.model, prompts_of(ctx.train_examples()), feature_layers_,
                                  settings_.feature_batch_size, *ctx.run.dist);
  router_->absorb(features, router_->add_class(ctx.task().name));
}

void ASR::prepare_evaluation(RunContext& run, int64_t tasks_seen) {
  remove_asr_routing(run.model);
  if (tasks_seen == 0) {
    enable_only_adapter(run.model, "");  // the base model
    return;
  }
  RETAIN_CHECK(router_ && router_->tasks() == tasks_seen, kComponent, "evaluation after {} tasks, but the router holds {}",
               tasks_seen, router_ ? router_->tasks() : 0);
  add_routed_lora(run.model, adapter_names(tasks_seen), kRoutedName);
  enable_only_adapter(run.model, kRoutedName);
  install_asr_routing(run.model, router_, kRoutedName);
}

std::optional<std::vector<double>> ASR::routing_accuracy(RunContext& run, int64_t tasks_seen) {
  if (tasks_seen == 0) return std::nullopt;
  std::vector<double> accuracy;
  for (int64_t i = 0; i < tasks_seen; ++i) {
    const auto prompts = test_prompts(run, run.tasks[i]);
    RETAIN_CHECK(!prompts.empty(), kComponent, "task \"{}\" has an empty test split", run.tasks[i].name);
    auto routes = router_->routes(prompt_features(run.model, prompts, feature_layers_, settings_.feature_batch_size));
    accuracy.push_back(routes.eq(i).to(at::kDouble).mean().item<double>());
  }
  return accuracy;
}

json ASR::resolved_settings(RunContext& run) const {
  return {{"feature_layers", resolve_feature_layers(settings_.feature_layers, run.model->config.num_hidden_layers)}};
}

void ASR::save(RunContext& run, const std::filesystem::path& dir) {
  const int64_t tasks = router_->tasks();
  const auto names = adapter_names(tasks);
  router_->save(dir / "router.safetensors", names);
  const auto config = lora_config(run.model->config.num_hidden_layers);
  for (const auto& name : names) save_peft_adapter(dir / name, run.model, config, name);
}

MethodState ASR::state(RunContext&) {
  MethodState s;
  s.meta = {{"classes", router_->classes}, {"feature_layers", feature_layers_}};
  if (router_->classes.empty()) return s;  // nothing absorbed: on_run_start re-creates this router
  for (auto& [name, t] : router_->rls.tensors()) s.tensors.emplace_back("router." + name, t);
  s.tensors.emplace_back("router.expansion", router_->expansion);
  return s;
}

void ASR::load_state(RunContext& run, int64_t tasks_done, const MethodState& state) {
  RETAIN_CHECK(router_, kComponent, "load_state before on_run_start");
  std::vector<std::string> classes;
  int64_t layers = -1;
  try {
    classes = state.meta.at("classes").get<std::vector<std::string>>();
    layers = state.meta.at("feature_layers").get<int64_t>();
  } catch (const json::exception& e) {
    fail(kComponent, "the saved state's meta is malformed ({})", e.what());
  }
  RETAIN_CHECK(layers == feature_layers_, kComponent,
               "the saved state routes after layer {}, these settings after layer {}", layers, feature_layers_);
  if (!classes.empty()) {
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& [name, t] : state.tensors)
      if (name.rfind("router.", 0) == 0) tensors.emplace_back(name.substr(7), t);
    router_->rls = RlsRouter::from_tensors(router_->rls.options(), tensors, "the saved asr state");
    router_->expansion = state.tensor("router.expansion").to(router_->expansion.options());
    router_->classes = classes;
  }
  RETAIN_CHECK(router_->rls.classes() == static_cast<int64_t>(classes.size()) && router_->tasks() == tasks_done,
               kComponent, "the saved router has {} columns for {} classes, {} tasks, expected {} tasks",
               router_->rls.classes(), classes.size(), router_->tasks(), tasks_done);
  // The adapters' shapes; the runner then loads their saved values by name.
  for (int64_t t = 0; t < tasks_done; ++t)
    add_lora_adapter(run.model, lora_config(run.model->config.num_hidden_layers), adapter_name(t),
                     run.seed + static_cast<uint64_t>(t));
  run.model->to(run.device);
}

}  // namespace retain
