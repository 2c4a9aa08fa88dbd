// ModelConfig: both config.json dialects, validation, architecture flags, the to_json round trip and
// parameter_count.
//
// Oracles: the same model written in the transformers-4 and transformers-5 dialects must give the
// same fields; parameter_count() must equal the number of elements of a model built from the config
// and of the tensors transformers saved in the fixtures. Bad input must be a retain::Error that names
// the offending key or file.
#include "model_test_util.h"
#include "retain/model/config.h"
#include "retain/model/loader.h"
#include "retain/model/weights.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;
using retain::json;
using retain::ModelConfig;

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

ModelConfig parse(const json& j) { return ModelConfig::from_json(j, "test-config.json"); }

const json kLlama3 = {
    {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
json with(json j, const std::string& key, const std::string& value) {
  j[key] = value;
  return j;
}

// ---- the two dialects ---------------------------------------------------------------------------

struct DialectCase {
  const char* name;
  json v4_rope_scaling;     // transformers 4: rope_scaling (rope_theta at the top)
  json v5_rope_parameters;  // transformers 5: rope_parameters (rope_theta inside), without theta
  std::string expected_type;
};

void PrintTo(const DialectCase& c, std::ostream* os) { *os << c.name; }

class ConfigDialects : public ::testing::TestWithParam<DialectCase> {};

TEST_P(ConfigDialects, Transformers4And5GiveTheSameRopeAndDtype) {
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

INSTANTIATE_TEST_SUITE_P(Rope, ConfigDialects,
                         ::testing::Values(DialectCase{"default_null", nullptr, {{"rope_type", "default"}}, "default"},
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
                                                       with(kLlama3, "rope_type", "llama3"), "llama3"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Config, FixturesOfBothDialectsParse) {
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

TEST(Config, UnknownModelTypeNamesTheSupportedOnes) {
  auto j = tiny_json("gpt2");
  const auto msg = error_of([&] { parse(j); });
  EXPECT_MSG(msg, "test-config.json");
  EXPECT_MSG(msg, "\"gpt2\"");
  for (const char* t : {"llama", "mistral", "qwen2", "qwen3"}) EXPECT_MSG(msg, t);
}

TEST(Config, MissingRequiredKeysAreNamed) {
  for (const char* key :
       {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "model_type"}) {
    auto j = tiny_json();
    j.erase(key);
    const auto msg = error_of([&] { parse(j); });
    EXPECT_MSG(msg, std::string("\"") + key + "\"");
    EXPECT_MSG(msg, "test-config.json");
  }
}

TEST(Config, WrongTypeAndNonPositiveValuesAreNamed) {
  auto j = tiny_json();
  j["vocab_size"] = "64";
  EXPECT_MSG(error_of([&] { parse(j); }), "vocab_size");
  j = tiny_json();
  j["hidden_size"] = 0;
  EXPECT_MSG(error_of([&] { parse(j); }), "hidden_size");
}

TEST(Config, UnsupportedRopeTypeIsAnErrorInBothDialects) {
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

TEST(Config, ScaledRopeWithoutFactorNamesTheKey) {
  auto j = tiny_json();
  j["rope_parameters"] = {{"rope_type", "linear"}, {"rope_theta", 10000.0}};
  EXPECT_MSG(error_of([&] { parse(j); }), "factor");
}

TEST(Config, HeadsNotDivisibleByKvHeadsIsAnError) {
  auto j = tiny_json();
  j["num_key_value_heads"] = 3;
  const auto msg = error_of([&] { parse(j); });
  EXPECT_MSG(msg, "num_key_value_heads");
  EXPECT_MSG(msg, "(3)");
}

TEST(Config, HeadDimIsDerivedOrExplicit) {
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

TEST(Config, ArchitectureFlags) {
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

TEST(Config, MistralSlidingWindowAppliesToEveryLayer) {
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

TEST(Config, Qwen2SlidingWindowFollowsMaxWindowLayersOrLayerTypes) {
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

TEST(Config, EosTokenIdMayBeAList) {
  auto j = tiny_json();
  j["eos_token_id"] = {2, 7};
  EXPECT_EQ(parse(j).eos_token_ids, (std::vector<int64_t>{2, 7}));
  j["eos_token_id"] = "2";
  EXPECT_MSG(error_of([&] { parse(j); }), "eos_token_id");
}

// ---- to_json round trip -------------------------------------------------------------------------

TEST(Config, ToJsonRoundTripsInTheTransformers4Dialect) {
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

TEST(Config, ToJsonRoundTripsInTheTransformers5Dialect) {
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

TEST(Config, ToJsonWritesChangedFields) {
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

TEST(Config, ParameterCountClosedForm) {
  // Hand count for tiny_json(): embed 64·32; per layer q 32·32 + k 16·32 + v 16·32 + o 32·32
  // + mlp 3·32·48 + 2 norms·32 = 7744; final norm 32; head 64·32 unless tied.
  EXPECT_EQ(parse(tiny_json()).parameter_count(), 2048 + 2 * 7744 + 32 + 2048);
  auto tied = tiny_json();
  tied["tie_word_embeddings"] = true;
  EXPECT_EQ(parse(tied).parameter_count(), 2048 + 2 * 7744 + 32);
}

TEST(Config, ParameterCountEqualsTheBuiltModel) {
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

TEST(Config, ParameterCountEqualsTheTensorsTransformersSaved) {
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

}  // namespace
