// apps/retain/model_options.h — the options every model-running subcommand shares
// (--model, --adapter, --dtype, --device) and loading a model from them.
#pragma once

#include "retain/model/causal_lm.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace retain::cli {

struct ModelOptions {
  std::string model_dir;
  std::vector<std::string> adapter_dirs;  // none: no adapter; several: all applied, summed
  std::string dtype = "float32";
  std::string device = "cpu";
};

/// Adds --model (required), --adapter, --dtype and --device to `command`, bound to `options`.
void add_model_options(CLI::App& command, ModelOptions& options);

/// Loads the model strictly, attaches the PEFT adapters given (all enabled: summed in the forward,
/// as inclora's task adapters are), and sets eval mode.
CausalLM load_for_inference(const ModelOptions& options);

}  // namespace retain::cli
