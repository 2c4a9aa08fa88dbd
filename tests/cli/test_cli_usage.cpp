// `retain` on the command line: usage errors (CLI11's own exit codes), --version and --help, and
// `retain tokenize` against Hugging Face's ids, with bad input lines and files named.
#include "cli_support.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/core/torch_compat.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;
using retain::json;

// ---------------------------------------------------------------------------------------------------
// Usage

TEST(CliUsage, VersionNamesRetainLibtorchAndCuda) {
  auto r = run({"--version"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_MSG(r.out, std::string("retain ") + RETAIN_VERSION);
  EXPECT_MSG(r.out, std::string("libtorch ") + retain::compat::torch_version());
  EXPECT_MSG(r.out, "CUDA: ");
}

TEST(CliUsage, HelpListsEverySubcommand) {
  auto r = run({"--help"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* name : {"tokenize", "forward", "generate", "inspect", "init"}) EXPECT_MSG(r.out, name) << name;
}

TEST(CliUsage, UnknownFlagIsAUsageError) {
  const auto dir = temp_dir("cli");
  write_text(dir / "in.jsonl", "{\"ids\": [1]}\n");
  expect_usage_error(run({"forward", "--model", kTinyModel.string(), "--input", (dir / "in.jsonl").string(), "--output",
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
  expect_usage_error(run({"generate", "--model", kTinyModel.string(), "--prompt", "hi", "--temperature", "0.5"}),
                     "--sample");
  expect_usage_error(run({"generate", "--model", kTinyModel.string(), "--prompt", "hi", "--sample", "--greedy"}),
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

}  // namespace
