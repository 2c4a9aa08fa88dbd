// retain/model/generation_config.h — a model folder's stop and padding tokens for generation.
//
// transformers stops at config.json's eos_token_id and at generation_config.json's (an integer or a
// list); generation_config.json's pad_token_id wins over config.json's. Padding positions are masked
// out, so when neither names a pad token any valid id will do (the first EOS, else 0).
#pragma once

#include "retain/model/config.h"

#include <cstdint>
#include <filesystem>
#include <vector>

namespace retain {

struct GenerationDefaults {
  std::vector<int64_t> eos_token_ids;  // config.json's, then generation_config.json's not already there
  int64_t pad_token_id = 0;
};

/// Reads MODEL_DIR/generation_config.json when present; errors name the file and key.
GenerationDefaults read_generation_defaults(const std::filesystem::path& model_dir, const ModelConfig& config);

}  // namespace retain
