// ModelConfig (both config.json dialects, validation, architecture flags, to_json round trip,
// parameter_count) and the strict loader (load_model / save_model) on edited copies of the fixtures.
//
// Oracles: the same model written in the transformers-4 and transformers-5 dialects must give the
// same fields; parameter_count() must equal the number of elements of a model built from the config
// and of the tensors transformers saved in the fixtures; a saved-then-loaded model must equal the
// original bitwise (float32 → float32 is exact, so no tolerance). Bad input must be a retain::Error
// that names the offending key, file or tensor.
//
// The checks are plain functions grouped into one gtest case per topic (`Suite.Checks`, each check
// named by SCOPED_TRACE when it fails): CTest runs every case in its own process and loading libtorch
// costs ~0.5 s, which would otherwise dominate the suite. Checks that currently fail on library bugs
// are separate cases.
#include "model_test_util.h"
#include "retain/core/files.h"
#include "retain/io/safetensors.h"
#include "retain/model/loader.h"
#include "retain/model/weights.h"

#include <gtest/gtest.h>

#include <fstream>

namespace {

using retain::json;
using retain::ModelConfig;
using retain::testing::error_of;
using retain::testing::fixtures;
using retain::testing::temp_dir;
namespace fs = std::filesystem;

using retain::testing::contains;
using retain::testing::forward;

// A tiny Llama-family config in code: hidden 32, 2 layers, vocab 64, 4 heads over 2 kv heads.
json tiny_json(const std::string& model_type = "llama") {
  return {{"model_type", model_type},
          {"vocab_size", 64},
          {"hidden_size", 32},
          {"intermediate_size", 48},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"rms_norm_eps", 1e-6},
          {"max_position_embeddings", 128},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", false}};
}

void expect_same_rope(const retain::RopeConfig& a, const retain::RopeConfig& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.theta, b.theta);
  EXPECT_EQ(a.factor, b.factor);
  EXPECT_EQ(a.low_freq_factor, b.low_freq_factor);
  EXPECT_EQ(a.high_freq_factor, b.high_freq_factor);
  EXPECT_EQ(a.original_max_position_embeddings, b.original_max_position_embeddings);
}

// Every field retain uses (not `raw`), compared exactly: they are read from the same JSON numbers.
void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.initializer_range, b.initializer_range);
  expect_same_rope(a.rope, b.rope);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.o_bias, b.o_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.qk_norm, b.qk_norm);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
  EXPECT_EQ(a.stored_dtype, b.stored_dtype);
}

ModelConfig parse(const json& j) { return ModelConfig::from_json(j, "test-config.json"); }

// ---- the two dialects ---------------------------------------------------------------------------

struct DialectCase {
  const char* name;
  json v4_rope_scaling;     // transformers 4: rope_scaling (rope_theta at the top)
  json v5_rope_parameters;  // transformers 5: rope_parameters (rope_theta inside), without theta
  std::string expected_type;
};

struct ConfigDialects {
  DialectCase param;
  const DialectCase& GetParam() const { return param; }
};

struct ConfigDialects_Transformers4And5GiveTheSameRopeAndDtype : ConfigDialects {
  void check() {
    const auto& p = GetParam();
    json v4 = tiny_json(), v5 = tiny_json();
    v4["rope_theta"] = 500000.0;
    v4["rope_scaling"] = p.v4_rope_scaling;
    v4["torch_dtype"] = "bfloat16";
    v5["rope_parameters"] = p.v5_rope_parameters;
    v5["rope_parameters"]["rope_theta"] = 500000.0;
    v5["dtype"] = "bfloat16";
    const auto a = parse(v4), b = parse(v5);
    EXPECT_EQ(a.rope.type, p.expected_type);
    EXPECT_EQ(a.rope.theta, 500000.0);
    EXPECT_EQ(a.stored_dtype, "bfloat16");
    expect_same_config(a, b);
  }
};

