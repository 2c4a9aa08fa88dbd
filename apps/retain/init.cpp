// retain init: a randomly initialised model from a config.json, saved as a Hugging Face folder.
#include "commands.h"

#include "retain/core/files.h"
#include "retain/model/config.h"
#include "retain/model/loader.h"

#include <filesystem>
#include <iostream>
#include <memory>

namespace retain::cli {
namespace {

namespace fs = std::filesystem;

struct InitOptions {
  std::string config;
  std::string out;
  uint64_t seed = 0;
  std::string dtype = "float32";
  std::string tokenizer;
  bool overwrite = false;
};

void run_init(const InitOptions& options) {
  const fs::path out = options.out;
  const bool occupied = fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out));
  RETAIN_CHECK(!occupied || (options.overwrite && fs::is_directory(out)), "init",
               "{} exists and is not an empty folder; pass --overwrite to replace the model files in it", out.string());
  const ModelConfig config = ModelConfig::from_file(options.config);
  const at::ScalarType dtype = parse_dtype(options.dtype);
  // Read the tokenizer before writing anything, so that a bad path leaves no half-made folder.
  const std::string tokenizer = options.tokenizer.empty() ? "" : read_file(options.tokenizer, "init");

  CausalLM model(config);
  init_weights(model, options.seed);
  save_model(out, model, dtype);
  if (!options.tokenizer.empty()) write_file_atomic(out / "tokenizer.json", tokenizer, "init");
  std::cerr << "retain init: " << config.model_type << ", " << config.parameter_count() << " parameters (seed "
            << options.seed << ") -> " << out.string() << '\n';
}

}  // namespace

void register_init(CLI::App& app) {
  auto options = std::make_shared<InitOptions>();
  auto* command = app.add_subcommand("init", "A randomly initialised model from a config.json");
  command->add_option("--config", options->config, "Hugging Face config.json")->required();
  command->add_option("--out", options->out, "Model folder to create")->required();
  command->add_option("--seed", options->seed, "Seed of the initialisation")->capture_default_str();
  command->add_option("--dtype", options->dtype, "Stored dtype: float32 or bfloat16")->capture_default_str();
  command->add_option("--tokenizer", options->tokenizer, "tokenizer.json to copy into the folder");
  command->add_flag("--overwrite", options->overwrite, "Replace the model files of an existing, non-empty folder");
  command->callback([options] { run_init(*options); });
}

}  // namespace retain::cli
