#include "retain/train/resume.h"

#include "retain/core/error.h"
#include "retain/io/safetensors.h"

#include <torch/torch.h>

#include <map>
#include <set>

namespace retain {

namespace {
constexpr const char* kFormat = "retain-resume-1";

std::vector<std::pair<std::string, at::Tensor>> named_state(CausalLM& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : model->named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : model->named_buffers()) out.emplace_back(item.key(), item.value());
  return out;
}
}  // namespace

void write_resume_point(const std::filesystem::path& path, const ResumePoint& point) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, t] : point.model) tensors.emplace_back("model/" + name, t);
  for (const auto& [name, t] : point.method.tensors) tensors.emplace_back("method/" + name, t);
  for (const auto& [name, t] : point.training.optimizer) tensors.emplace_back("optim/" + name, t);
  for (const auto& [name, t] : point.training.rng) tensors.emplace_back("rng/" + name, t);
  json progress = point.progress;
  progress["steps_done"] = point.training.steps_done;
  std::filesystem::create_directories(path.parent_path());
  safetensors::save(path, tensors,
                    {{"format", kFormat}, {"progress", progress.dump()}, {"method_meta", point.method.meta.dump()}});
}

ResumePoint read_resume_point(const std::filesystem::path& path) {
  const auto file = safetensors::File::open(path);
  const auto& meta = file.metadata();
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = meta.find(key);
    RETAIN_CHECK(it != meta.end(), "resume", "{}: no \"{}\" in the metadata; not a retain resume point", path.string(), key);
    return it->second;
  };
  RETAIN_CHECK(get("format") == kFormat, "resume", "{}: format \"{}\", expected \"{}\"", path.string(), get("format"), kFormat);
  ResumePoint point;
  point.progress = parse_json(get("progress"), path.string() + " (progress)", "resume");
  point.method.meta = parse_json(get("method_meta"), path.string() + " (method_meta)", "resume");
  point.training.steps_done = point.progress.value("steps_done", int64_t{0});
  for (const auto& info : file.tensors()) {
    const auto slash = info.name.find('/');
    RETAIN_CHECK(slash != std::string::npos, "resume", "{}: unexpected tensor \"{}\"", path.string(), info.name);
    const std::string kind = info.name.substr(0, slash), name = info.name.substr(slash + 1);
    at::Tensor t = file.tensor(info.name).clone();  // own the memory: the mapping goes away
    if (kind == "model") point.model.emplace_back(name, t);
    else if (kind == "method") point.method.tensors.emplace_back(name, t);
    else if (kind == "optim") point.training.optimizer.emplace_back(name, t);
    else if (kind == "rng") point.training.rng.emplace_back(name, t);
    else fail("resume", "{}: unexpected tensor \"{}\"", path.string(), info.name);
  }
  return point;
}

std::vector<std::string> model_state_names(CausalLM& model) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named_state(model)) out.push_back(name);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> model_state(CausalLM& model, const std::vector<std::string>& base_names,
                                                            bool include_base) {
  const std::set<std::string> base(base_names.begin(), base_names.end());
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, t] : named_state(model))
    if (include_base || !base.count(name)) out.emplace_back(name, t.detach());
  return out;
}

void load_model_state(CausalLM& model, const std::vector<std::pair<std::string, at::Tensor>>& state,
                      const std::string& where) {
  std::map<std::string, at::Tensor> targets;
  for (auto& [name, t] : named_state(model)) targets.emplace(name, t);
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : state) {
    auto it = targets.find(name);
    RETAIN_CHECK(it != targets.end(), "resume",
                 "{}: saved tensor \"{}\" has no counterpart in the rebuilt model (the method's load_state must "
                 "re-create it)", where, name);
    RETAIN_CHECK(it->second.sizes() == t.sizes(), "resume", "{}: saved tensor \"{}\" has shape {}, the model's has {}",
                 where, name, fmt::join(t.sizes(), "×"), fmt::join(it->second.sizes(), "×"));
    it->second.copy_(t);
  }
}

}  // namespace retain