const json kLlama3 = {
    {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
json with(json j, const std::string& key, const std::string& value) {
  j[key] = value;
  return j;
}

void Config_FixturesOfBothDialectsParse() {
  // llama_sharded/config.json was written by transformers 4.45, llama_gqa by transformers 5.
  const auto v4 = ModelConfig::from_file(fixtures() / "models" / "llama_sharded" / "config.json");
  EXPECT_EQ(v4.architecture, retain::Architecture::Llama);
  EXPECT_EQ(v4.rope.type, "linear");
  EXPECT_EQ(v4.rope.factor, 2.0);
  EXPECT_EQ(v4.rope.theta, 10000.0);
  EXPECT_EQ(v4.stored_dtype, "float32");
  EXPECT_EQ(v4.num_key_value_heads, 4);
  EXPECT_EQ(v4.head_dim, 16);

  const auto v5 = ModelConfig::from_file(fixtures() / "models" / "llama_gqa" / "config.json");
  EXPECT_EQ(v5.rope.type, "llama3");
  EXPECT_EQ(v5.rope.theta, 50000.0);
  EXPECT_EQ(v5.rope.factor, 8.0);
  EXPECT_EQ(v5.rope.low_freq_factor, 1.0);
  EXPECT_EQ(v5.rope.high_freq_factor, 4.0);
  EXPECT_EQ(v5.rope.original_max_position_embeddings, 32);
  EXPECT_EQ(v5.stored_dtype, "float32");
  EXPECT_EQ(v5.num_attention_heads, 4);
  EXPECT_EQ(v5.num_key_value_heads, 2);
  EXPECT_EQ(v5.rms_norm_eps, 1e-5);
  EXPECT_EQ(v5.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(v5.bos_token_id, std::optional<int64_t>(1));
  EXPECT_EQ(v5.pad_token_id, std::optional<int64_t>(0));
  EXPECT_EQ(v5.sliding_window, std::vector<int64_t>(2, 0));
}

// ---- validation ---------------------------------------------------------------------------------

void Config_UnknownModelTypeNamesTheSupportedOnes() {
  auto j = tiny_json("gpt2");
  const auto msg = error_of([&] { parse(j); });
  EXPECT_MSG(msg, "test-config.json");
  EXPECT_MSG(msg, "\"gpt2\"");
  for (const char* t : {"llama", "mistral", "qwen2", "qwen3"}) EXPECT_MSG(msg, t);
}

void Config_MissingRequiredKeysAreNamed() {
  for (const char* key :
       {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "model_type"}) {
    auto j = tiny_json();
    j.erase(key);
    const auto msg = error_of([&] { parse(j); });
    EXPECT_MSG(msg, std::string("\"") + key + "\"");
    EXPECT_MSG(msg, "test-config.json");
  }
}

void Config_WrongTypeAndNonPositiveValuesAreNamed() {
  auto j = tiny_json();
  j["vocab_size"] = "64";
  EXPECT_MSG(error_of([&] { parse(j); }), "vocab_size");
  j = tiny_json();
  j["hidden_size"] = 0;
  EXPECT_MSG(error_of([&] { parse(j); }), "hidden_size");
}

void Config_UnsupportedRopeTypeIsAnErrorInBothDialects() {
  auto v4 = tiny_json(), v5 = tiny_json();
  v4["rope_theta"] = 10000.0;
  v4["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  v5["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"rope_theta", 10000.0}};
  for (const auto& j : {v4, v5}) {
    const auto msg = error_of([&] { parse(j); });
    EXPECT_MSG(msg, "yarn");
    EXPECT_MSG(msg, "not supported");
  }
}

void Config_ScaledRopeWithoutFactorNamesTheKey() {
  auto j = tiny_json();
  j["rope_parameters"] = {{"rope_type", "linear"}, {"rope_theta", 10000.0}};
  EXPECT_MSG(error_of([&] { parse(j); }), "factor");
}

void Config_HeadsNotDivisibleByKvHeadsIsAnError() {
  auto j = tiny_json();
  j["num_key_value_heads"] = 3;
  const auto msg = error_of([&] { parse(j); });
  EXPECT_MSG(msg, "num_key_value_heads");
  EXPECT_MSG(msg, "(3)");
}

void Config_HeadDimIsDerivedOrExplicit() {
  EXPECT_EQ(parse(tiny_json()).head_dim, 32 / 4);
  auto j = tiny_json();
  j["head_dim"] = 16;  // explicit, ≠ hidden / heads (as Qwen3 and newer Llama configs do)
  const auto c = parse(j);
  EXPECT_EQ(c.head_dim, 16);
  // The model built from it has q_proj (heads·head_dim × hidden) and o_proj the transpose.
  retain::CausalLM model(c);
  EXPECT_EQ(model->model->layer_list[0]->self_attn->q_proj->weight.sizes(), (at::IntArrayRef{4 * 16, 32}));
  EXPECT_EQ(model->model->layer_list[0]->self_attn->k_proj->weight.sizes(), (at::IntArrayRef{2 * 16, 32}));
  EXPECT_EQ(model->model->layer_list[0]->self_attn->o_proj->weight.sizes(), (at::IntArrayRef{32, 4 * 16}));
  auto odd = tiny_json();
  odd["num_attention_heads"] = 6;  // 32 / 6 is not an integer and no head_dim is given
  odd["num_key_value_heads"] = 2;
  EXPECT_MSG(error_of([&] { parse(odd); }), "head_dim");
}

// ---- architecture flags --------------------------------------------------------------------------

void Config_ArchitectureFlags() {
  const auto llama = parse(tiny_json("llama"));
  EXPECT_FALSE(llama.qkv_bias || llama.o_bias || llama.mlp_bias || llama.qk_norm);
  auto biased = tiny_json("llama");
  biased["attention_bias"] = true;
  biased["mlp_bias"] = true;
  const auto b = parse(biased);
  EXPECT_TRUE(b.qkv_bias && b.o_bias && b.mlp_bias);
  EXPECT_FALSE(b.qk_norm);

  const auto qwen2 = parse(tiny_json("qwen2"));  // Qwen2: bias on q, k, v only, always
  EXPECT_EQ(qwen2.architecture, retain::Architecture::Qwen2);
  EXPECT_TRUE(qwen2.qkv_bias);
  EXPECT_FALSE(qwen2.o_bias || qwen2.mlp_bias || qwen2.qk_norm);

  const auto qwen3 = parse(tiny_json("qwen3"));  // Qwen3: q/k RMSNorm, no bias unless attention_bias
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_FALSE(qwen3.qkv_bias || qwen3.o_bias || qwen3.mlp_bias);

  const auto mistral = parse(tiny_json("mistral"));
  EXPECT_FALSE(mistral.qkv_bias || mistral.o_bias || mistral.mlp_bias || mistral.qk_norm);
}

void Config_MistralSlidingWindowAppliesToEveryLayer() {
  auto j = tiny_json("mistral");
  j["num_hidden_layers"] = 3;
  j["sliding_window"] = 3;
  EXPECT_EQ(parse(j).sliding_window, (std::vector<int64_t>{3, 3, 3}));
  j["sliding_window"] = nullptr;  // transformers writes null for "no window"
  EXPECT_EQ(parse(j).sliding_window, (std::vector<int64_t>{0, 0, 0}));
  auto llama = tiny_json("llama");
  llama["sliding_window"] = 3;  // Llama has no sliding window: the key is ignored
  EXPECT_EQ(parse(llama).sliding_window, (std::vector<int64_t>{0, 0}));
}

void Config_Qwen2SlidingWindowFollowsMaxWindowLayersOrLayerTypes() {
  auto j = tiny_json("qwen2");
  j["num_hidden_layers"] = 3;
  j["sliding_window"] = 4;
  j["max_window_layers"] = 1;
  EXPECT_EQ(parse(j).sliding_window, (std::vector<int64_t>{0, 0, 0})) << "use_sliding_window is false by default";
  j["use_sliding_window"] = true;
  // transformers 4: layers with index >= max_window_layers slide.
  EXPECT_EQ(parse(j).sliding_window, (std::vector<int64_t>{0, 4, 4}));
  // transformers 5: layer_types says it per layer and wins.
  j["layer_types"] = {"full_attention", "sliding_attention", "full_attention"};
  EXPECT_EQ(parse(j).sliding_window, (std::vector<int64_t>{0, 4, 0}));
  j["layer_types"] = {"full_attention", "sliding_attention"};
  EXPECT_MSG(error_of([&] { parse(j); }), "layer_types");
  // The committed fixtures: Qwen2 with use_sliding_window false and sliding_window null; Mistral 6.
  EXPECT_EQ(ModelConfig::from_file(fixtures() / "models" / "qwen2" / "config.json").sliding_window,
            (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(ModelConfig::from_file(fixtures() / "models" / "mistral" / "config.json").sliding_window,
            (std::vector<int64_t>{6, 6}));
}

void Config_EosTokenIdMayBeAList() {
  auto j = tiny_json();
  j["eos_token_id"] = {2, 7};
  EXPECT_EQ(parse(j).eos_token_ids, (std::vector<int64_t>{2, 7}));
  j["eos_token_id"] = "2";
  EXPECT_MSG(error_of([&] { parse(j); }), "eos_token_id");
}

// ---- to_json round trip -------------------------------------------------------------------------

void Config_ToJsonRoundTripsInTheTransformers4Dialect() {
  auto j = tiny_json("qwen2");
  j["rope_theta"] = 1e6;
  j["rope_scaling"] = with(kLlama3, "type", "llama3");
  j["torch_dtype"] = "bfloat16";
  j["num_hidden_layers"] = 3;
  j["use_sliding_window"] = true;
  j["sliding_window"] = 5;
  j["max_window_layers"] = 2;
  j["eos_token_id"] = {2, 3};
  j["custom_key"] = {{"kept", true}};
  const auto a = parse(j);
  const json out = a.to_json();
  EXPECT_TRUE(out.contains("rope_theta"));
  EXPECT_TRUE(out.contains("rope_scaling"));
  EXPECT_TRUE(out.contains("torch_dtype"));
  EXPECT_FALSE(out.contains("rope_parameters"));
  EXPECT_FALSE(out.contains("dtype"));
  EXPECT_EQ(out["custom_key"], j["custom_key"]);
  expect_same_config(parse(out), a);

  auto plain = tiny_json();
  plain["rope_theta"] = 10000.0;
  plain["rope_scaling"] = nullptr;
  plain["torch_dtype"] = "float32";
  const auto d = parse(plain);
  expect_same_config(parse(d.to_json()), d);
}

void Config_ToJsonRoundTripsInTheTransformers5Dialect() {
  json llama3 = with(kLlama3, "rope_type", "llama3");
  llama3["rope_theta"] = 5e5;
  for (const json& rope : {json{{"rope_type", "default"}, {"rope_theta", 1e6}},
                           json{{"rope_type", "linear"}, {"factor", 3.0}, {"rope_theta", 1e4}}, llama3}) {
    SCOPED_TRACE(rope.dump());
    auto j = tiny_json("qwen3");
    j["head_dim"] = 16;
    j["rope_parameters"] = rope;
    j["dtype"] = "float16";
    j["tie_word_embeddings"] = true;
    const auto a = parse(j);
    const json out = a.to_json();
    EXPECT_TRUE(out.contains("rope_parameters"));
    EXPECT_TRUE(out.contains("dtype"));
    EXPECT_FALSE(out.contains("rope_theta"));
    EXPECT_FALSE(out.contains("rope_scaling"));
    EXPECT_FALSE(out.contains("torch_dtype"));
    expect_same_config(parse(out), a);
  }
}

void Config_ToJsonWritesChangedFields() {
  auto c = parse(tiny_json());
  c.vocab_size = 100;
  c.rope.theta = 123.0;
  c.stored_dtype = "bfloat16";
  const auto back = parse(c.to_json());
  EXPECT_EQ(back.vocab_size, 100);
  EXPECT_EQ(back.rope.theta, 123.0);
  EXPECT_EQ(back.stored_dtype, "bfloat16");
}

// ---- parameter_count ----------------------------------------------------------------------------

int64_t numel_of(retain::CausalLM& model) {
  int64_t n = 0;
  for (auto& [name, p] : model->base_parameters()) n += p.numel();
  return n;
}

void Config_ParameterCountClosedForm() {
  // Hand count for tiny_json(): embed 64·32; per layer q 32·32 + k 16·32 + v 16·32 + o 32·32
  // + mlp 3·32·48 + 2 norms·32 = 7744; final norm 32; head 64·32 unless tied.
  EXPECT_EQ(parse(tiny_json()).parameter_count(), 2048 + 2 * 7744 + 32 + 2048);
  auto tied = tiny_json();
  tied["tie_word_embeddings"] = true;
  EXPECT_EQ(parse(tied).parameter_count(), 2048 + 2 * 7744 + 32);
}

void Config_ParameterCountEqualsTheBuiltModel() {
  std::vector<json> configs;
  for (const char* type : {"llama", "mistral", "qwen2", "qwen3"})
    for (bool tie : {false, true}) {
      auto j = tiny_json(type);
      j["tie_word_embeddings"] = tie;
      configs.push_back(j);
    }
  auto biased = tiny_json("llama");
  biased["attention_bias"] = true;
  biased["mlp_bias"] = true;
  biased["head_dim"] = 12;
  configs.push_back(biased);
  auto qwen3 = tiny_json("qwen3");
  qwen3["head_dim"] = 16;
  qwen3["attention_bias"] = true;
  configs.push_back(qwen3);
  for (const auto& j : configs) {
    SCOPED_TRACE(j.dump());
    const auto c = parse(j);
    retain::CausalLM model(c);
    EXPECT_EQ(c.parameter_count(), numel_of(model));
    // The name table the loader checks against agrees with the module tree.
    const auto expected = retain::expected_tensors(c);
    const auto params = model->base_parameters();
    ASSERT_EQ(expected.size(), params.size());
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const auto& [name, p] : params) shapes[name] = p.sizes().vec();
    for (const auto& e : expected) EXPECT_EQ(shapes[e.name], e.shape) << e.name;
  }
}

void Config_ParameterCountEqualsTheTensorsTransformersSaved() {
  for (const char* name : {"llama_gqa", "llama_sharded", "qwen2", "qwen3", "mistral"}) {
    SCOPED_TRACE(name);
    const auto dir = fixtures() / "models" / name;
    const auto weights = retain::WeightFiles::open(dir);
    int64_t n = 0;
    for (const auto& [tensor, file] : weights.index()) {
      int64_t numel = 1;
      for (auto d : file->info(tensor).shape) numel *= d;
      n += numel;
    }
    EXPECT_EQ(ModelConfig::from_file(dir / "config.json").parameter_count(), n);
  }
}

// ---- loader strictness --------------------------------------------------------------------------

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

fs::path copy_fixture(const std::string& name) {
  const auto dir = temp_dir("loader") / name;
  fs::copy(fixtures() / "models" / name, dir, fs::copy_options::recursive);
  return dir;
}

Tensors read_all(const fs::path& file) {
  const auto f = retain::safetensors::File::open(file);
  Tensors out;
  for (const auto& t : f.tensors()) out.emplace_back(t.name, f.tensor(t.name).clone());
  return out;
}

void erase(Tensors& t, const std::string& name) {
  const auto before = t.size();
  t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& p) { return p.first == name; }), t.end());
  ASSERT_EQ(t.size() + 1, before) << name;
}

