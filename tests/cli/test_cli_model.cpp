// `retain generate`, `inspect` and `init`: batched greedy generation equal to each prompt alone,
// parameters counted by group, and freshly initialised model folders that load and run.
#include "cli_support.h"
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/io/safetensors.h"
#include "retain/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <sstream>

namespace {

using namespace retain::testing;
using retain::json;

// ---------------------------------------------------------------------------------------------------
// generate

std::vector<json> jsonl_lines(const std::string& text) {
  std::vector<json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

TEST(CliGenerate, BatchedGreedyEqualsEachPromptAlone) {
  const std::vector<std::string> prompts = {"Hello world", "The quick brown fox jumps over", "a"};
  std::vector<std::string> args = {"generate", "--model", kTinyModel.string(), "--max-new-tokens", "6", "--jsonl"};
  for (const auto& p : prompts) args.insert(args.end(), {"--prompt", p});
  auto batch = run(args);
  ASSERT_EQ(batch.code, 0) << batch.err;
  const auto lines = jsonl_lines(batch.out);
  ASSERT_EQ(lines.size(), prompts.size()) << batch.out;

  const auto tokenizer = retain::Tokenizer::from_file(kTinyModel / "tokenizer.json");
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(lines[i]["prompt"], prompts[i]);
    const auto ids = lines[i]["ids"].get<std::vector<int64_t>>();
    EXPECT_GE(ids.size(), 1u);
    EXPECT_LE(ids.size(), 6u);
    EXPECT_EQ(lines[i]["text"], tokenizer.decode(ids, true));
    // Left padding and the KV cache must not change what a prompt generates.
    auto alone =
        run({"generate", "--model", kTinyModel.string(), "--max-new-tokens", "6", "--jsonl", "--prompt", prompts[i]});
    ASSERT_EQ(alone.code, 0) << alone.err;
    EXPECT_EQ(jsonl_lines(alone.out).at(0)["ids"], lines[i]["ids"]) << prompts[i];
  }
}

TEST(CliGenerate, SamplingIsReproducibleFromTheSeed) {
  const std::vector<std::string> args = {"generate",
                                         "--model",
                                         kTinyModel.string(),
                                         "--prompt",
                                         "Hello",
                                         "--sample",
                                         "--temperature",
                                         "1.5",
                                         "--top-p",
                                         "0.95",
                                         "--seed",
                                         "11",
                                         "--max-new-tokens",
                                         "8",
                                         "--jsonl"};
  auto first = run(args), second = run(args);
  ASSERT_EQ(first.code, 0) << first.err;
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(first.out, second.out);
  EXPECT_LE(jsonl_lines(first.out).at(0)["ids"].size(), 8u);
}

TEST(CliGenerate, TruncatedTokenizerInTheModelFolderIsNamed) {
  const auto model = model_copy("cli");
  const auto text = retain::read_file(model / "tokenizer.json");
  write_text(model / "tokenizer.json", text.substr(0, text.size() / 3));
  expect_error(run({"generate", "--model", model.string(), "--prompt", "Hello"}), {"tokenizer.json"});
}

// ---------------------------------------------------------------------------------------------------
// inspect

TEST(CliInspect, ModelCountsParametersByGroup) {
  auto r = run({"inspect", kTinyModel.string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = json::parse(r.out);
  // llama_gqa: vocab 384, hidden 64, 4 heads / 2 kv heads of 16, mlp 96, 2 layers, untied head.
  EXPECT_EQ(report["kind"], "model");
  EXPECT_EQ(report["model_type"], "llama");
  EXPECT_EQ(report["config"]["num_hidden_layers"], 2);
  EXPECT_EQ(report["config"]["num_key_value_heads"], 2);
  EXPECT_EQ(report["config"]["head_dim"], 16);
  EXPECT_EQ(report["config"]["rope_type"], "llama3");
  EXPECT_EQ(report["tensors"]["count"], 21);  // 2 + 9 per layer × 2 + final norm
  const auto& groups = report["parameters"]["by_group"];
  EXPECT_EQ(groups["embeddings"], 384 * 64);
  EXPECT_EQ(groups["head"], 384 * 64);
  EXPECT_EQ(groups["attention"], 2 * (64 * 64 + 32 * 64 + 32 * 64 + 64 * 64));
  EXPECT_EQ(groups["mlp"], 2 * 3 * 96 * 64);
  EXPECT_EQ(groups["norms"], 2 * 2 * 64 + 64);
  EXPECT_EQ(report["parameters"]["total"], 110912);
  EXPECT_EQ(report["parameters"]["expected_from_config"], 110912);
  EXPECT_TRUE(report["problems"].empty()) << r.out;

  auto table = run({"inspect", kTinyModel.string()});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_MSG(table.out, "110,912");
  EXPECT_MSG(table.out, "LlamaForCausalLM");
}

TEST(CliInspect, ShardedModelListsItsFiles) {
  auto r = run({"inspect", (fixtures() / "models/llama_sharded").string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = json::parse(r.out);
  EXPECT_EQ(report["tensors"]["files"], 12);
  EXPECT_EQ(report["parameters"]["total"], report["parameters"]["expected_from_config"]);
  EXPECT_TRUE(report["problems"].empty()) << r.out;
}

TEST(CliInspect, AdapterShowsRankAlphaTargets) {
  auto r = run({"inspect", (fixtures() / "adapters/lora_qv").string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = json::parse(r.out);
  EXPECT_EQ(report["kind"], "adapter");
  EXPECT_EQ(report["r"], 4);
  EXPECT_EQ(report["lora_alpha"], 8.0);
  EXPECT_EQ(report["target_modules"], (json{"v_proj", "q_proj"}));
  EXPECT_EQ(report["tensors"]["count"], 8);  // {q, v} × {A, B} × 2 layers
  EXPECT_EQ(report["tensors"]["parameters"], 2 * (4 * 64 + 64 * 4 + 4 * 64 + 32 * 4));

  auto patterns = run({"inspect", (fixtures() / "adapters/lora_patterns").string()});
  ASSERT_EQ(patterns.code, 0) << patterns.err;
  EXPECT_MSG(patterns.out, "rslora            yes");
  EXPECT_MSG(patterns.out, "layers.1.self_attn.q_proj");
}

// ---------------------------------------------------------------------------------------------------
// init

at::Tensor logits_of(const fs::path& model, const fs::path& dir) {
  auto r = forward_on(model, dir, "{\"ids\": [1, 17, 42, 99, 383]}\n");
  EXPECT_EQ(r.code, 0) << r.err;
  return retain::safetensors::File::open(dir / "out.safetensors").tensor("logits.0").clone();
}

TEST(CliInit, InitThenForwardIsDeterministicInTheSeed) {
  const auto dir = temp_dir("cli");
  const auto config = (kTinyModel / "config.json").string();
  const auto tokenizer = (kTinyModel / "tokenizer.json").string();
  auto r = run({"init", "--config", config, "--out", (dir / "a").string(), "--seed", "7", "--tokenizer", tokenizer});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(retain::read_file(dir / "a" / "tokenizer.json"), retain::read_file(tokenizer));
  ASSERT_EQ(run({"init", "--config", config, "--out", (dir / "b").string(), "--seed", "7"}).code, 0);
  ASSERT_EQ(run({"init", "--config", config, "--out", (dir / "c").string(), "--seed", "8"}).code, 0);

  const auto a = logits_of(dir / "a", dir), b = logits_of(dir / "b", dir), c = logits_of(dir / "c", dir);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{5, kTinyVocab}));
  EXPECT_TRUE(at::isfinite(a).all().item<bool>());
  EXPECT_TRUE(at::equal(a, b));  // same seed, same model
  EXPECT_GT(relative_error(a, c), 1e-2);

  auto inspect = run({"inspect", (dir / "a").string(), "--json"});
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  const auto report = json::parse(inspect.out);
  EXPECT_EQ(report["parameters"]["total"], 110912);
  EXPECT_TRUE(report["problems"].empty()) << inspect.out;
}

TEST(CliInit, RefusesANonEmptyFolderUnlessOverwrite) {
  const auto dir = temp_dir("cli");
  const auto config = (kTinyModel / "config.json").string();
  const auto out = (dir / "m").string();
  ASSERT_EQ(run({"init", "--config", config, "--out", out, "--seed", "1"}).code, 0);
  const auto before = retain::read_file(dir / "m" / "model.safetensors");
  expect_error(run({"init", "--config", config, "--out", out, "--seed", "2"}), {"--overwrite", out});
  EXPECT_EQ(retain::read_file(dir / "m" / "model.safetensors"), before);
  ASSERT_EQ(run({"init", "--config", config, "--out", out, "--seed", "2", "--overwrite"}).code, 0);
  EXPECT_NE(retain::read_file(dir / "m" / "model.safetensors"), before);
}

TEST(CliInit, Bfloat16WeightsLoadForFloat32Compute) {
  const auto dir = temp_dir("cli");
  ASSERT_EQ(run({"init", "--config", (kTinyModel / "config.json").string(), "--out", (dir / "m").string(), "--dtype",
                 "bfloat16"})
                .code,
            0);
  auto r = run({"inspect", (dir / "m").string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["tensors"]["dtypes"], (json{{"BF16", 21}})) << r.out;
  EXPECT_TRUE(at::isfinite(logits_of(dir / "m", dir)).all().item<bool>());
}

TEST(CliInit, UnknownModelTypeIsNamedAndNothingWritten) {
  const auto dir = temp_dir("cli");
  auto config = retain::read_json_file(kTinyModel / "config.json");
  config["model_type"] = "gpt2";
  write_text(dir / "config.json", config.dump());
  expect_error(run({"init", "--config", (dir / "config.json").string(), "--out", (dir / "m").string()}), {"gpt2"});
  EXPECT_FALSE(fs::exists(dir / "m"));
}

}  // namespace
