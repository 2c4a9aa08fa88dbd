// retain tokenizer train: a byte-level BPE tokenizer.json learned from text files.
#include "commands.h"

#include "retain/core/error.h"
#include "retain/tokenizer/bpe_trainer.h"

#include <fmt/format.h>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

namespace retain::cli {
namespace {

namespace fs = std::filesystem;

struct TokenizerTrainOptions {
  std::vector<std::string> inputs;
  std::string out;
  int64_t vocab_size = 8192;
  int64_t min_frequency = 2;
  std::vector<std::string> specials = {"<s>", "</s>", "<pad>"};
  int threads = 0;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void run_tokenizer_train(const TokenizerTrainOptions& options) {
  const auto files = list_text_files(options.inputs, "tokenizer");
  BpeTrainerOptions trainer;
  trainer.vocab_size = options.vocab_size;
  trainer.min_frequency = options.min_frequency;
  trainer.special_tokens = options.specials;
  const int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  const auto start = std::chrono::steady_clock::now();
  const WordCounts counts = count_words_in_files(files, threads);
  int64_t words = 0;
  for (const auto& [word, n] : counts) words += n;
  const double count_seconds = seconds_since(start);
  const auto train_start = std::chrono::steady_clock::now();
  const BpeVocabulary vocabulary = train_bpe(counts, trainer);
  const double train_seconds = seconds_since(train_start);
  write_bpe_tokenizer(options.out, vocabulary);
  std::cerr << fmt::format(
      "retain tokenizer train: {} files, {} words ({} types) counted in {:.1f} s; {} merges in {:.1f} s; vocabulary {} "
      "(bos {} = 0, eos {} = 1) -> {}\n",
      files.size(), words, counts.size(), count_seconds, vocabulary.merges.size(), train_seconds,
      vocabulary.tokens.size(), vocabulary.special_tokens.empty() ? "-" : vocabulary.special_tokens[0],
      vocabulary.special_tokens.size() < 2 ? "-" : vocabulary.special_tokens[1], options.out);
  if (static_cast<int64_t>(vocabulary.tokens.size()) < options.vocab_size)
    std::cerr << fmt::format("retain tokenizer train: note: stopped at {} tokens (no pair occurs {} times or more)\n",
                             vocabulary.tokens.size(), options.min_frequency);
}

}  // namespace

void register_tokenizer(CLI::App& app) {
  auto* group = app.add_subcommand("tokenizer", "Tokenizer tools (train)");
  group->require_subcommand(1);
  auto options = std::make_shared<TokenizerTrainOptions>();
  auto* train = group->add_subcommand("train", "Learn a byte-level BPE tokenizer.json (Llama-3 split regex) from text");
  train->add_option("--input", options->inputs, "Text file or folder (every file below it); repeatable")
      ->required()
      ->expected(1, -1);
  train->add_option("--vocab-size", options->vocab_size, "Vocabulary size, special tokens and 256 bytes included")
      ->capture_default_str();
  train->add_option("--out", options->out, "tokenizer.json to write (atomically)")->required();
  train->add_option("--min-frequency", options->min_frequency, "Pairs seen fewer times are never merged")
      ->capture_default_str();
  train
      ->add_option("--special", options->specials, "Special tokens, ids 0.. in order: the first is BOS, the second EOS")
      ->delimiter(',')
      ->capture_default_str();
  train->add_option("--threads", options->threads, "Threads counting words (0 = all cores)")->capture_default_str();
  train->callback([options] { run_tokenizer_train(*options); });
}

}  // namespace retain::cli
