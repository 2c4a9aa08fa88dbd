// retain/model/loader.h — loading and saving Hugging Face model folders, strictly.
#pragma once

#include "retain/model/causal_lm.h"

#include <filesystem>

namespace retain {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // compute dtype: float32, bfloat16 (float64 for tests)
  at::Device device = at::kCPU;
};

/// Reads DIR/config.json and the weights (model.safetensors or the sharded index). Every tensor of
/// the architecture's name table must be present with its shape and a floating dtype; anything left
/// over is an error (except what transformers itself ignores). Nothing is randomly initialised.
CausalLM load_model(const std::filesystem::path& dir, const LoadOptions& options = {});

/// Writes DIR/config.json and DIR/model.safetensors (base weights under HF names, adapters
/// excluded) in `dtype`, each atomically. Creates DIR.
void save_model(const std::filesystem::path& dir, CausalLM& model, at::ScalarType dtype = at::kFloat);

/// "float32" | "bfloat16" | "float16" | "float64" → dtype; throws naming the accepted values.
at::ScalarType parse_dtype(const std::string& name);
std::string dtype_to_string(at::ScalarType dtype);
/// "cpu" | "cuda" | "cuda:N" → device; throws when CUDA is requested but not available.
at::Device parse_device(const std::string& name);

}  // namespace retain
