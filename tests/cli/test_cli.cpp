// The `retain` program run as a user runs it: each test spawns build/retain and checks its exit code,
// what it printed and what it wrote. Bad input must give exit code 1 and "retain: error: ..." naming
// the culprit (file, line, tensor); a crash would show as 128 + signal.
#include "common/test_support.h"

#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/core/torch_compat.h"
#include "retain/eval/results.h"
#include "retain/io/safetensors.h"
#include "retain/tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using retain::json;
using retain::testing::fixtures;
using retain::testing::temp_dir;

struct Result {
  int code;  // exit status, or 128 + signal when the program was killed
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs `retain ARGS...`, capturing stdout and stderr in files beside the test's temp folder;
/// `env` is prepended to the command line ("NAME=value ").
Result run(const std::vector<std::string>& args, const std::string& env = "") {
  static int counter = 0;
  const auto base =
      fs::temp_directory_path() / ("retain_cli_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::string command = env + quote(RETAIN_CLI);
  for (const auto& arg : args) command += " " + quote(arg);
  command += " >" + quote(base.string() + ".out") + " 2>" + quote(base.string() + ".err");
  const int status = std::system(command.c_str());
  Result result{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                retain::read_file(base.string() + ".out"), retain::read_file(base.string() + ".err")};
  fs::remove(base.string() + ".out");
  fs::remove(base.string() + ".err");
  return result;
}

/// Exit code 1 and one "retain: error:" message that contains every part.
void expect_error(const Result& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.code, 1) << "stderr: " << r.err;
  EXPECT_NE(r.err.find("retain: error: "), std::string::npos) << r.err;
  for (const auto& part : parts) EXPECT_NE(r.err.find(part), std::string::npos) << "no '" << part << "' in: " << r.err;
}

/// A usage error reported by CLI11: its own exit code (100 and up), never 1 or a crash.
void expect_usage_error(const Result& r, const std::string& part) {
  EXPECT_GE(r.code, 100) << r.err;
  EXPECT_LT(r.code, 128) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << "no '" << part << "' in: " << r.err;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string ids_line(const at::Tensor& ids) {
  auto c = ids.contiguous();
  return json{{"ids", std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel())}}.dump();
}

const fs::path kModel = fixtures() / "models" / "llama_gqa";
const int64_t kVocab = 384;

/// A copy of the llama_gqa fixture in a fresh temp folder, to be damaged by the test.
fs::path model_copy(const std::string& tag) {
  auto dir = temp_dir(tag) / "model";
  fs::copy(kModel, dir, fs::copy_options::recursive);
  return dir;
}

/// Rewrites DIR/model.safetensors through `edit` of its (name, tensor) list.
void rewrite_weights(const fs::path& dir,
                     const std::function<void(std::vector<std::pair<std::string, at::Tensor>>&)>& edit) {
  const auto path = dir / "model.safetensors";
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  {
    const auto file = retain::safetensors::File::open(path);
    for (const auto& info : file.tensors()) tensors.emplace_back(info.name, file.tensor(info.name).clone());
  }
  edit(tensors);
  retain::safetensors::save(path, tensors);
}

/// An input JSONL of the reference inputs input.0, input.1, ... with a blank line after the first,
/// which must not count as a line index.
fs::path reference_input(const fs::path& reference, const fs::path& dir, int64_t* count) {
  const auto file = retain::safetensors::File::open(reference);
  std::string text;
  int64_t n = 0;
  for (; file.contains("input." + std::to_string(n)); ++n) {
    text += ids_line(file.tensor("input." + std::to_string(n))) + "\n";
    if (n == 0) text += "\n";
  }
  *count = n;
  write_text(dir / "in.jsonl", text);
  return dir / "in.jsonl";
}

// ---------------------------------------------------------------------------------------------------
// Usage

TEST(CliUsage, VersionNamesRetainLibtorchAndCuda) {
  auto r = run({"--version"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(std::string("retain ") + RETAIN_VERSION), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::string("libtorch ") + retain::compat::torch_version()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CUDA: "), std::string::npos) << r.out;
}

TEST(CliUsage, HelpListsEverySubcommand) {
  auto r = run({"--help"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* name : {"tokenize", "forward", "generate", "inspect", "init"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
}

TEST(CliUsage, UnknownFlagIsAUsageError) {
  const auto dir = temp_dir("cli");
  write_text(dir / "in.jsonl", "{\"ids\": [1]}\n");
  expect_usage_error(run({"forward", "--model", kModel.string(), "--input", (dir / "in.jsonl").string(), "--output",
                          (dir / "out.safetensors").string(), "--bogus"}),
                     "--bogus");
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
  expect_usage_error(run({"--bogus"}), "--bogus");
}

TEST(CliUsage, MissingSubcommandOrRequiredOptionIsAUsageError) {
  expect_usage_error(run({}), "subcommand");
  expect_usage_error(run({"frobnicate"}), "frobnicate");
  expect_usage_error(run({"tokenize", "--input", "in.jsonl", "--output", "out.jsonl"}), "--tokenizer");
}

TEST(CliUsage, SamplingOptionsNeedSample) {
  expect_usage_error(run({"generate", "--model", kModel.string(), "--prompt", "hi", "--temperature", "0.5"}),
                     "--sample");
  expect_usage_error(run({"generate", "--model", kModel.string(), "--prompt", "hi", "--sample", "--greedy"}),
                     "--greedy");
}

// ---------------------------------------------------------------------------------------------------
// tokenize

TEST(CliTokenize, MatchesHuggingFaceIdsPlainAndWithSpecialTokens) {
  const auto dir = temp_dir("cli");
  const auto expected = retain::read_json_file(fixtures() / "tokenizers" / "expected_tiny_bytelevel.json");
  const auto tokenizer = fixtures() / "tokenizers" / "tiny_bytelevel" / "tokenizer.json";
  std::string input;
  for (const auto& c : expected["cases"]) input += json{{"text", c["text"]}}.dump() + "\n";
  write_text(dir / "in.jsonl", input);
  ASSERT_GT(expected["cases"].size(), 5u);

  for (const bool special : {false, true}) {
    const auto input = (dir / "in.jsonl").string(), output = (dir / "out.jsonl").string();
    std::vector<std::string> args = {"tokenize", "--tokenizer", tokenizer.string(), "--input", input,
                                     "--output", output};
    if (special) args.emplace_back("--add-special-tokens");
    auto r = run(args);
    ASSERT_EQ(r.code, 0) << r.err;
    size_t i = 0;
    retain::for_each_jsonl(dir / "out.jsonl", [&](size_t line, const json& value) {
      ASSERT_LT(i, expected["cases"].size());
      const auto& c = expected["cases"][i++];
      EXPECT_EQ(value, (json{{"ids", c[special ? "ids_special" : "ids"]}})) << "line " << line << ": " << c["text"];
    });
    EXPECT_EQ(i, expected["cases"].size());
  }
}

TEST(CliTokenize, MalformedLineIsNamedAndOutputKept) {
  const auto dir = temp_dir("cli");
  write_text(dir / "in.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"unterminated\n{\"text\": \"d\"}\n");
  write_text(dir / "out.jsonl", "precious");
  auto r = run({"tokenize", "--tokenizer", (fixtures() / "tokenizers/tiny_bytelevel/tokenizer.json").string(),
                "--input", (dir / "in.jsonl").string(), "--output", (dir / "out.jsonl").string()});
  expect_error(r, {"in.jsonl:3:", "malformed JSON"});
  EXPECT_EQ(retain::read_file(dir / "out.jsonl"), "precious");
}

TEST(CliTokenize, LineWithoutTextIsNamed) {
  const auto dir = temp_dir("cli");
  write_text(dir / "in.jsonl", "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n");
  auto r = run({"tokenize", "--tokenizer", (fixtures() / "tokenizers/tiny_bytelevel/tokenizer.json").string(),
                "--input", (dir / "in.jsonl").string(), "--output", (dir / "out.jsonl").string()});
  expect_error(r, {"in.jsonl:2:", "\"text\""});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

TEST(CliTokenize, TruncatedTokenizerJsonIsNamed) {
  const auto dir = temp_dir("cli");
  const auto text = retain::read_file(fixtures() / "tokenizers/tiny_bytelevel/tokenizer.json");
  write_text(dir / "tokenizer.json", text.substr(0, text.size() / 2));
  write_text(dir / "in.jsonl", "{\"text\": \"a\"}\n");
  auto r = run({"tokenize", "--tokenizer", (dir / "tokenizer.json").string(), "--input", (dir / "in.jsonl").string(),
                "--output", (dir / "out.jsonl").string()});
  expect_error(r, {(dir / "tokenizer.json").string()});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

TEST(CliTokenize, MissingInputIsNamed) {
  const auto dir = temp_dir("cli");
  auto r = run({"tokenize", "--tokenizer", (fixtures() / "tokenizers/tiny_bytelevel/tokenizer.json").string(),
                "--input", (dir / "absent.jsonl").string(), "--output", (dir / "out.jsonl").string()});
  expect_error(r, {"absent.jsonl"});
}

// ---------------------------------------------------------------------------------------------------
// forward

struct ForwardCase {
  const char* name;
  fs::path model, adapter, reference;
};

void PrintTo(const ForwardCase& c, std::ostream* os) { *os << c.name; }

class CliForward : public ::testing::TestWithParam<ForwardCase> {};

// float32 logits against transformers' float64 ones: tiny models (hidden 64, 2 layers) accumulate
// ~1e-6 relative rounding error in float32; the bound 1e-4 leaves room for summation order.
TEST_P(CliForward, LogitsMatchTheFloat64Reference) {
  const auto& c = GetParam();
  const auto dir = temp_dir("cli");
  int64_t count = 0;
  const auto input = reference_input(c.reference, dir, &count);
  ASSERT_GE(count, 2);
  std::vector<std::string> args = {"forward",
                                   "--model",
                                   c.model.string(),
                                   "--input",
                                   input.string(),
                                   "--output",
                                   (dir / "out.safetensors").string()};
  if (!c.adapter.empty()) args.insert(args.end(), {"--adapter", c.adapter.string()});
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << r.err;

  const auto out = retain::safetensors::File::open(dir / "out.safetensors");
  const auto reference = retain::safetensors::File::open(c.reference);
  EXPECT_EQ(static_cast<int64_t>(out.tensors().size()), count);
  for (int64_t i = 0; i < count; ++i) {
    const auto name = "logits." + std::to_string(i);
    ASSERT_TRUE(out.contains(name)) << name;
    const auto logits = out.tensor(name);
    const auto expected = reference.tensor(name);
    EXPECT_EQ(logits.scalar_type(), at::kFloat);
    ASSERT_EQ(logits.sizes(), expected.sizes()) << name;
    EXPECT_LT(retain::testing::relative_error(logits, expected), 1e-4) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, CliForward,
    ::testing::Values(ForwardCase{"llama_gqa", kModel, {}, fixtures() / "models/llama_gqa.reference.safetensors"},
                      ForwardCase{"llama_sharded",
                                  fixtures() / "models/llama_sharded",
                                  {},
                                  fixtures() / "models/llama_sharded.reference.safetensors"},
                      ForwardCase{"lora_qv", kModel, fixtures() / "adapters/lora_qv",
                                  fixtures() / "adapters/lora_qv.reference.safetensors"}),
    [](const auto& info) { return std::string(info.param.name); });

Result forward_on(const fs::path& model, const fs::path& dir, const std::string& lines) {
  write_text(dir / "in.jsonl", lines);
  return run({"forward", "--model", model.string(), "--input", (dir / "in.jsonl").string(), "--output",
              (dir / "out.safetensors").string()});
}

TEST(CliForwardInput, IdOutsideTheVocabularyNamesLineAndId) {
  const auto dir = temp_dir("cli");
  write_text(dir / "out.safetensors", "precious");
  expect_error(forward_on(kModel, dir, "{\"ids\": [1, 2]}\n{\"ids\": [5, 384]}\n"),
               {"in.jsonl:2:", "384", "vocabulary"});
  expect_error(forward_on(kModel, dir, "{\"ids\": [-1]}\n"), {"in.jsonl:1:", "-1"});
  expect_error(forward_on(kModel, dir, "{\"ids\": [3, 2.5]}\n"), {"in.jsonl:1:", "2.5"});
  EXPECT_EQ(retain::read_file(dir / "out.safetensors"), "precious");  // never half-written
}

TEST(CliForwardInput, EmptyIdsAndMalformedLinesAreNamed) {
  const auto dir = temp_dir("cli");
  expect_error(forward_on(kModel, dir, "{\"ids\": [1]}\n{\"ids\": []}\n"), {"in.jsonl:2:", "empty"});
  expect_error(forward_on(kModel, dir, "{\"ids\": [1]}\n\n{\"ids\": [1,\n"), {"in.jsonl:3:", "malformed JSON"});
  expect_error(forward_on(kModel, dir, "{\"text\": \"hello\"}\n"), {"in.jsonl:1:", "ids"});
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
}

TEST(CliForwardInput, BadDtypeAndDeviceAreErrors) {
  const auto dir = temp_dir("cli");
  write_text(dir / "in.jsonl", "{\"ids\": [1]}\n");
  const std::vector<std::string> base = {"forward",
                                         "--model",
                                         kModel.string(),
                                         "--input",
                                         (dir / "in.jsonl").string(),
                                         "--output",
                                         (dir / "out.safetensors").string()};
  auto args = base;
  args.insert(args.end(), {"--dtype", "float8"});
  expect_error(run(args), {"float8", "bfloat16"});
  if (!retain::compat::cuda_available()) {
    args = base;
    args.insert(args.end(), {"--device", "cuda"});
    expect_error(run(args), {"CUDA"});
  }
}

// ---------------------------------------------------------------------------------------------------
// Damaged model folders: forward (the strict loader) and inspect (headers only) must both refuse them.

TEST(CliBadModel, TruncatedWeightsAreNamed) {
  const auto model = model_copy("cli");
  fs::resize_file(model / "model.safetensors", fs::file_size(model / "model.safetensors") / 2);
  expect_error(forward_on(model, model.parent_path(), "{\"ids\": [1]}\n"), {"model.safetensors", "truncated"});
  expect_error(run({"inspect", model.string()}), {"model.safetensors", "truncated"});
}

TEST(CliBadModel, HeaderLengthPastTheEndIsNamed) {
  const auto model = model_copy("cli");
  std::string bytes(16, '\0');
  const uint64_t length = 1u << 20;  // 1 MiB of header in a 16-byte file
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  write_text(model / "model.safetensors", bytes);
  expect_error(forward_on(model, model.parent_path(), "{\"ids\": [1]}\n"), {"model.safetensors", "header length"});
  expect_error(run({"inspect", model.string()}), {"model.safetensors", "header length"});
}

TEST(CliBadModel, UnknownModelTypeIsNamed) {
  const auto model = model_copy("cli");
  auto config = retain::read_json_file(model / "config.json");
  config["model_type"] = "gpt2";
  write_text(model / "config.json", config.dump(2));
  expect_error(forward_on(model, model.parent_path(), "{\"ids\": [1]}\n"), {"gpt2"});
  expect_error(run({"inspect", model.string()}), {"gpt2"});
}

TEST(CliBadModel, MissingTensorIsNamed) {
  const auto model = model_copy("cli");
  const std::string dropped = "model.layers.1.mlp.up_proj.weight";
  rewrite_weights(model, [&](auto& tensors) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [&](const auto& t) { return t.first == dropped; }),
                  tensors.end());
  });
  expect_error(forward_on(model, model.parent_path(), "{\"ids\": [1]}\n"), {dropped});
  // inspect describes the folder anyway, listing what the loader would refuse.
  auto r = run({"inspect", model.string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = json::parse(r.out);
  ASSERT_EQ(report["problems"].size(), 1u) << r.out;
  EXPECT_NE(report["problems"][0].get<std::string>().find(dropped), std::string::npos) << r.out;
}

TEST(CliBadModel, MisshapedTensorIsNamed) {
  const auto model = model_copy("cli");
  rewrite_weights(model, [&](auto& tensors) {
    for (auto& [name, tensor] : tensors)
      if (name == "lm_head.weight") tensor = tensor.narrow(0, 0, kVocab - 1).clone();  // [383, 64]
  });
  expect_error(forward_on(model, model.parent_path(), "{\"ids\": [1]}\n"), {"lm_head.weight", "383"});
  auto r = run({"inspect", model.string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = json::parse(r.out);
  ASSERT_EQ(report["problems"].size(), 1u) << r.out;
  EXPECT_NE(report["problems"][0].get<std::string>().find("lm_head.weight"), std::string::npos) << r.out;
}

TEST(CliBadModel, LeftoverTensorIsNamed) {
  const auto model = model_copy("cli");
  const std::string extra = "model.layers.2.self_attn.q_proj.weight";  // a third layer the config lacks
  rewrite_weights(model, [&](auto& tensors) { tensors.emplace_back(extra, at::zeros({64, 64})); });
  expect_error(forward_on(model, model.parent_path(), "{\"ids\": [1]}\n"), {extra});
}

TEST(CliBadModel, MissingFolderOrConfigIsNamed) {
  const auto dir = temp_dir("cli");
  expect_error(forward_on(dir / "absent", dir, "{\"ids\": [1]}\n"), {"absent"});
  const auto model = model_copy("cli2");
  fs::remove(model / "config.json");
  expect_error(forward_on(model, model.parent_path(), "{\"ids\": [1]}\n"), {"config.json"});
}

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
  std::vector<std::string> args = {"generate", "--model", kModel.string(), "--max-new-tokens", "6", "--jsonl"};
  for (const auto& p : prompts) args.insert(args.end(), {"--prompt", p});
  auto batch = run(args);
  ASSERT_EQ(batch.code, 0) << batch.err;
  const auto lines = jsonl_lines(batch.out);
  ASSERT_EQ(lines.size(), prompts.size()) << batch.out;

  const auto tokenizer = retain::Tokenizer::from_file(kModel / "tokenizer.json");
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(lines[i]["prompt"], prompts[i]);
    const auto ids = lines[i]["ids"].get<std::vector<int64_t>>();
    EXPECT_GE(ids.size(), 1u);
    EXPECT_LE(ids.size(), 6u);
    EXPECT_EQ(lines[i]["text"], tokenizer.decode(ids, true));
    // Left padding and the KV cache must not change what a prompt generates.
    auto alone =
        run({"generate", "--model", kModel.string(), "--max-new-tokens", "6", "--jsonl", "--prompt", prompts[i]});
    ASSERT_EQ(alone.code, 0) << alone.err;
    EXPECT_EQ(jsonl_lines(alone.out).at(0)["ids"], lines[i]["ids"]) << prompts[i];
  }
}

TEST(CliGenerate, SamplingIsReproducibleFromTheSeed) {
  const std::vector<std::string> args = {
      "generate",         "--model", kModel.string(), "--prompt", "Hello",  "--sample",
      "--temperature",    "1.5",     "--top-p",       "0.95",     "--seed", "11",
      "--max-new-tokens", "8",       "--jsonl"};
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
  auto r = run({"inspect", kModel.string(), "--json"});
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

  auto table = run({"inspect", kModel.string()});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("110,912"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("LlamaForCausalLM"), std::string::npos) << table.out;
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
  EXPECT_NE(patterns.out.find("rslora            yes"), std::string::npos) << patterns.out;
  EXPECT_NE(patterns.out.find("layers.1.self_attn.q_proj"), std::string::npos) << patterns.out;
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
  const auto config = (kModel / "config.json").string();
  const auto tokenizer = (kModel / "tokenizer.json").string();
  auto r = run({"init", "--config", config, "--out", (dir / "a").string(), "--seed", "7", "--tokenizer", tokenizer});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(retain::read_file(dir / "a" / "tokenizer.json"), retain::read_file(tokenizer));
  ASSERT_EQ(run({"init", "--config", config, "--out", (dir / "b").string(), "--seed", "7"}).code, 0);
  ASSERT_EQ(run({"init", "--config", config, "--out", (dir / "c").string(), "--seed", "8"}).code, 0);

  const auto a = logits_of(dir / "a", dir), b = logits_of(dir / "b", dir), c = logits_of(dir / "c", dir);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{5, kVocab}));
  EXPECT_TRUE(at::isfinite(a).all().item<bool>());
  EXPECT_TRUE(at::equal(a, b));  // same seed, same model
  EXPECT_GT(retain::testing::relative_error(a, c), 1e-2);

  auto inspect = run({"inspect", (dir / "a").string(), "--json"});
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  const auto report = json::parse(inspect.out);
  EXPECT_EQ(report["parameters"]["total"], 110912);
  EXPECT_TRUE(report["problems"].empty()) << inspect.out;
}

TEST(CliInit, RefusesANonEmptyFolderUnlessOverwrite) {
  const auto dir = temp_dir("cli");
  const auto config = (kModel / "config.json").string();
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
  ASSERT_EQ(
      run({"init", "--config", (kModel / "config.json").string(), "--out", (dir / "m").string(), "--dtype", "bfloat16"})
          .code,
      0);
  auto r = run({"inspect", (dir / "m").string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["tensors"]["dtypes"], (json{{"BF16", 21}})) << r.out;
  EXPECT_TRUE(at::isfinite(logits_of(dir / "m", dir)).all().item<bool>());
}

TEST(CliInit, UnknownModelTypeIsNamedAndNothingWritten) {
  const auto dir = temp_dir("cli");
  auto config = retain::read_json_file(kModel / "config.json");
  config["model_type"] = "gpt2";
  write_text(dir / "config.json", config.dump());
  expect_error(run({"init", "--config", (dir / "config.json").string(), "--out", (dir / "m").string()}), {"gpt2"});
  EXPECT_FALSE(fs::exists(dir / "m"));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// export: the explicit merge

namespace {

TEST(CliExport, MergedModelGivesTheLogitsOfModelPlusAdapter) {
  const auto dir = temp_dir("cli");
  const auto adapter = fixtures() / "adapters" / "lora_patterns";
  const std::string weights_before = retain::read_file(kModel / "model.safetensors");
  auto r = run({"export", "--model", kModel.string(), "--adapter", adapter.string(), "--out", (dir / "merged").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "merged" / "tokenizer.json"));
  EXPECT_FALSE(fs::exists(dir / "merged" / "adapter_config.json"));
  const std::string line = "{\"ids\": [1, 17, 42, 99, 383, 5, 6, 7]}\n";
  ASSERT_EQ(forward_on(dir / "merged", dir, line).code, 0);
  const auto merged = retain::safetensors::File::open(dir / "out.safetensors").tensor("logits.0").clone();
  write_text(dir / "in.jsonl", line);
  r = run({"forward", "--model", kModel.string(), "--adapter", adapter.string(), "--input", (dir / "in.jsonl").string(),
           "--output", (dir / "adapted.safetensors").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto adapted = retain::safetensors::File::open(dir / "adapted.safetensors").tensor("logits.0");
  ASSERT_EQ(forward_on(kModel, dir, line).code, 0);
  const auto base = retain::safetensors::File::open(dir / "out.safetensors").tensor("logits.0").clone();
  // Merged in float64 and rounded once to float32: float32 rounding only (measured ~1e-7).
  EXPECT_LT(retain::testing::relative_error(merged, adapted), 1e-5);
  EXPECT_GT(retain::testing::relative_error(base, adapted), 1e-3);  // the adapter does change the model
  // Merging happens in the exported copy only: the input's weights are byte-identical afterwards.
  EXPECT_EQ(retain::read_file(kModel / "model.safetensors"), weights_before);
}

TEST(CliExport, RefusesToWriteOverItsInput) {
  const auto dir = model_copy("cli_export");
  auto r = run({"export", "--model", dir.string(), "--out", dir.string(), "--overwrite"});
  expect_error(r, {"--out must differ from --model"});
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// run: methods through a task sequence

namespace {

fs::path write_task(const fs::path& root, const std::string& name, const std::vector<std::string>& labels) {
  const auto dir = root / name;
  fs::create_directories(dir);
  write_text(dir / "task.json", json{{"name", name}, {"type", "classification"}, {"labels", labels}}.dump());
  std::string lines;
  for (const auto& label : labels) lines += json{{"input", "say " + label}, {"output", label}}.dump() + "\n";
  write_text(dir / "train.jsonl", lines + lines);
  write_text(dir / "test.jsonl", lines);
  return dir;
}

TEST(CliRun, TwoMethodsWriteResultsSummaryAndTable) {
  const auto dir = temp_dir("cli_run");
  const auto a = write_task(dir, "colors", {"red", "blue"}), b = write_task(dir, "animals", {"cat", "dog"});
  auto r = run({"run", "--model", kModel.string(), "--task", a.string(), "--task", b.string(), "--method", "seqft",
                "--method", "inclora", "--out", (dir / "out").string(), "--epochs", "2", "--set", "eval.scoring=rank",
                "--set", "method.inclora.r=4"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("seqft"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("inclora"), std::string::npos) << r.out;
  const auto summary = json::parse(retain::read_file(dir / "out" / "summary.json"));
  EXPECT_TRUE(summary["methods"].contains("seqft") && summary["methods"].contains("inclora")) << summary.dump();
  const auto config = json::parse(retain::read_file(dir / "out" / "config.json"));
  EXPECT_EQ(config["optim"]["epochs"], 2);
  EXPECT_EQ(config["method"]["inclora"]["r"], 4);
  const auto results = json::parse(retain::read_file(dir / "out" / "inclora" / "results.json"));
  EXPECT_EQ(results["matrix"].size(), 3u);
  EXPECT_EQ(results["scoring"], "rank");
  // The same folder with a different configuration is refused, and left as it was.
  const auto before = retain::read_file(dir / "out" / "config.json");
  expect_error(run({"run", "--model", kModel.string(), "--task", a.string(), "--method", "seqft", "--out",
                    (dir / "out").string()}),
               {"already holds a different run", "--overwrite"});
  EXPECT_EQ(retain::read_file(dir / "out" / "config.json"), before);
}

TEST(CliRun, BadMethodsSettingsAndTasksAreNamed) {
  const auto dir = temp_dir("cli_run");
  const auto a = write_task(dir, "colors", {"red", "blue"});
  const std::vector<std::string> base = {"run", "--model", kModel.string(), "--task", a.string(), "--out", (dir / "o").string()};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  expect_error(with({"--method", "seqtf"}), {"unknown method \"seqtf\"", "did you mean \"seqft\""});
  expect_error(with({"--method", "seqft", "--set", "optim.lrr=1"}), {"unknown setting \"lrr\"", "did you mean \"lr\""});
  expect_error(with({"--method", "inclora", "--set", "method.inclora.rank=4"}), {"method.inclora", "rank"});
  write_text(dir / "bad.toml", "[optim]\nlr = 1e-4\n[optimizer]\nepochs = 1\n");
  expect_error(with({"--method", "seqft", "--config", (dir / "bad.toml").string()}), {"unknown section [optimizer]", "optim"});
  expect_error(run({"run", "--model", kModel.string(), "--task", (dir / "missing").string(), "--method", "seqft", "--out",
                    (dir / "o2").string()}),
               {"missing"});
}

TEST(CliRun, ProtocolFlagsAreCheckedBeforeAnythingLoads) {
  const auto dir = temp_dir("cli_run");
  const auto a = write_task(dir, "colors", {"red", "blue"});
  const std::vector<std::string> base = {"run", "--model", (dir / "no-model").string(), "--task", a.string(),
                                         "--method", "seqft", "--out", (dir / "o").string()};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  // Each is reported although the model folder does not exist: the checks come first.
  expect_error(with({"--set", "method.seqft.schedule=cosin"}),
               {"method.seqft.schedule = \"cosin\" is not known", "constant | linear | cosine"});
  expect_error(with({"--sweep", "optim.lrr=1e-4,1e-3"}), {"--sweep optim.lrr", "did you mean \"lr\""});
  expect_error(with({"--sweep", "optim.lr=1e-4"}), {"at least two values"});
  expect_error(with({"--set", "eval.general_text=" + (dir / "none.txt").string()}), {"eval.general_text", "no such file"});
  expect_error(with({}), {"no-model", "config.json"});
  EXPECT_FALSE(fs::exists(dir / "o" / "config.json"));
}

TEST(CliPlan, WritesTheStepsAndCandidatesOfARun) {
  const auto dir = temp_dir("cli_plan");
  const auto a = write_task(dir, "colors", {"red", "blue"});
  auto r = run({"plan", "--model", kModel.string(), "--task", a.string(), "--method", "seqlora", "--out",
                (dir / "plan").string(), "--set", "optim.max_steps=3", "--set", "method.seqlora.lr=1e-2", "--set",
                "eval.scoring=rank"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto plan = json::parse(retain::read_file(dir / "plan" / "plan.json"));
  EXPECT_EQ(plan["format"], "retain.plan/1");
  EXPECT_EQ(plan["tasks"][0]["steps"].size(), 3u);
  EXPECT_EQ(plan["optim"]["lr"], 1e-2);
  EXPECT_TRUE(fs::exists(dir / "plan" / "initial" / "adapter" / "adapter_config.json"));
  expect_error(run({"plan", "--model", kModel.string(), "--task", a.string(), "--method", "mtl", "--out",
                    (dir / "p2").string()}),
               {"mtl"});
  expect_error(run({"plan", "--model", kModel.string(), "--task", a.string(), "--method", "seqft", "--out",
                    (dir / "p3").string()}),
               {"eval.scoring = rank"});
}

// The end-to-end check of issue 3: three tasks through seqft, inclora and mtl on the tiny model, on
// the CPU, every results file checked. The cli label runs under a 120 s CTest timeout.
TEST(CliRun, ThreeTasksThroughSeqftIncloraAndMtlEndToEnd) {
  const auto dir = temp_dir("cli_run");
  const auto a = write_task(dir, "colors", {"red", "blue"}), b = write_task(dir, "animals", {"cat", "dog"}),
             c = write_task(dir, "fruit", {"apple", "pear"});
  auto r = run({"run", "--model", kModel.string(), "--task", a.string(), "--task", b.string(), "--task", c.string(),
                "--method", "seqft", "--method", "inclora", "--method", "mtl", "--out", (dir / "out").string(), "--epochs",
                "2", "--lr", "1e-2", "--batch-size", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = json::parse(retain::read_file(dir / "out" / "summary.json"));
  for (const std::string method : {"seqft", "inclora", "mtl"}) {
    SCOPED_TRACE(method);
    EXPECT_NE(r.out.find(method), std::string::npos) << r.out;
    const auto results = retain::read_results_json(dir / "out" / method / "results.json");  // strict reader
    EXPECT_EQ(results.matrix.tasks, (std::vector<std::string>{"colors", "animals", "fruit"}));
    EXPECT_EQ(results.matrix.scores.size(), 4u);
    EXPECT_EQ(results.scoring, retain::Scoring::Generate);
    const auto m = results.metrics();
    ASSERT_TRUE(m.backward_transfer.has_value());
    EXPECT_EQ(summary["methods"][method]["AA"].get<double>(), m.average_accuracy);
    EXPECT_EQ(summary["methods"][method]["BWT"].get<double>(), *m.backward_transfer);
    const auto csv = retain::read_file(dir / "out" / method / "matrix.csv");
    EXPECT_EQ(csv.rfind("stage,colors,animals,fruit\nbefore,", 0), 0u) << csv;
    // 3 tasks × 2 epochs × 2 steps (4 examples, batch 2): 12 lines of the loss curve; mtl trains
    // stage t on the t tasks seen so far: 2 × (2 + 4 + 6) = 24.
    const auto log = retain::read_file(dir / "out" / method / "metrics.jsonl");
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), method == "mtl" ? 24 : 12) << log;
    EXPECT_FALSE(fs::exists(dir / "out" / method / "resume"));
  }
}

// A run killed with SIGKILL (no clean-up of any kind) mid-way through its second method continues
// with `retain run --resume DIR` alone and ends with the results of an uninterrupted run.
TEST(CliRun, KilledRunResumesToTheUninterruptedResults) {
  const auto dir = temp_dir("cli_run");
  const auto a = write_task(dir, "colors", {"red", "blue", "green"}), b = write_task(dir, "animals", {"cat", "dog", "cow"});
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"run", "--model", kModel.string(), "--task", a.string(), "--task", b.string(),
                                    "--method", "seqft", "--method", "inclora", "--out", (dir / out).string(), "--lr",
                                    "1e-2", "--batch-size", "2", "--set", "eval.scoring=rank", "--set",
                                    "run.checkpoint_every_steps=1"};
  };
  ASSERT_EQ(run(args("whole")).code, 0);
  // 6 examples, batch 2: 3 steps per task, 6 per method; killed at step 9 = inclora's task 2, step 1.
  const auto killed = run(args("cut"), "RETAIN_TEST_KILL_AFTER_STEPS=9 ");
  ASSERT_EQ(killed.code, 128 + SIGKILL) << killed.err;
  EXPECT_TRUE(fs::exists(dir / "cut" / "seqft" / "results.json"));
  EXPECT_FALSE(fs::exists(dir / "cut" / "inclora" / "results.json"));
  EXPECT_TRUE(fs::exists(dir / "cut" / "inclora" / "resume" / "step.safetensors"));
  const auto resumed = run({"run", "--resume", (dir / "cut").string()});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("seqft already finished"), std::string::npos) << resumed.err;
  for (const std::string method : {"seqft", "inclora"}) {
    const auto whole = json::parse(retain::read_file(dir / "whole" / method / "results.json"));
    const auto cut = json::parse(retain::read_file(dir / "cut" / method / "results.json"));
    EXPECT_EQ(cut["matrix"], whole["matrix"]) << method;
    EXPECT_EQ(cut["metrics"], whole["metrics"]) << method;
  }
  EXPECT_EQ(json::parse(retain::read_file(dir / "cut" / "summary.json")),
            json::parse(retain::read_file(dir / "whole" / "summary.json")));
  // --resume of a folder without a run is an error naming it.
  expect_error(run({"run", "--resume", (dir / "nothing").string()}), {"nothing", "config.json"});
}

}  // namespace