at::Tensor& find(Tensors& t, const std::string& name) {
  for (auto& [n, v] : t)
    if (n == name) return v;
  throw std::runtime_error("test: no tensor " + name);
}

void write_config(const fs::path& dir, const json& j) { std::ofstream(dir / "config.json") << j.dump(2); }

json read_config(const fs::path& dir) { return json::parse(std::ifstream(dir / "config.json")); }

class Loader : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = copy_fixture("llama_gqa");
    weights = dir / "model.safetensors";
    tensors = read_all(weights);
  }
  std::string load_error() {
    retain::safetensors::save(weights, tensors);
    return error_of([&] { retain::load_model(dir); });
  }
  fs::path dir, weights;
  Tensors tensors;
};

struct Loader_UneditedCopyLoadsWithTheFileValues : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      auto model = retain::load_model(dir);
      std::map<std::string, at::Tensor> params;
      for (auto& [name, p] : model->base_parameters()) params[name] = p;
      ASSERT_EQ(params.size(), tensors.size());
      for (const auto& [name, t] : tensors) EXPECT_TRUE(params.at(name).equal(t)) << name;
    }();
  }
};

struct Loader_MissingTensorIsNamed : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      erase(tensors, "model.layers.1.mlp.down_proj.weight");
      const auto msg = load_error();
      EXPECT_MSG(msg, "'model.layers.1.mlp.down_proj.weight'");
      EXPECT_MSG(msg, "missing");
      EXPECT_MSG(msg, weights.string());
    }();
  }
};

