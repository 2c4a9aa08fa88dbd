// retain forward: logits of each {"ids": [...]} line of a JSONL file, into one safetensors file.
#include "commands.h"
#include "model_options.h"

#include "retain/core/json.h"
#include "retain/io/safetensors.h"
#include "retain/model/loader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <iostream>
#include <memory>
#include <vector>

namespace retain::cli {
namespace {

struct ForwardOptions {
  ModelOptions model;
  std::string input;
  std::string output;
};

/// The "ids" of one line, each checked to be an integer in [0, vocab_size).
std::vector<int64_t> parse_ids(const json& line, int64_t vocab_size) {
  RETAIN_CHECK(line.is_object() && line.contains("ids") && line["ids"].is_array(), "forward",
               "expected an object {{\"ids\": [...]}}, found {}", line.dump());
  const json& ids = line["ids"];
  RETAIN_CHECK(!ids.empty(), "forward", "\"ids\" is empty; every line needs at least one token");
  std::vector<int64_t> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& id = ids[i];
    RETAIN_CHECK(id.is_number_integer(), "forward", "\"ids\"[{}] is {}, expected an integer token id", i, id.dump());
    const bool in_range = id.is_number_unsigned() ? id.get<uint64_t>() < static_cast<uint64_t>(vocab_size)
                                                  : id.get<int64_t>() >= 0 && id.get<int64_t>() < vocab_size;
    RETAIN_CHECK(in_range, "forward", "\"ids\"[{}] = {} is outside the model's vocabulary [0, {})", i, id.dump(),
                 vocab_size);
    out.push_back(id.get<int64_t>());
  }
  return out;
}

void run_forward(const ForwardOptions& options) {
  CausalLM model = load_for_inference(options.model);
  const at::Device device = parse_device(options.model.device);

  std::vector<std::vector<int64_t>> sequences;
  for_each_jsonl(
      options.input, [&](size_t, const json& line) { sequences.push_back(parse_ids(line, model->config.vocab_size)); },
      "forward");

  // One sequence per batch: no padding, so each line's logits are exactly those of the line alone.
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, at::Tensor>> logits;
  logits.reserve(sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) {
    ForwardInput input;
    input.input_ids = torch::tensor(sequences[i], torch::kLong).unsqueeze(0).to(device);  // (1, T)
    at::Tensor out = model->forward(input);                                               // (1, T, vocab)
    logits.emplace_back(fmt::format("logits.{}", i), out[0].to(torch::kFloat).cpu().contiguous());
  }
  safetensors::save(options.output, logits,
                    {{"producer", "retain forward"},
                     {"retain_version", RETAIN_VERSION},
                     {"model", options.model.model_dir},
                     {"adapter", fmt::format("{}", fmt::join(options.model.adapter_dirs, ","))},
                     {"dtype", options.model.dtype}});
  std::cerr << "retain forward: " << sequences.size() << " sequences -> " << options.output << '\n';
}

}  // namespace

void register_forward(CLI::App& app) {
  auto options = std::make_shared<ForwardOptions>();
  auto* command = app.add_subcommand("forward", "Logits of each {\"ids\": [...]} line, as float32 logits.<line>");
  add_model_options(*command, options->model);
  command->add_option("--input", options->input, "JSONL, one {\"ids\": [...]} per line")->required();
  command
      ->add_option("--output", options->output,
                   "safetensors written atomically: logits.<i> [tokens, vocab] float32 for the i-th line (from 0)")
      ->required();
  command->callback([options] { run_forward(*options); });
}

}  // namespace retain::cli
