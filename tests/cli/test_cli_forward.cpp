// `retain forward` against transformers' float64 logits (plain, sharded, with a LoRA adapter), bad
// input lines, damaged model folders (which `inspect` must describe too) and `retain export`, the
// explicit merge of an adapter into a model copy.
#include "cli_support.h"
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/core/torch_compat.h"
#include "retain/io/safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

namespace {

using namespace retain::testing;
using retain::json;

std::string ids_line(const at::Tensor& ids) {
  auto c = ids.contiguous();
  return json{{"ids", std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel())}}.dump();
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
    EXPECT_LT(relative_error(logits, expected), 1e-4) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, CliForward,
    ::testing::Values(ForwardCase{"llama_gqa", kTinyModel, {}, fixtures() / "models/llama_gqa.reference.safetensors"},
                      ForwardCase{"llama_sharded",
                                  fixtures() / "models/llama_sharded",
                                  {},
                                  fixtures() / "models/llama_sharded.reference.safetensors"},
                      ForwardCase{"lora_qv", kTinyModel, fixtures() / "adapters/lora_qv",
                                  fixtures() / "adapters/lora_qv.reference.safetensors"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CliForwardInput, IdOutsideTheVocabularyNamesLineAndId) {
  const auto dir = temp_dir("cli");
  write_text(dir / "out.safetensors", "precious");
  expect_error(forward_on(kTinyModel, dir, "{\"ids\": [1, 2]}\n{\"ids\": [5, 384]}\n"),
               {"in.jsonl:2:", "384", "vocabulary"});
  expect_error(forward_on(kTinyModel, dir, "{\"ids\": [-1]}\n"), {"in.jsonl:1:", "-1"});
  expect_error(forward_on(kTinyModel, dir, "{\"ids\": [3, 2.5]}\n"), {"in.jsonl:1:", "2.5"});
  EXPECT_EQ(retain::read_file(dir / "out.safetensors"), "precious");  // never half-written
}

TEST(CliForwardInput, EmptyIdsAndMalformedLinesAreNamed) {
  const auto dir = temp_dir("cli");
  expect_error(forward_on(kTinyModel, dir, "{\"ids\": [1]}\n{\"ids\": []}\n"), {"in.jsonl:2:", "empty"});
  expect_error(forward_on(kTinyModel, dir, "{\"ids\": [1]}\n\n{\"ids\": [1,\n"), {"in.jsonl:3:", "malformed JSON"});
  expect_error(forward_on(kTinyModel, dir, "{\"text\": \"hello\"}\n"), {"in.jsonl:1:", "ids"});
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
}

TEST(CliForwardInput, BadDtypeAndDeviceAreErrors) {
  const auto dir = temp_dir("cli");
  write_text(dir / "in.jsonl", "{\"ids\": [1]}\n");
  const std::vector<std::string> base = {"forward",
                                         "--model",
                                         kTinyModel.string(),
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
  EXPECT_MSG(report["problems"][0].get<std::string>(), dropped) << r.out;
}

TEST(CliBadModel, MisshapedTensorIsNamed) {
  const auto model = model_copy("cli");
  rewrite_weights(model, [&](auto& tensors) {
    for (auto& [name, tensor] : tensors)
      if (name == "lm_head.weight") tensor = tensor.narrow(0, 0, kTinyVocab - 1).clone();  // [383, 64]
  });
  expect_error(forward_on(model, model.parent_path(), "{\"ids\": [1]}\n"), {"lm_head.weight", "383"});
  auto r = run({"inspect", model.string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = json::parse(r.out);
  ASSERT_EQ(report["problems"].size(), 1u) << r.out;
  EXPECT_MSG(report["problems"][0].get<std::string>(), "lm_head.weight") << r.out;
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
// ---------------------------------------------------------------------------------------------------
// export: the explicit merge

TEST(CliExport, MergedModelGivesTheLogitsOfModelPlusAdapter) {
  const auto dir = temp_dir("cli");
  const auto adapter = fixtures() / "adapters" / "lora_patterns";
  const std::string weights_before = retain::read_file(kTinyModel / "model.safetensors");
  auto r = run(
      {"export", "--model", kTinyModel.string(), "--adapter", adapter.string(), "--out", (dir / "merged").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "merged" / "tokenizer.json"));
  EXPECT_FALSE(fs::exists(dir / "merged" / "adapter_config.json"));
  const std::string line = "{\"ids\": [1, 17, 42, 99, 383, 5, 6, 7]}\n";
  ASSERT_EQ(forward_on(dir / "merged", dir, line).code, 0);
  const auto merged = retain::safetensors::File::open(dir / "out.safetensors").tensor("logits.0").clone();
  write_text(dir / "in.jsonl", line);
  r = run({"forward", "--model", kTinyModel.string(), "--adapter", adapter.string(), "--input",
           (dir / "in.jsonl").string(), "--output", (dir / "adapted.safetensors").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto adapted = retain::safetensors::File::open(dir / "adapted.safetensors").tensor("logits.0");
  ASSERT_EQ(forward_on(kTinyModel, dir, line).code, 0);
  const auto base = retain::safetensors::File::open(dir / "out.safetensors").tensor("logits.0").clone();
  // Merged in float64 and rounded once to float32: float32 rounding only (measured ~1e-7).
  EXPECT_LT(relative_error(merged, adapted), 1e-5);
  EXPECT_GT(relative_error(base, adapted), 1e-3);  // the adapter does change the model
  // Merging happens in the exported copy only: the input's weights are byte-identical afterwards.
  EXPECT_EQ(retain::read_file(kTinyModel / "model.safetensors"), weights_before);
}

TEST(CliExport, RefusesToWriteOverItsInput) {
  const auto dir = model_copy("cli_export");
  auto r = run({"export", "--model", dir.string(), "--out", dir.string(), "--overwrite"});
  expect_error(r, {"--out must differ from --model"});
}

}  // namespace