struct Loader_MisshapedTensorNamesGotAndExpectedShapes : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      find(tensors, "model.layers.0.self_attn.k_proj.weight") = at::zeros({16, 64});
      const auto msg = load_error();
      EXPECT_MSG(msg, "'model.layers.0.self_attn.k_proj.weight'");
      EXPECT_MSG(msg, "[16, 64]");  // got
      EXPECT_MSG(msg, "[32, 64]");  // expected: 2 kv heads · 16 × hidden 64
      EXPECT_MSG(msg, weights.string());
    }();
  }
};

struct Loader_IntegerTensorIsRefused : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      find(tensors, "model.norm.weight") = at::ones({64}, at::kInt);
      const auto msg = load_error();
      EXPECT_MSG(msg, "'model.norm.weight'");
      EXPECT_MSG(msg, "I32");
    }();
  }
};

struct Loader_LeftoverTensorIsNamed : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      tensors.emplace_back("model.layers.0.self_attn.extra.weight", at::zeros({4}));
      const auto msg = load_error();
      EXPECT_MSG(msg, "'model.layers.0.self_attn.extra.weight'");
      EXPECT_MSG(msg, "unexpected");
    }();
  }
};

struct Loader_RotaryInverseFrequenciesAreIgnoredAsTransformersDoes : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      auto reference = retain::load_model(dir);
      tensors.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", at::ones({8}));
      retain::safetensors::save(weights, tensors);
      auto model = retain::load_model(dir);
      torch::NoGradGuard no_grad;
      auto ids = at::arange(10, at::kLong).view({1, 10});
      // Same weights, same rope config → bitwise the same logits (the stored inv_freq is not used).
      EXPECT_TRUE(forward(model, ids).equal(forward(reference, ids)));
    }();
  }
};

