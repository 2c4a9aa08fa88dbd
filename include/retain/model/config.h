// retain/model/config.h — a decoder LLM's config.json, in both dialects Hugging Face writes.
//
// transformers 4 writes `rope_theta`, `rope_scaling` ({"type"|"rope_type", "factor", ...}) and
// `torch_dtype`; transformers 5 writes `rope_parameters` ({"rope_type", "rope_theta", ...}) and
// `dtype`. Both are read into the same ModelConfig. Keys we don't use are kept in `raw` and written
// back unchanged when a model is saved.
#pragma once

#include "retain/core/json.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace retain {

/// The architectures of the LLaMA family that retain runs. They differ only in the flags of ModelConfig.
enum class Architecture { Llama, Mistral, Qwen2, Qwen3 };

/// Rotary position embedding: theta and the scaling rule (`default`, `linear`, `llama3`).
struct RopeConfig {
  std::string type = "default";
  double theta = 10000.0;
  double factor = 1.0;                           // linear, llama3
  double low_freq_factor = 1.0;                  // llama3
  double high_freq_factor = 4.0;                 // llama3
  int64_t original_max_position_embeddings = 0;  // llama3
};

struct ModelConfig {
  std::string model_type;  // "llama", "mistral", "qwen2", "qwen3"
  Architecture architecture = Architecture::Llama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // explicit in Qwen3 and newer Llama configs, else hidden_size / heads
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double initializer_range = 0.02;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // bias on q, k, v projections (Qwen2; Llama/Qwen3 `attention_bias`)
  bool o_bias = false;    // bias on o_proj (Llama/Qwen3 `attention_bias`)
  bool mlp_bias = false;  // Llama `mlp_bias`
  bool qk_norm = false;   // Qwen3: RMSNorm over head_dim on q and k before the rotary embedding
  /// Per layer: the sliding-window width, or 0 for full attention (Mistral, Qwen2 with use_sliding_window).
  std::vector<int64_t> sliding_window;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  std::string stored_dtype = "float32";  // `dtype` / `torch_dtype`
  json raw;                              // the file as read

  /// Reads and validates; `where` names the source in errors (usually the path).
  static ModelConfig from_json(const json& config, const std::string& where);
  static ModelConfig from_file(const std::filesystem::path& path);

  /// config.json contents for saving: `raw` with the fields retain knows updated, in the
  /// transformers-5 dialect unless `raw` used the transformers-4 one.
  json to_json() const;

  /// Parameter count of the whole model (embeddings and head included, tied head counted once).
  int64_t parameter_count() const;
};

/// "llama" → Architecture::Llama, etc.; throws listing the supported model types.
Architecture architecture_from_model_type(const std::string& model_type, const std::string& where);
std::string to_string(Architecture architecture);

}  // namespace retain
