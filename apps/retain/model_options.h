// apps/retain/model_options.h — the options every model-running subcommand shares
// (--model, --adapter, --dtype, --device) and loading a model from them.
#pragma once

#include "retain/model/causal_lm.h"

#include <CLI/CLI.hpp>

#include <string>

namespace retain::cli {

struct ModelOptions {
  std::string model_dir;
  std::string adapter_dir;  // empty: no adapter
  std::string dtype = "float32";
  std::string device = "cpu";
};

/// Adds --model (required), --adapter, --dtype and --device to `command`, bound to `options`.
void add_model_options(CLI::App& command, ModelOptions& options);

/// Loads the model strictly, attaches the PEFT adapter if one was given, and sets eval mode.
CausalLM load_for_inference(const ModelOptions& options);

}  // namespace retain::cli