struct Loader_TruncatedWeightsFileIsNamed : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      const auto bytes = retain::read_file(weights);
      std::ofstream(weights, std::ios::binary | std::ios::trunc)
          .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
      const auto msg = error_of([&] { retain::load_model(dir); });
      EXPECT_MSG(msg, weights.string());
      EXPECT_MSG(msg, "truncated");
    }();
  }
};

struct Loader_UnknownModelTypeInConfigJson : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      auto j = read_config(dir);
      j["model_type"] = "gpt_neox";
      write_config(dir, j);
      const auto msg = error_of([&] { retain::load_model(dir); });
      EXPECT_MSG(msg, "gpt_neox");
      EXPECT_MSG(msg, "config.json");
      EXPECT_MSG(msg, "llama, mistral, qwen2, qwen3");
    }();
  }
};

struct Loader_ConfigThatDisagreesWithTheWeights : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      auto j = read_config(dir);
      j["vocab_size"] = 385;
      write_config(dir, j);
      const auto msg = error_of([&] { retain::load_model(dir); });
      EXPECT_MSG(msg, "'model.embed_tokens.weight'");
      EXPECT_MSG(msg, "[385, 64]");
    }();
  }
};

struct Loader_MissingConfigJson : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      fs::remove(dir / "config.json");
      const auto msg = error_of([&] { retain::load_model(dir); });
      EXPECT_MSG(msg, "config.json");
      EXPECT_MSG(msg, dir.string());
    }();
  }
};

