#include "retain/model/config.h"

#include "retain/core/error.h"

namespace retain {

namespace {
constexpr const char* kComponent = "config";

RopeConfig read_rope(const json& raw, const std::string& where) {
  RopeConfig rope;
  json params;
  if (raw.contains("rope_parameters") && !raw["rope_parameters"].is_null()) {
    // transformers 5: everything rope-related in one object, theta included.
    params = raw["rope_parameters"];
    if (!params.is_object()) fail(kComponent, "{}: \"rope_parameters\" must be an object", where);
    if (!params.contains("rope_theta") && !params.contains("rope_type"))
      fail(kComponent, "{}: \"rope_parameters\" holds per-layer-type entries ({}), which retain does not support",
           where, params.dump());
    rope.theta = json_get_or<double>(params, "rope_theta", json_get_or<double>(raw, "rope_theta", 10000.0, where, kComponent),
                                     where + " rope_parameters", kComponent);
  } else {
    // transformers 4: rope_theta at the top, scaling in rope_scaling (null when unscaled).
    rope.theta = json_get_or<double>(raw, "rope_theta", 10000.0, where, kComponent);
    if (raw.contains("rope_scaling") && !raw["rope_scaling"].is_null()) {
      params = raw["rope_scaling"];
      if (!params.is_object()) fail(kComponent, "{}: \"rope_scaling\" must be an object or null", where);
    }
  }
  if (params.is_null()) return rope;
  const std::string sub = where + (raw.contains("rope_parameters") ? " rope_parameters" : " rope_scaling");
  rope.type = json_get_or<std::string>(params, "rope_type", json_get_or<std::string>(params, "type", "default", sub, kComponent),
                                       sub, kComponent);
  if (rope.type == "default") return rope;
  if (rope.type == "linear") {
    rope.factor = json_get<double>(params, "factor", sub, kComponent);
  } else if (rope.type == "llama3") {
    rope.factor = json_get<double>(params, "factor", sub, kComponent);
    rope.low_freq_factor = json_get<double>(params, "low_freq_factor", sub, kComponent);
    rope.high_freq_factor = json_get<double>(params, "high_freq_factor", sub, kComponent);
    rope.original_max_position_embeddings = json_get<int64_t>(params, "original_max_position_embeddings", sub, kComponent);
  } else {
    fail(kComponent, "{}: rope type \"{}\" is not supported (supported: default, linear, llama3)", sub, rope.type);
  }
  RETAIN_CHECK(rope.factor > 0, kComponent, "{}: \"factor\" must be positive, got {}", sub, rope.factor);
  return rope;
}

std::vector<int64_t> read_ids(const json& raw, const std::string& key, const std::string& where) {
  if (!raw.contains(key) || raw[key].is_null()) return {};
  const json& v = raw[key];
  if (v.is_number_integer()) return {v.get<int64_t>()};
  if (v.is_array()) {
    std::vector<int64_t> ids;
    for (const auto& e : v) {
      if (!e.is_number_integer()) fail(kComponent, "{}: \"{}\" must be an integer or a list of integers", where, key);
      ids.push_back(e.get<int64_t>());
    }
    return ids;
  }
  fail(kComponent, "{}: \"{}\" must be an integer or a list of integers", where, key);
}
}  // namespace

Architecture architecture_from_model_type(const std::string& model_type, const std::string& where) {
  if (model_type == "llama") return Architecture::Llama;
  if (model_type == "mistral") return Architecture::Mistral;
  if (model_type == "qwen2") return Architecture::Qwen2;
  if (model_type == "qwen3") return Architecture::Qwen3;
  fail(kComponent, "{}: model_type \"{}\" is not supported (supported: llama, mistral, qwen2, qwen3)", where, model_type);
}

std::string to_string(Architecture architecture) {
  switch (architecture) {
    case Architecture::Llama: return "llama";
    case Architecture::Mistral: return "mistral";
    case Architecture::Qwen2: return "qwen2";
    case Architecture::Qwen3: return "qwen3";
  }
  return "unknown";
}

ModelConfig ModelConfig::from_json(const json& raw, const std::string& where) {
  if (!raw.is_object()) fail(kComponent, "{}: expected a JSON object", where);
  ModelConfig c;
  c.raw = raw;
  c.model_type = json_get<std::string>(raw, "model_type", where, kComponent);
  c.architecture = architecture_from_model_type(c.model_type, where);
  c.vocab_size = json_get<int64_t>(raw, "vocab_size", where, kComponent);
  c.hidden_size = json_get<int64_t>(raw, "hidden_size", where, kComponent);
  c.intermediate_size = json_get<int64_t>(raw, "intermediate_size", where, kComponent);
  c.num_hidden_layers = json_get<int64_t>(raw, "num_hidden_layers", where, kComponent);
  c.num_attention_heads = json_get<int64_t>(raw, "num_attention_heads", where, kComponent);
  c.num_key_value_heads = json_get_or<int64_t>(raw, "num_key_value_heads", c.num_attention_heads, where, kComponent);
  for (auto [key, value] : {std::pair<const char*, int64_t>{"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
                            {"intermediate_size", c.intermediate_size}, {"num_hidden_layers", c.num_hidden_layers},
                            {"num_attention_heads", c.num_attention_heads}, {"num_key_value_heads", c.num_key_value_heads}})
    RETAIN_CHECK(value > 0, kComponent, "{}: \"{}\" must be positive, got {}", where, key, value);
  RETAIN_CHECK(c.num_attention_heads % c.num_key_value_heads == 0, kComponent,
               "{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})", where,
               c.num_attention_heads, c.num_key_value_heads);
  if (raw.contains("head_dim") && !raw["head_dim"].is_null()) {
    c.head_dim = json_get<int64_t>(raw, "head_dim", where, kComponent);
  } else {
    RETAIN_CHECK(c.hidden_size % c.num_attention_heads == 0, kComponent,
                 "{}: hidden_size ({}) is not a multiple of num_attention_heads ({}) and no head_dim is given", where,
                 c.hidden_size, c.num_attention_heads);
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  RETAIN_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0, kComponent, "{}: head_dim must be positive and even, got {}", where,
               c.head_dim);
  c.max_position_embeddings = json_get_or<int64_t>(raw, "max_position_embeddings", 2048, where, kComponent);
  c.rms_norm_eps = json_get_or<double>(raw, "rms_norm_eps", 1e-6, where, kComponent);
  c.initializer_range = json_get_or<double>(raw, "initializer_range", 0.02, where, kComponent);
  c.tie_word_embeddings = json_get_or<bool>(raw, "tie_word_embeddings", false,
                                            where, kComponent);
  const auto act = json_get_or<std::string>(raw, "hidden_act", "silu", where, kComponent);
  RETAIN_CHECK(act == "silu", kComponent, "{}: hidden_act \"{}\" is not supported (supported: silu)", where, act);
  c.rope = read_rope(raw, where);

  switch (c.architecture) {
    case Architecture::Llama:
    case Architecture::Qwen3:
      c.qkv_bias = c.o_bias = json_get_or<bool>(raw, "attention_bias", false, where, kComponent);
      c.mlp_bias = c.architecture == Architecture::Llama && json_get_or<bool>(raw, "mlp_bias", false, where, kComponent);
      c.qk_norm = c.architecture == Architecture::Qwen3;
      break;
    case Architecture::Mistral: break;
    case Architecture::Qwen2: c.qkv_bias = true; break;
  }

  // Sliding window per layer. Mistral: every layer when `sliding_window` is set. Qwen2/Qwen3: only
  // with use_sliding_window, for the layers transformers marks "sliding_attention" (layer_types) or,
  // in transformers 4 configs, the layers at or above max_window_layers.
  c.sliding_window.assign(c.num_hidden_layers, 0);
  const int64_t window = json_get_or<int64_t>(raw, "sliding_window", 0, where, kComponent);
  if (window > 0) {
    if (c.architecture == Architecture::Mistral) {
      c.sliding_window.assign(c.num_hidden_layers, window);
    } else if ((c.architecture == Architecture::Qwen2 || c.architecture == Architecture::Qwen3) &&
               json_get_or<bool>(raw, "use_sliding_window", false, where, kComponent)) {
      if (raw.contains("layer_types") && raw["layer_types"].is_array()) {
        const json& types = raw["layer_types"];
        RETAIN_CHECK(static_cast<int64_t>(types.size()) == c.num_hidden_layers, kComponent,
                     "{}: layer_types has {} entries, expected num_hidden_layers = {}", where, types.size(),
                     c.num_hidden_layers);
        for (int64_t i = 0; i < c.num_hidden_layers; ++i)
          if (types[i] == "sliding_attention") c.sliding_window[i] = window;
      } else {
        const int64_t from = json_get_or<int64_t>(raw, "max_window_layers", c.num_hidden_layers, where, kComponent);
        for (int64_t i = from; i < c.num_hidden_layers; ++i) c.sliding_window[i] = window;
      }
    }
  }

  if (raw.contains("bos_token_id") && raw["bos_token_id"].is_number_integer()) c.bos_token_id = raw["bos_token_id"].get<int64_t>();
  if (raw.contains("pad_token_id") && raw["pad_token_id"].is_number_integer()) c.pad_token_id = raw["pad_token_id"].get<int64_t>();
  c.eos_token_ids = read_ids(raw, "eos_token_id", where);
  if (raw.contains("dtype") && raw["dtype"].is_string()) c.stored_dtype = raw["dtype"].get<std::string>();
  else if (raw.contains("torch_dtype") && raw["torch_dtype"].is_string()) c.stored_dtype = raw["torch_dtype"].get<std::string>();
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& path) {
  return from_json(read_json_file(path, kComponent), path.string());
}

json ModelConfig::to_json() const {
  json out = raw.is_object() ? raw : json::object();
  out["model_type"] = model_type;
  out["vocab_size"] = vocab_size;
  out["hidden_size"] = hidden_size;
  out["intermediate_size"] = intermediate_size;
  out["num_hidden_layers"] = num_hidden_layers;
  out["num_attention_heads"] = num_attention_heads;
  out["num_key_value_heads"] = num_key_value_heads;
  out["head_dim"] = head_dim;
  out["rms_norm_eps"] = rms_norm_eps;
  out["tie_word_embeddings"] = tie_word_embeddings;
  const bool v4 = out.contains("torch_dtype") || (out.contains("rope_theta") && !out.contains("rope_parameters"));
  json scaling = json::object();
  if (rope.type == "linear") scaling = {{"factor", rope.factor}};
  if (rope.type == "llama3")
    scaling = {{"factor", rope.factor}, {"low_freq_factor", rope.low_freq_factor},
               {"high_freq_factor", rope.high_freq_factor},
               {"original_max_position_embeddings", rope.original_max_position_embeddings}};
  if (v4) {
    out["rope_theta"] = rope.theta;
    if (rope.type == "default") {
      out["rope_scaling"] = nullptr;
    } else {
      scaling["rope_type"] = rope.type;
      out["rope_scaling"] = scaling;
    }
    out["torch_dtype"] = stored_dtype;
    out.erase("dtype");
  } else {
    scaling["rope_type"] = rope.type;
    scaling["rope_theta"] = rope.theta;
    out["rope_parameters"] = scaling;
    out.erase("rope_theta");
    out.erase("rope_scaling");
    out["dtype"] = stored_dtype;
    out.erase("torch_dtype");
  }
  return out;
}

int64_t ModelConfig::parameter_count() const {
  const int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  int64_t per_layer = hidden_size * q + 2 * hidden_size * kv + q * hidden_size + 3 * hidden_size * intermediate_size +
                      2 * hidden_size;
  if (qkv_bias) per_layer += q + 2 * kv;
  if (o_bias) per_layer += hidden_size;
  if (mlp_bias) per_layer += 2 * intermediate_size + hidden_size;
  if (qk_norm) per_layer += 2 * head_dim;
  int64_t total = num_hidden_layers * per_layer + vocab_size * hidden_size + hidden_size;
  if (!tie_word_embeddings) total += vocab_size * hidden_size;
  return total;
}

}  // namespace retain
