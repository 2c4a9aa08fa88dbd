#include "retain/model/lora.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/io/safetensors.h"
#include "retain/model/module_names.h"

#include <cmath>
#include <regex>
#include <set>

namespace retain {

namespace {
constexpr const char* kComponent = "lora";
const std::string kPrefix = "base_model.model.";

// PEFT's pattern keys: "down_proj" matches "model.layers.0.mlp.down_proj"; a key may be a regex.
bool pattern_matches(const std::string& pattern, const std::string& module_name) {
  return std::regex_match(module_name, std::regex("(.*\\.)?(" + pattern + ")"));
}

}  // namespace

LoraAdapterImpl::LoraAdapterImpl(int64_t in, int64_t out, int64_t r, double scaling_, double dropout_)
    : rank(r), scaling(scaling_), dropout(dropout_) {
  lora_A = register_parameter("lora_A", torch::zeros({r, in}));
  lora_B = register_parameter("lora_B", torch::zeros({out, r}));
}

at::Tensor LoraAdapterImpl::forward(const at::Tensor& x) {
  auto h = (dropout > 0 && is_training()) ? at::dropout(x, dropout, /*train=*/true) : x;
  return at::linear(at::linear(h, lora_A), lora_B) * scaling;
}

at::Tensor LoraAdapterImpl::delta_weight() const { return lora_B.matmul(lora_A) * scaling; }

LoraConfig LoraConfig::from_json_text(const std::string& text, const std::string& where) {
  // ordered_json keeps the file's key order: PEFT takes the first matching rank/alpha pattern.
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const std::exception& e) {
    fail(kComponent, "{}: malformed JSON ({})", where, e.what());
  }
  RETAIN_CHECK(j.is_object(), kComponent, "{}: expected a JSON object", where);
  auto get = [&](const char* key) -> const nlohmann::ordered_json* {
    auto it = j.find(key);
    return (it == j.end() || it->is_null()) ? nullptr : &*it;
  };
  auto require_default = [&](const char* key, const nlohmann::ordered_json& ok, const char* what) {
    const auto* v = get(key);
    if (v && *v != ok) fail(kComponent, "{}: \"{}\" = {} is not supported ({})", where, key, v->dump(), what);
  };
  const auto* type = get("peft_type");
  if (type && *type != "LORA") fail(kComponent, "{}: peft_type {} is not supported (only LORA)", where, type->dump());
  require_default("use_dora", false, "DoRA");
  require_default("fan_in_fan_out", false, "Conv1D-style weights");
  require_default("bias", "none", "only bias = \"none\"");
  require_default("lora_bias", false, "LoRA biases");
  if (const auto* v = get("modules_to_save"); v && !v->empty())
    fail(kComponent, "{}: \"modules_to_save\" = {} is not supported", where, v->dump());
  if (const auto* v = get("target_parameters"); v && !v->empty())
    fail(kComponent, "{}: \"target_parameters\" is not supported", where);
  if (const auto* v = get("layers_pattern"); v && !v->empty() && !v->is_array())
    fail(kComponent, "{}: \"layers_pattern\" is not supported", where);

  LoraConfig c;
  try {
    if (const auto* v = get("r")) c.r = v->get<int64_t>();
    if (const auto* v = get("lora_alpha")) c.lora_alpha = v->get<double>();
    if (const auto* v = get("lora_dropout")) c.lora_dropout = v->get<double>();
    if (const auto* v = get("use_rslora")) c.use_rslora = v->get<bool>();
    const auto* targets = get("target_modules");
    if (!targets) fail(kComponent, "{}: missing \"target_modules\"", where);
    if (targets->is_string()) c.target_regex = targets->get<std::string>();
    else c.target_modules = targets->get<std::vector<std::string>>();
    if (const auto* v = get("rank_pattern"))
      for (auto it = v->begin(); it != v->end(); ++it) c.rank_pattern.emplace_back(it.key(), it->get<int64_t>());
    if (const auto* v = get("alpha_pattern"))
      for (auto it = v->begin(); it != v->end(); ++it) c.alpha_pattern.emplace_back(it.key(), it->get<double>());
    if (const auto* v = get("layers_to_transform")) {
      if (v->is_number_integer()) c.layers_to_transform = {v->get<int64_t>()};
      else c.layers_to_transform = v->get<std::vector<int64_t>>();
    }
  } catch (const nlohmann::ordered_json::exception& e) {
    fail(kComponent, "{}: a field has the wrong type ({})", where, e.what());
  }
  RETAIN_CHECK(c.r > 0, kComponent, "{}: \"r\" must be positive, got {}", where, c.r);
  return c;
}