struct Loader_MissingWeights : Loader {
  void TestBody() override {}
  void check() {
    SetUp();
    [&]() {
      fs::remove(weights);
      const auto msg = error_of([&] { retain::load_model(dir); });
      EXPECT_MSG(msg, "model.safetensors");
      EXPECT_MSG(msg, dir.string());
    }();
  }
};

void LoaderSharded_IndexPointingToAMissingShard() {
  const auto dir = copy_fixture("llama_sharded");
  retain::load_model(dir);  // the intact copy loads
  fs::remove(dir / "model-00005-of-00012.safetensors");
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, "model-00005-of-00012.safetensors");
  EXPECT_MSG(msg, "does not exist");
  EXPECT_MSG(msg, "model.safetensors.index.json");
}

void LoaderSharded_ShardLackingAListedTensor() {
  // The index lists q_proj and k_proj of layer 0 in shard 2; the rewritten shard keeps only q_proj.
  const auto dir = copy_fixture("llama_sharded");
  const auto shard = dir / "model-00002-of-00012.safetensors";
  auto tensors = read_all(shard);
  erase(tensors, "model.layers.0.self_attn.k_proj.weight");
  retain::safetensors::save(shard, tensors);
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, "'model.layers.0.self_attn.k_proj.weight'");
  EXPECT_MSG(msg, "model-00002-of-00012.safetensors");
}

void LoaderSharded_ShardHoldingAnUnlistedTensor() {
  const auto dir = copy_fixture("llama_sharded");
  const auto shard = dir / "model-00002-of-00012.safetensors";
  auto tensors = read_all(shard);
  tensors.emplace_back("stowaway", at::zeros({2}));
  retain::safetensors::save(shard, tensors);
  EXPECT_MSG(error_of([&] { retain::load_model(dir); }), "'stowaway'");
}

void LoaderTied_ExtraHeadEqualToTheEmbeddingIsAcceptedAndADifferentOneRefused() {
  const auto dir = copy_fixture("qwen2");
  const auto weights = dir / "model.safetensors";
  auto tensors = read_all(weights);
  const auto embedding = find(tensors, "model.embed_tokens.weight");
  tensors.emplace_back("lm_head.weight", embedding.clone());
  retain::safetensors::save(weights, tensors);
  auto model = retain::load_model(dir);
  EXPECT_FALSE(model->lm_head);  // still tied: one matrix
  EXPECT_TRUE(model->model->embed_tokens->weight.equal(embedding.to(at::kFloat)));

  auto different = embedding.clone();
  different[3][5] = different[3][5].item<float>() + 1.0f;
  find(tensors, "lm_head.weight") = different;
  retain::safetensors::save(weights, tensors);
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, "lm_head.weight");
  EXPECT_MSG(msg, "tie_word_embeddings");
}

void LoaderRoundTrip_SaveThenLoadIsBitwiseAndKeepsTheConfig() {
  for (const char* name : {"llama_gqa", "llama_sharded", "qwen3"}) {
    SCOPED_TRACE(name);
    auto original = retain::load_model(fixtures() / "models" / name);
    const auto out = temp_dir("loader_rt") / name;
    retain::save_model(out, original);
    auto again = retain::load_model(out);
    std::map<std::string, at::Tensor> a;
    for (auto& [n, p] : original->base_parameters()) a[n] = p;
    auto b = again->base_parameters();
    ASSERT_EQ(a.size(), b.size());
    for (auto& [n, p] : b) EXPECT_TRUE(a.at(n).equal(p)) << n;
    ModelConfig expected = original->config;
    expected.stored_dtype = "float32";  // save_model records the dtype it wrote
    expect_same_config(again->config, expected);
    // Keys retain does not use survive, and the file keeps its dialect.
    const auto source = read_config(fixtures() / "models" / name), saved = read_config(out);
    EXPECT_EQ(saved["transformers_version"], source["transformers_version"]);
    EXPECT_EQ(saved.contains("torch_dtype"), source.contains("torch_dtype"));
    EXPECT_EQ(saved.contains("rope_parameters"), source.contains("rope_parameters"));
  }
}

