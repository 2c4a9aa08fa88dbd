#include "retain/model/loader.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/torch_compat.h"
#include "retain/model/weights.h"

#include <c10/core/DefaultDtype.h>

#include <set>

namespace retain {

namespace {
constexpr const char* kComponent = "loader";

// Parameters are created directly in the compute dtype (no float32 copy of a bf16 model).
class DefaultDtypeGuard {
 public:
  explicit DefaultDtypeGuard(at::ScalarType type) : saved_(c10::get_default_dtype()) {
    c10::set_default_dtype(c10::scalarTypeToTypeMeta(type));
  }
  ~DefaultDtypeGuard() { c10::set_default_dtype(saved_); }

 private:
  caffe2::TypeMeta saved_;
};

std::string shape_string(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }
}  // namespace

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32" || name == "float") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return at::kHalf;
  if (name == "float64" || name == "fp64" || name == "double") return at::kDouble;
  fail("dtype", "unknown dtype \"{}\" (expected float32, bfloat16, float16 or float64)", name);
}

std::string dtype_to_string(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kDouble: return "float64";
    default: fail("dtype", "dtype {} has no Hugging Face name", c10::toString(dtype));
  }
}

at::Device parse_device(const std::string& name) {
  at::Device device(at::kCPU);
  try {
    device = at::Device(name);
  } catch (const std::exception&) {
    fail("device", "unknown device \"{}\" (expected cpu, cuda or cuda:N)", name);
  }
  if (device.is_cuda() && !compat::cuda_available())
    fail("device", "device \"{}\" requested, but CUDA is not available (libtorch {}, built {} CUDA)", name,
         compat::torch_version(), compat::cuda_available() ? "with" : "with or without");
  RETAIN_CHECK(device.is_cpu() || device.is_cuda(), "device", "device \"{}\" is not supported (cpu or cuda)", name);
  return device;
}

CausalLM load_model(const std::filesystem::path& dir, const LoadOptions& options) {
  const auto config_path = dir / "config.json";
  RETAIN_CHECK(std::filesystem::is_directory(dir), kComponent, "{} is not a model folder", dir.string());
  RETAIN_CHECK(std::filesystem::exists(config_path), kComponent, "{}: no config.json", dir.string());
  const ModelConfig config = ModelConfig::from_file(config_path);
  const WeightFiles weights = WeightFiles::open(dir);
  const auto expected = expected_tensors(config);

  // Check everything before building anything: missing, misshaped, wrongly typed, left over.
  std::vector<std::string> missing;
  for (const auto& e : expected) {
    if (!weights.contains(e.name)) {
      missing.push_back(e.name);
      continue;
    }
    const auto& info = weights.file_of(e.name).info(e.name);
    if (!at::isFloatingType(info.dtype))
      fail(kComponent, "{}: tensor '{}' has dtype {}, expected a floating type (F32, BF16, F16, F64)",
           weights.file_of(e.name).path().string(), e.name, info.dtype_name);
    if (info.shape != e.shape)
      fail(kComponent, "{}: tensor '{}' has shape {}, expected {} ({}) for this config.json",
           weights.file_of(e.name).path().string(), e.name, shape_string(info.shape), shape_string(e.shape), e.meaning);
  }
  if (!missing.empty())
    fail(kComponent, "{}: {} tensor(s) missing for {} with {} layers, first: '{}'", weights.describe(), missing.size(),
         config.model_type, config.num_hidden_layers, missing.front());
  std::set<std::string> wanted;
  for (const auto& e : expected) wanted.insert(e.name);
  bool tied_head_present = false;
  for (const auto& [name, file] : weights.index()) {
    if (wanted.count(name) || is_ignorable_tensor(name)) continue;
    if (name == "lm_head.weight" && config.tie_word_embeddings) {
      tied_head_present = true;
      continue;
    }
    fail(kComponent, "{}: unexpected tensor '{}' (not part of a {} model with this config.json)", file->path().string(),
         name, config.model_type);
  }

  torch::NoGradGuard no_grad;
  CausalLM model{nullptr};
  {
    DefaultDtypeGuard guard(options.dtype);
    model = CausalLM(config);
  }
  std::map<std::string, at::Tensor> params;
  for (auto& [name, p] : model->base_parameters()) params[name] = p;
  RETAIN_CHECK(params.size() == expected.size(), kComponent, "internal: model has {} parameters, name table {}",
               params.size(), expected.size());
  for (const auto& e : expected) {
    auto it = params.find(e.name);
    RETAIN_CHECK(it != params.end(), kComponent, "internal: the model has no parameter '{}'", e.name);
    it->second.copy_(weights.file_of(e.name).tensor(e.name));
  }
  if (tied_head_present) {
    auto head = weights.file_of("lm_head.weight").tensor("lm_head.weight").to(options.dtype);
    RETAIN_CHECK(head.sizes() == model->model->embed_tokens->weight.sizes() &&
                     head.equal(model->model->embed_tokens->weight),
                 kComponent, "{}: lm_head.weight differs from model.embed_tokens.weight although config.json sets "
                 "tie_word_embeddings = true", weights.file_of("lm_head.weight").path().string());
  }
  model->to(options.device);
  model->eval();
  return model;
}

void save_model(const std::filesystem::path& dir, CausalLM& model, at::ScalarType dtype) {
  std::filesystem::create_directories(dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, p] : model->base_parameters()) tensors.emplace_back(name, p.detach().to(dtype));
  safetensors::save(dir / "model.safetensors", tensors, {{"format", "pt"}});
  ModelConfig config = model->config;
  config.stored_dtype = dtype_to_string(dtype);
  write_file_atomic(dir / "config.json", config.to_json().dump(2) + "\n", kComponent);
}

}  // namespace retain
