// retain inspect: what a model or PEFT adapter folder holds, read from its headers only.
#include "commands.h"

#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/io/safetensors.h"
#include "retain/model/config.h"
#include "retain/model/lora.h"
#include "retain/model/weights.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>

namespace retain::cli {
namespace {

namespace fs = std::filesystem;

struct InspectOptions {
  std::string dir;
  bool json_output = false;
};

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

/// Parameter group of a Hugging Face tensor name.
std::string group_of(const std::string& name) {
  auto has = [&](const char* part) { return name.find(part) != std::string::npos; };
  if (has("embed_tokens")) return "embeddings";
  if (name.rfind("lm_head.", 0) == 0) return "head";
  if (has("norm")) return "norms";  // before attention: Qwen3's q_norm/k_norm live under self_attn
  if (has(".self_attn.")) return "attention";
  if (has(".mlp.")) return "mlp";
  return "other";
}

std::string shape_string(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

/// 1234567 → "1,234,567".
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

json inspect_model(const fs::path& dir) {
  const ModelConfig config = ModelConfig::from_file(dir / "config.json");
  const WeightFiles weights = WeightFiles::open(dir);

  std::map<std::string, int64_t> groups = {{"embeddings", 0}, {"attention", 0}, {"mlp", 0}, {"norms", 0}, {"head", 0}};
  std::map<std::string, int64_t> dtypes;
  std::set<const safetensors::File*> files;
  int64_t total = 0;
  for (const auto& [name, file] : weights.index()) {
    const auto& info = file->info(name);
    const int64_t n = numel(info.shape);
    groups[group_of(name)] += n;
    dtypes[info.dtype_name] += 1;
    files.insert(file);
    total += n;
  }

  // The checks the loader makes, reported rather than thrown: inspect describes a folder even when
  // it would not load.
  json problems = json::array();
  std::set<std::string> expected_names;
  for (const auto& expected : expected_tensors(config)) {
    expected_names.insert(expected.name);
    if (!weights.contains(expected.name)) {
      problems.push_back(
          fmt::format("missing {} {} ({})", expected.name, shape_string(expected.shape), expected.meaning));
    } else if (const auto& info = weights.file_of(expected.name).info(expected.name); info.shape != expected.shape) {
      problems.push_back(fmt::format("{} has shape {}, expected {} ({})", expected.name, shape_string(info.shape),
                                     shape_string(expected.shape), expected.meaning));
    }
  }
  for (const auto& [name, file] : weights.index()) {
    if (!expected_names.count(name) && !is_ignorable_tensor(name)) problems.push_back("unexpected tensor " + name);
  }

  const json& raw = config.raw;
  return json{
      {"kind", "model"},
      {"path", dir.string()},
      {"model_type", config.model_type},
      {"architecture", to_string(config.architecture)},
      {"hf_architectures", raw.contains("architectures") ? raw["architectures"] : json::array()},
      {"config",
       {{"num_hidden_layers", config.num_hidden_layers},
        {"hidden_size", config.hidden_size},
        {"intermediate_size", config.intermediate_size},
        {"num_attention_heads", config.num_attention_heads},
        {"num_key_value_heads", config.num_key_value_heads},
        {"head_dim", config.head_dim},
        {"vocab_size", config.vocab_size},
        {"max_position_embeddings", config.max_position_embeddings},
        {"rope_type", config.rope.type},
        {"rope_theta", config.rope.theta},
        {"rope_factor", config.rope.factor},
        {"tie_word_embeddings", config.tie_word_embeddings},
        {"qkv_bias", config.qkv_bias},
        {"qk_norm", config.qk_norm},
        {"dtype", config.stored_dtype}}},
      {"tensors",
       {{"count", weights.index().size()},
        {"files", files.size()},
        {"dtypes", dtypes},
        {"source", weights.describe()}}},
      {"parameters", {{"total", total}, {"by_group", groups}, {"expected_from_config", config.parameter_count()}}},
      {"problems", problems}};
}

json inspect_adapter(const fs::path& dir) {
  const auto config_path = dir / "adapter_config.json";
  const std::string text = read_file(config_path, "inspect");
  const LoraConfig config = LoraConfig::from_json_text(text, config_path.string());
  const json raw = parse_json(text, config_path.string(), "inspect");
  const auto file = safetensors::File::open(dir / "adapter_model.safetensors");
  int64_t parameters = 0;
  for (const auto& info : file.tensors()) parameters += numel(info.shape);
  json targets = config.target_regex ? json(*config.target_regex) : json(config.target_modules);
  json rank_pattern = json::object(), alpha_pattern = json::object();
  for (const auto& [pattern, rank] : config.rank_pattern) rank_pattern[pattern] = rank;
  for (const auto& [pattern, alpha] : config.alpha_pattern) alpha_pattern[pattern] = alpha;
  return json{{"kind", "adapter"},
              {"path", dir.string()},
              {"peft_type", raw.value("peft_type", "LORA")},
              {"base_model", raw.value("base_model_name_or_path", "")},
              {"r", config.r},
              {"lora_alpha", config.lora_alpha},
              {"use_rslora", config.use_rslora},
              {"target_modules", targets},
              {"rank_pattern", rank_pattern},
              {"alpha_pattern", alpha_pattern},
              {"tensors", {{"count", file.tensors().size()}, {"parameters", parameters}}}};
}

void print_model(const json& r) {
  const json& c = r["config"];
  auto row = [](const std::string& key, const std::string& value) { fmt::print("{:<18}{}\n", key, value); };
  row("model", r["path"].get<std::string>());
  std::string hf =
      r["hf_architectures"].empty() ? "" : fmt::format(" ({})", r["hf_architectures"][0].get<std::string>());
  row("architecture", r["model_type"].get<std::string>() + hf);
  row("layers", std::to_string(c["num_hidden_layers"].get<int64_t>()));
  row("hidden", fmt::format("{} (mlp {})", c["hidden_size"].get<int64_t>(), c["intermediate_size"].get<int64_t>()));
  row("heads", fmt::format("{} (kv heads {}, head_dim {})", c["num_attention_heads"].get<int64_t>(),
                           c["num_key_value_heads"].get<int64_t>(), c["head_dim"].get<int64_t>()));
  row("vocab", std::to_string(c["vocab_size"].get<int64_t>()));
  std::string rope = fmt::format("{}, theta {}", c["rope_type"].get<std::string>(), c["rope_theta"].get<double>());
  if (c["rope_type"] != "default") rope += fmt::format(", factor {}", c["rope_factor"].get<double>());
  row("rope", rope);
  row("tied embeddings", c["tie_word_embeddings"].get<bool>() ? "yes" : "no");
  row("dtype", c["dtype"].get<std::string>());
  std::string dtypes;
  for (const auto& [name, count] : r["tensors"]["dtypes"].items())
    dtypes += fmt::format(", {} {}", count.get<int64_t>(), name);
  row("tensors", fmt::format("{} in {} ({})", r["tensors"]["count"].get<int64_t>(),
                             r["tensors"]["source"].get<std::string>(), dtypes.substr(2)));
  const json& p = r["parameters"];
  row("parameters", grouped(p["total"].get<int64_t>()));
  for (const char* group : {"embeddings", "attention", "mlp", "norms", "head", "other"}) {
    if (p["by_group"].contains(group)) row(std::string("  ") + group, grouped(p["by_group"][group].get<int64_t>()));
  }
  if (r["problems"].empty()) {
    row("check", "every tensor present with the shape the config implies");
  } else {
    for (const auto& problem : r["problems"]) row("problem", problem.get<std::string>());
  }
}

void print_adapter(const json& r) {
  auto row = [](const std::string& key, const std::string& value) { fmt::print("{:<18}{}\n", key, value); };
  row("adapter", r["path"].get<std::string>());
  row("type", r["peft_type"].get<std::string>());
  if (!r["base_model"].get<std::string>().empty()) row("base model", r["base_model"].get<std::string>());
  row("r", std::to_string(r["r"].get<int64_t>()));
  row("lora_alpha", fmt::format("{}", r["lora_alpha"].get<double>()));
  row("rslora", r["use_rslora"].get<bool>() ? "yes" : "no");
  const json& targets = r["target_modules"];
  row("targets", targets.is_string() ? "regex " + targets.get<std::string>()
                                     : fmt::format("{}", fmt::join(targets.get<std::vector<std::string>>(), ", ")));
  if (!r["rank_pattern"].empty()) row("rank pattern", r["rank_pattern"].dump());
  if (!r["alpha_pattern"].empty()) row("alpha pattern", r["alpha_pattern"].dump());
  row("tensors", fmt::format("{} ({} parameters)", r["tensors"]["count"].get<int64_t>(),
                             grouped(r["tensors"]["parameters"].get<int64_t>())));
}

void run_inspect(const InspectOptions& options) {
  const fs::path dir = options.dir;
  RETAIN_CHECK(fs::is_directory(dir), "inspect", "{} is not a directory (expected a model or adapter folder)",
               dir.string());
  const bool adapter = fs::exists(dir / "adapter_config.json");
  const json report = adapter ? inspect_adapter(dir) : inspect_model(dir);
  if (options.json_output) {
    std::cout << report.dump(2) << std::endl;
  } else if (adapter) {
    print_adapter(report);
  } else {
    print_model(report);
  }
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  auto* command = app.add_subcommand(
      "inspect", "Config, tensors and parameter counts of a model folder, or the settings of a PEFT adapter");
  command->add_option("dir", options->dir, "Model folder (config.json) or PEFT adapter folder (adapter_config.json)")
      ->required();
  command->add_flag("--json", options->json_output, "Print JSON instead of a table");
  command->callback([options] { run_inspect(*options); });
}

}  // namespace retain::cli
