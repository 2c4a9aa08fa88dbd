// retain generate: continuations of text prompts, generated as one left-padded batch.
#include "commands.h"
#include "model_options.h"

#include "retain/core/json.h"
#include "retain/model/generation.h"
#include "retain/model/generation_config.h"
#include "retain/tokenizer/tokenizer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <vector>

namespace retain::cli {
namespace {

struct GenerateCommandOptions {
  ModelOptions model;
  std::vector<std::string> prompts;
  GenerationOptions generation;
  bool sample = false;
  bool greedy = false;
  bool add_special_tokens = true;
  bool jsonl = false;
};

void run_generate(GenerateCommandOptions options) {
  const std::filesystem::path dir = options.model.model_dir;
  const Tokenizer tokenizer = Tokenizer::from_file(dir / "tokenizer.json");
  CausalLM model = load_for_inference(options.model);
  const ModelConfig& config = model->config;

  // Stop tokens: the model config's, and generation_config.json's when the folder has one.
  GenerationOptions& generation = options.generation;
  generation.do_sample = options.sample;
  const GenerationDefaults defaults = read_generation_defaults(dir, config);
  generation.eos_token_ids = defaults.eos_token_ids;
  generation.pad_token_id = defaults.pad_token_id;

  std::vector<std::vector<int64_t>> prompts;
  for (size_t i = 0; i < options.prompts.size(); ++i) {
    auto ids = tokenizer.encode(options.prompts[i], options.add_special_tokens);
    RETAIN_CHECK(!ids.empty(), "generate", "prompt {} has no tokens (empty text without special tokens)", i + 1);
    for (int64_t id : ids) {
      RETAIN_CHECK(id < config.vocab_size, "generate",
                   "prompt {}: the tokenizer gave id {}, outside the model's vocabulary [0, {}); do "
                   "{}/tokenizer.json and the model belong together?",
                   i + 1, id, config.vocab_size, dir.string());
    }
    prompts.push_back(std::move(ids));
  }

  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  const auto continuations = generate(model, prompts, generation);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  size_t new_tokens = 0;
  for (size_t i = 0; i < continuations.size(); ++i) {
    const std::string text = tokenizer.decode(continuations[i], /*skip_special_tokens=*/true);
    new_tokens += continuations[i].size();
    if (options.jsonl) {
      const json line = {{"prompt", options.prompts[i]}, {"ids", continuations[i]}, {"text", text}};
      // A continuation can end inside a multi-byte character: replace, rather than fail on, invalid UTF-8.
      std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    } else {
      std::cout << text << '\n';
    }
  }
  std::cout.flush();
  std::cerr << fmt::format("retain generate: {} prompt(s), {} new tokens in {:.2f} s ({})\n", prompts.size(),
                           new_tokens, seconds, generation.do_sample ? "sampling" : "greedy");
}

}  // namespace

void register_generate(CLI::App& app) {
  auto options = std::make_shared<GenerateCommandOptions>();
  auto& generation = options->generation;
  auto* command = app.add_subcommand("generate", "Continue text prompts (one left-padded batch, KV cache)");
  add_model_options(*command, options->model);
  command->add_option("--prompt", options->prompts, "Prompt text; repeat for a batch")->required()->take_all();
  command->add_option("--max-new-tokens", generation.max_new_tokens, "Tokens to generate per prompt at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* sample = command->add_flag("--sample", options->sample, "Sample (temperature, top-p, top-k)");
  auto* greedy = command->add_flag("--greedy", options->greedy, "Take the most likely token (the default)");
  sample->excludes(greedy);
  command->add_option("--temperature", generation.temperature, "Sampling temperature")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->needs(sample);
  command->add_option("--top-p", generation.top_p, "Nucleus sampling mass (1 = off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0))
      ->needs(sample);
  command->add_option("--top-k", generation.top_k, "Sample among the k most likely tokens (0 = off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->needs(sample);
  command->add_option("--seed", generation.seed, "Random seed of sampling")->capture_default_str()->needs(sample);
  command->add_flag("--add-special-tokens,!--no-special-tokens", options->add_special_tokens,
                    "Add the tokenizer's special tokens (BOS) to each prompt (default: on)");
  command->add_flag("--jsonl", options->jsonl,
                    "Print one JSON object per prompt: {\"prompt\", \"ids\", \"text\"} instead of the text alone");
  command->footer("Stops at max-new-tokens or at an EOS token (config.json and generation_config.json).\n");
  command->callback([options] { run_generate(*options); });
}

}  // namespace retain::cli