void LoaderRoundTrip_SavingInBfloat16RoundsEachWeightOnce() {
  auto original = retain::load_model(fixtures() / "models" / "llama_gqa");
  const auto out = temp_dir("loader_rt") / "bf16";
  retain::save_model(out, original, at::kBFloat16);
  EXPECT_EQ(read_config(out)["dtype"], "bfloat16");
  EXPECT_EQ(retain::safetensors::File::open(out / "model.safetensors").info("lm_head.weight").dtype_name, "BF16");
  auto again = retain::load_model(out);  // float32 compute: bf16 → f32 is exact
  std::map<std::string, at::Tensor> a;
  for (auto& [n, p] : original->base_parameters()) a[n] = p;
  for (auto& [n, p] : again->base_parameters()) EXPECT_TRUE(a.at(n).to(at::kBFloat16).to(at::kFloat).equal(p)) << n;
}

void LoaderRoundTrip_LoadInFloat64KeepsTheStoredValues() {
  auto model = retain::load_model(fixtures() / "models" / "qwen2", {at::kDouble, at::kCPU});
  const auto file = retain::safetensors::File::open(fixtures() / "models" / "qwen2" / "model.safetensors");
  for (auto& [n, p] : model->base_parameters()) {
    EXPECT_EQ(p.scalar_type(), at::kDouble) << n;
    EXPECT_TRUE(p.equal(file.tensor(n).to(at::kDouble))) << n;
  }
}

void LoaderOptions_DtypeAndDeviceNames() {
  EXPECT_EQ(retain::parse_dtype("bfloat16"), at::kBFloat16);
  EXPECT_EQ(retain::parse_dtype("float64"), at::kDouble);
  for (auto t : {at::kFloat, at::kBFloat16, at::kHalf, at::kDouble})
    EXPECT_EQ(retain::parse_dtype(retain::dtype_to_string(t)), t);
  EXPECT_MSG(error_of([] { retain::parse_dtype("int8"); }), "int8");
  EXPECT_TRUE(retain::parse_device("cpu").is_cpu());
  EXPECT_MSG(error_of([] { retain::parse_device("tpu"); }), "tpu");
}

TEST(ConfigDialects, Checks) {
  {
    int i = 0;
    for (const auto& value :
         std::vector<DialectCase>{DialectCase{"default_null", nullptr, {{"rope_type", "default"}}, "default"},
                                  DialectCase{"linear_type",
                                              {{"type", "linear"}, {"factor", 2.0}},
                                              {{"rope_type", "linear"}, {"factor", 2.0}},
                                              "linear"},
                                  DialectCase{"linear_rope_type",
                                              {{"rope_type", "linear"}, {"factor", 4.0}},
                                              {{"rope_type", "linear"}, {"factor", 4.0}},
                                              "linear"},
                                  DialectCase{"llama3_type", with(kLlama3, "type", "llama3"),
                                              with(kLlama3, "rope_type", "llama3"), "llama3"},
                                  DialectCase{"llama3_rope_type", with(kLlama3, "rope_type", "llama3"),
                                              with(kLlama3, "rope_type", "llama3"), "llama3"}}) {
      SCOPED_TRACE("Transformers4And5GiveTheSameRopeAndDtype #" + std::to_string(i++));
      ConfigDialects_Transformers4And5GiveTheSameRopeAndDtype t;
      t.param = value;
      t.check();
    }
  }
}

TEST(Config, Checks) {
  {
    SCOPED_TRACE("FixturesOfBothDialectsParse");
    Config_FixturesOfBothDialectsParse();
  }
  {
    SCOPED_TRACE("UnknownModelTypeNamesTheSupportedOnes");
    Config_UnknownModelTypeNamesTheSupportedOnes();
  }
  {
    SCOPED_TRACE("MissingRequiredKeysAreNamed");
    Config_MissingRequiredKeysAreNamed();
  }
  {
    SCOPED_TRACE("WrongTypeAndNonPositiveValuesAreNamed");
    Config_WrongTypeAndNonPositiveValuesAreNamed();
  }
  {
    SCOPED_TRACE("UnsupportedRopeTypeIsAnErrorInBothDialects");
    Config_UnsupportedRopeTypeIsAnErrorInBothDialects();
  }
  {
    SCOPED_TRACE("ScaledRopeWithoutFactorNamesTheKey");
    Config_ScaledRopeWithoutFactorNamesTheKey();
  }
  {
    SCOPED_TRACE("HeadsNotDivisibleByKvHeadsIsAnError");
    Config_HeadsNotDivisibleByKvHeadsIsAnError();
  }
  {
    SCOPED_TRACE("HeadDimIsDerivedOrExplicit");
    Config_HeadDimIsDerivedOrExplicit();
  }
  {
    SCOPED_TRACE("ArchitectureFlags");
    Config_ArchitectureFlags();
  }
  {
    SCOPED_TRACE("MistralSlidingWindowAppliesToEveryLayer");
    Config_MistralSlidingWindowAppliesToEveryLayer();
  }
  {
    SCOPED_TRACE("Qwen2SlidingWindowFollowsMaxWindowLayersOrLayerTypes");
    Config_Qwen2SlidingWindowFollowsMaxWindowLayersOrLayerTypes();
  }
  {
    SCOPED_TRACE("EosTokenIdMayBeAList");
    Config_EosTokenIdMayBeAList();
  }
  {
    SCOPED_TRACE("ToJsonRoundTripsInTheTransformers4Dialect");
    Config_ToJsonRoundTripsInTheTransformers4Dialect();
  }
  {
    SCOPED_TRACE("ToJsonRoundTripsInTheTransformers5Dialect");
    Config_ToJsonRoundTripsInTheTransformers5Dialect();
  }
  {
    SCOPED_TRACE("ToJsonWritesChangedFields");
    Config_ToJsonWritesChangedFields();
  }
  {
    SCOPED_TRACE("ParameterCountClosedForm");
    Config_ParameterCountClosedForm();
  }
  {
    SCOPED_TRACE("ParameterCountEqualsTheBuiltModel");
    Config_ParameterCountEqualsTheBuiltModel();
  }
  {
    SCOPED_TRACE("ParameterCountEqualsTheTensorsTransformersSaved");
    Config_ParameterCountEqualsTheTensorsTransformersSaved();
  }
}