std::string LoraConfig::to_json_text() const {
  // ordered_json: PEFT takes the first matching pattern, so the order of the patterns is meaning.
  using ojson = nlohmann::ordered_json;
  ojson rp = ojson::object(), ap = ojson::object();
  for (const auto& [k, v] : rank_pattern) rp[k] = v;
  for (const auto& [k, v] : alpha_pattern) ap[k] = v;
  ojson j = {{"peft_type", "LORA"}, {"r", r}, {"lora_alpha", lora_alpha}, {"lora_dropout", lora_dropout},
            {"use_rslora", use_rslora}, {"rank_pattern", rp}, {"alpha_pattern", ap}, {"bias", "none"},
            {"fan_in_fan_out", false}, {"use_dora", false}, {"task_type", "CAUSAL_LM"}, {"inference_mode", true},
            {"modules_to_save", nullptr}, {"init_lora_weights", true}};
  if (target_regex) j["target_modules"] = *target_regex;
  else j["target_modules"] = target_modules;
  j["layers_to_transform"] = layers_to_transform.empty() ? ojson(nullptr) : ojson(layers_to_transform);
  return j.dump(2) + "\n";
}

bool LoraConfig::targets(const std::string& name) const {
  bool hit = false;
  if (target_regex) {
    hit = std::regex_match(name, std::regex(*target_regex));
  } else {
    hit = module_matches_any(name, target_modules);
  }
  if (hit && !layers_to_transform.empty()) {
    const int64_t layer = decoder_layer_of(name);
    hit = std::find(layers_to_transform.begin(), layers_to_transform.end(), layer) != layers_to_transform.end();
  }
  return hit;
}

int64_t LoraConfig::rank_for(const std::string& name) const {
  for (const auto& [pattern, rank] : rank_pattern)
    if (pattern_matches(pattern, name)) return rank;
  return r;
}

double LoraConfig::alpha_for(const std::string& name) const {
  for (const auto& [pattern, alpha] : alpha_pattern)
    if (pattern_matches(pattern, name)) return alpha;
  return lora_alpha;
}

double LoraConfig::scaling_for(const std::string& name) const {
  const double rank = static_cast<double>(rank_for(name));
  return use_rslora ? alpha_for(name) / std::sqrt(rank) : alpha_for(name) / rank;
}

