// The strict loader (load_model / save_model) on edited copies of the fixtures: every tensor present,
// of the expected dtype and shape, none left over, sharded folders through their index, tied heads.
//
// Oracles: a saved-then-loaded model must equal the original bitwise (float32 → float32 is exact, so
// no tolerance); a stored rotary inv_freq must leave the logits bitwise as they were. Bad input must
// be a retain::Error that names the offending file or tensor.
#include "model_test_util.h"
#include "retain/core/files.h"
#include "retain/io/safetensors.h"
#include "retain/model/loader.h"

#include <gtest/gtest.h>

#include <fstream>

namespace {

using namespace retain::testing;
using retain::json;
using retain::ModelConfig;

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

TEST_F(Loader, UneditedCopyLoadsWithTheFileValues) {
  auto model = retain::load_model(dir);
  std::map<std::string, at::Tensor> params;
  for (auto& [name, p] : model->base_parameters()) params[name] = p;
  ASSERT_EQ(params.size(), tensors.size());
  for (const auto& [name, t] : tensors) EXPECT_TRUE(params.at(name).equal(t)) << name;
}

TEST_F(Loader, MissingTensorIsNamed) {
  erase(tensors, "model.layers.1.mlp.down_proj.weight");
  const auto msg = load_error();
  EXPECT_MSG(msg, "'model.layers.1.mlp.down_proj.weight'");
  EXPECT_MSG(msg, "missing");
  EXPECT_MSG(msg, weights.string());
}

TEST_F(Loader, MisshapedTensorNamesGotAndExpectedShapes) {
  find(tensors, "model.layers.0.self_attn.k_proj.weight") = at::zeros({16, 64});
  const auto msg = load_error();
  EXPECT_MSG(msg, "'model.layers.0.self_attn.k_proj.weight'");
  EXPECT_MSG(msg, "[16, 64]");  // got
  EXPECT_MSG(msg, "[32, 64]");  // expected: 2 kv heads · 16 × hidden 64
  EXPECT_MSG(msg, weights.string());
}

TEST_F(Loader, IntegerTensorIsRefused) {
  find(tensors, "model.norm.weight") = at::ones({64}, at::kInt);
  const auto msg = load_error();
  EXPECT_MSG(msg, "'model.norm.weight'");
  EXPECT_MSG(msg, "I32");
}

TEST_F(Loader, LeftoverTensorIsNamed) {
  tensors.emplace_back("model.layers.0.self_attn.extra.weight", at::zeros({4}));
  const auto msg = load_error();
  EXPECT_MSG(msg, "'model.layers.0.self_attn.extra.weight'");
  EXPECT_MSG(msg, "unexpected");
}

TEST_F(Loader, RotaryInverseFrequenciesAreIgnoredAsTransformersDoes) {
  auto reference = retain::load_model(dir);
  tensors.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", at::ones({8}));
  retain::safetensors::save(weights, tensors);
  auto model = retain::load_model(dir);
  torch::NoGradGuard no_grad;
  auto ids = at::arange(10, at::kLong).view({1, 10});
  // Same weights, same rope config → bitwise the same logits (the stored inv_freq is not used).
  EXPECT_TRUE(forward(model, ids).equal(forward(reference, ids)));
}

TEST_F(Loader, TruncatedWeightsFileIsNamed) {
  const auto bytes = retain::read_file(weights);
  std::ofstream(weights, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, weights.string());
  EXPECT_MSG(msg, "truncated");
}

TEST_F(Loader, UnknownModelTypeInConfigJson) {
  auto j = read_config(dir);
  j["model_type"] = "gpt_neox";
  write_config(dir, j);
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, "gpt_neox");
  EXPECT_MSG(msg, "config.json");
  EXPECT_MSG(msg, "llama, mistral, qwen2, qwen3");
}

TEST_F(Loader, ConfigThatDisagreesWithTheWeights) {
  auto j = read_config(dir);
  j["vocab_size"] = 385;
  write_config(dir, j);
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, "'model.embed_tokens.weight'");
  EXPECT_MSG(msg, "[385, 64]");
}

TEST_F(Loader, MissingConfigJson) {
  fs::remove(dir / "config.json");
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, "config.json");
  EXPECT_MSG(msg, dir.string());
}

TEST_F(Loader, MissingWeights) {
  fs::remove(weights);
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, "model.safetensors");
  EXPECT_MSG(msg, dir.string());
}

TEST(LoaderSharded, IndexPointingToAMissingShard) {
  const auto dir = copy_fixture("llama_sharded");
  retain::load_model(dir);  // the intact copy loads
  fs::remove(dir / "model-00005-of-00012.safetensors");
  const auto msg = error_of([&] { retain::load_model(dir); });
  EXPECT_MSG(msg, "model-00005-of-00012.safetensors");
  EXPECT_MSG(msg, "does not exist");
  EXPECT_MSG(msg, "model.safetensors.index.json");
}

TEST(LoaderSharded, ShardLackingAListedTensor) {
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

TEST(LoaderSharded, ShardHoldingAnUnlistedTensor) {
  const auto dir = copy_fixture("llama_sharded");
  const auto shard = dir / "model-00002-of-00012.safetensors";
  auto tensors = read_all(shard);
  tensors.emplace_back("stowaway", at::zeros({2}));
  retain::safetensors::save(shard, tensors);
  EXPECT_MSG(error_of([&] { retain::load_model(dir); }), "'stowaway'");
}

TEST(LoaderTied, ExtraHeadEqualToTheEmbeddingIsAcceptedAndADifferentOneRefused) {
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

TEST(LoaderRoundTrip, SaveThenLoadIsBitwiseAndKeepsTheConfig) {
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

TEST(LoaderRoundTrip, SavingInBfloat16RoundsEachWeightOnce) {
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

TEST(LoaderRoundTrip, LoadInFloat64KeepsTheStoredValues) {
  auto model = retain::load_model(fixtures() / "models" / "qwen2", {at::kDouble, at::kCPU});
  const auto file = retain::safetensors::File::open(fixtures() / "models" / "qwen2" / "model.safetensors");
  for (auto& [n, p] : model->base_parameters()) {
    EXPECT_EQ(p.scalar_type(), at::kDouble) << n;
    EXPECT_TRUE(p.equal(file.tensor(n).to(at::kDouble))) << n;
  }
}

TEST(LoaderOptions, DtypeAndDeviceNames) {
  EXPECT_EQ(retain::parse_dtype("bfloat16"), at::kBFloat16);
  EXPECT_EQ(retain::parse_dtype("float64"), at::kDouble);
  for (auto t : {at::kFloat, at::kBFloat16, at::kHalf, at::kDouble})
    EXPECT_EQ(retain::parse_dtype(retain::dtype_to_string(t)), t);
  EXPECT_MSG(error_of([] { retain::parse_dtype("int8"); }), "int8");
  EXPECT_TRUE(retain::parse_device("cpu").is_cpu());
  EXPECT_MSG(error_of([] { retain::parse_device("tpu"); }), "tpu");
}

}  // namespace
