// retain tokenize: JSONL {"text": ...} → JSONL {"ids": [...]}, line for line.
#include "commands.h"

#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/tokenizer/tokenizer.h"

#include <iostream>
#include <memory>
#include <vector>

namespace retain::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string input;
  std::string output;
  bool add_special_tokens = false;
};

void run_tokenize(const TokenizeOptions& options) {
  const Tokenizer tokenizer = Tokenizer::from_file(options.tokenizer);
  std::vector<std::vector<int64_t>> encoded;
  for_each_jsonl(
      options.input,
      [&](size_t, const json& line) {
        const auto text = json_get<std::string>(line, "text", "line", "tokenize");
        encoded.push_back(tokenizer.encode(text, options.add_special_tokens));
      },
      "tokenize");
  // Everything is encoded before the output is touched, so a bad line leaves it as it was.
  write_file_atomic(
      options.output,
      [&](std::ostream& out) {
        for (const auto& ids : encoded) out << json{{"ids", ids}}.dump() << '\n';
      },
      "tokenize");
  std::cerr << "retain tokenize: " << encoded.size() << " lines -> " << options.output << '\n';
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* command = app.add_subcommand("tokenize", "Token ids of each {\"text\": ...} line of a JSONL file");
  command->add_option("--tokenizer", options->tokenizer, "Hugging Face tokenizer.json")->required();
  command->add_option("--input", options->input, "JSONL, one {\"text\": \"...\"} per line")->required();
  command->add_option("--output", options->output, "JSONL written atomically, one {\"ids\": [...]} per line")
      ->required();
  command->add_flag("--add-special-tokens", options->add_special_tokens,
                    "Apply the post-processor (BOS/EOS), as HF encode(add_special_tokens=True)");
  command->callback([options] { run_tokenize(*options); });
}

}  // namespace retain::cli