int64_t load_peft_adapter(CausalLM& model, const std::filesystem::path& dir, const std::string& name) {
  const auto config_path = dir / "adapter_config.json";
  const auto weights_path = dir / "adapter_model.safetensors";
  RETAIN_CHECK(std::filesystem::exists(config_path), kComponent, "{}: no adapter_config.json (not a PEFT adapter folder)",
               dir.string());
  if (!std::filesystem::exists(weights_path))
    fail(kComponent, "{}: no adapter_model.safetensors{}", dir.string(),
         std::filesystem::exists(dir / "adapter_model.bin") ? " (adapter_model.bin is a pickle, which retain does not read)" : "");
  const LoraConfig config = LoraConfig::from_json_text(read_file(config_path, kComponent), config_path.string());
  const auto file = safetensors::File::open(weights_path);

  // Check every tensor first and attach only when all is well, so that a bad folder leaves the
  // model exactly as it was.
  std::set<std::string> used;
  std::vector<std::pair<AdaptedLinear, std::shared_ptr<LoraAdapterImpl>>> planned;
  for (auto& [module_name, linear] : model->linear_layers()) {
    if (!config.targets(module_name)) continue;
    const int64_t r = config.rank_for(module_name);
    const std::string key_a = kPrefix + module_name + ".lora_A.weight", key_b = kPrefix + module_name + ".lora_B.weight";
    for (const auto& [key, shape] : {std::pair<std::string, std::vector<int64_t>>{key_a, {r, linear->in_features}},
                                     {key_b, {linear->out_features, r}}}) {
      if (!file.contains(key))
        fail(kComponent, "{}: tensor '{}' is missing (adapter_config.json targets {})", weights_path.string(), key,
             module_name);
      if (file.info(key).shape != shape)
        fail(kComponent, "{}: tensor '{}' has shape [{}], expected [{}] (rank {} for {})", weights_path.string(), key,
             fmt::join(file.info(key).shape, ", "), fmt::join(shape, ", "), r, module_name);
      if (!at::isFloatingType(file.info(key).dtype))
        fail(kComponent, "{}: tensor '{}' has dtype {}, expected a floating type", weights_path.string(), key,
             file.info(key).dtype_name);
      used.insert(key);
    }
    RETAIN_CHECK(!linear->adapter(name), kComponent, "{} already has an adapter named \"{}\"", module_name, name);
    auto adapter = std::make_shared<LoraAdapterImpl>(linear->in_features, linear->out_features, r,
                                                     config.scaling_for(module_name), config.lora_dropout);
    adapter->to(linear->weight.device(), linear->weight.scalar_type());
    {
      torch::NoGradGuard no_grad;
      adapter->lora_A.copy_(file.tensor(key_a));
      adapter->lora_B.copy_(file.tensor(key_b));
    }
    adapter->eval();
    planned.emplace_back(linear, adapter);
  }
  RETAIN_CHECK(!planned.empty(), kComponent, "{}: target_modules matched no layer of this {} model", config_path.string(),
               model->config.model_type);
  for (const auto& t : file.tensors())
    if (!used.count(t.name))
      fail(kComponent, "{}: unexpected tensor '{}' (no targeted layer of the model has that name)", weights_path.string(),
           t.name);
  for (auto& [linear, adapter] : planned) linear->add_adapter(name, adapter);
  return static_cast<int64_t>(planned.size());
}

int64_t add_lora_adapter(CausalLM& model, const LoraConfig& config, const std::string& name, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  int64_t adapted = 0;
  for (auto& [module_name, linear] : model->linear_layers()) {
    if (!config.targets(module_name)) continue;
    const int64_t r = config.rank_for(module_name);
    auto adapter = std::make_shared<LoraAdapterImpl>(linear->in_features, linear->out_features, r,
                                                     config.scaling_for(module_name), config.lora_dropout);
    // PEFT: A ~ kaiming_uniform(a = √5) = U(-1/√in, 1/√in), B = 0, so the adapter starts as a no-op.
    const double bound = 1.0 / std::sqrt(static_cast<double>(linear->in_features));
    auto a = at::empty({r, linear->in_features}, at::kFloat);
    a.uniform_(-bound, bound, generator);
    adapter->to(linear->weight.device(), linear->weight.scalar_type());
    adapter->lora_A.copy_(a);
    linear->add_adapter(name, adapter);
    ++adapted;
  }
  RETAIN_CHECK(adapted > 0, kComponent, "target_modules matched no layer of this {} model", model->config.model_type);
  return adapted;
}

void save_peft_adapter(const std::filesystem::path& dir, CausalLM& model, const LoraConfig& config,
                       const std::string& name) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [module_name, linear] : model->linear_layers()) {
    auto adapter = std::dynamic_pointer_cast<LoraAdapterImpl>(linear->adapter(name));
    if (!adapter) continue;
    tensors.emplace_back(kPrefix + module_name + ".lora_A.weight", adapter->lora_A.detach());
    tensors.emplace_back(kPrefix + module_name + ".lora_B.weight", adapter->lora_B.detach());
  }
  RETAIN_CHECK(!tensors.empty(), kComponent, "the model has no LoRA adapter named \"{}\"", name);
  std::filesystem::create_directories(dir);
  safetensors::save(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(dir / "adapter_config.json", config.to_json_text(), kComponent);
}

}  // namespace retain