TEST(Loader, Checks) {
  {
    SCOPED_TRACE("UneditedCopyLoadsWithTheFileValues");
    Loader_UneditedCopyLoadsWithTheFileValues t;
    t.check();
  }
  {
    SCOPED_TRACE("MissingTensorIsNamed");
    Loader_MissingTensorIsNamed t;
    t.check();
  }
  {
    SCOPED_TRACE("MisshapedTensorNamesGotAndExpectedShapes");
    Loader_MisshapedTensorNamesGotAndExpectedShapes t;
    t.check();
  }
  {
    SCOPED_TRACE("IntegerTensorIsRefused");
    Loader_IntegerTensorIsRefused t;
    t.check();
  }
  {
    SCOPED_TRACE("LeftoverTensorIsNamed");
    Loader_LeftoverTensorIsNamed t;
    t.check();
  }
  {
    SCOPED_TRACE("RotaryInverseFrequenciesAreIgnoredAsTransformersDoes");
    Loader_RotaryInverseFrequenciesAreIgnoredAsTransformersDoes t;
    t.check();
  }
  {
    SCOPED_TRACE("TruncatedWeightsFileIsNamed");
    Loader_TruncatedWeightsFileIsNamed t;
    t.check();
  }
  {
    SCOPED_TRACE("UnknownModelTypeInConfigJson");
    Loader_UnknownModelTypeInConfigJson t;
    t.check();
  }
  {
    SCOPED_TRACE("ConfigThatDisagreesWithTheWeights");
    Loader_ConfigThatDisagreesWithTheWeights t;
    t.check();
  }
  {
    SCOPED_TRACE("MissingConfigJson");
    Loader_MissingConfigJson t;
    t.check();
  }
  {
    SCOPED_TRACE("MissingWeights");
    Loader_MissingWeights t;
    t.check();
  }
}

TEST(LoaderSharded, Checks) {
  {
    SCOPED_TRACE("IndexPointingToAMissingShard");
    LoaderSharded_IndexPointingToAMissingShard();
  }
  {
    SCOPED_TRACE("ShardLackingAListedTensor");
    LoaderSharded_ShardLackingAListedTensor();
  }
  {
    SCOPED_TRACE("ShardHoldingAnUnlistedTensor");
    LoaderSharded_ShardHoldingAnUnlistedTensor();
  }
}

TEST(LoaderTied, Checks) {
  {
    SCOPED_TRACE("ExtraHeadEqualToTheEmbeddingIsAcceptedAndADifferentOneRefused");
    LoaderTied_ExtraHeadEqualToTheEmbeddingIsAcceptedAndADifferentOneRefused();
  }
}

TEST(LoaderRoundTrip, Checks) {
  {
    SCOPED_TRACE("SaveThenLoadIsBitwiseAndKeepsTheConfig");
    LoaderRoundTrip_SaveThenLoadIsBitwiseAndKeepsTheConfig();
  }
  {
    SCOPED_TRACE("SavingInBfloat16RoundsEachWeightOnce");
    LoaderRoundTrip_SavingInBfloat16RoundsEachWeightOnce();
  }
  {
    SCOPED_TRACE("LoadInFloat64KeepsTheStoredValues");
    LoaderRoundTrip_LoadInFloat64KeepsTheStoredValues();
  }
}

TEST(LoaderOptions, Checks) {
  {
    SCOPED_TRACE("DtypeAndDeviceNames");
    LoaderOptions_DtypeAndDeviceNames();
  }
}

}  // namespace
