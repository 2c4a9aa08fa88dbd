// Shared by the training tests: the tiny fixture model, toy classification tasks whose answer is a
// word of the input (learnable by a tiny random model), and a RunContext over them.
#pragma once

#include "common/test_support.h"
#include "retain/core/files.h"
#include "retain/data/task.h"
#include "retain/model/loader.h"
#include "retain/train/method.h"

#include <filesystem>
#include <string>
#include <vector>

namespace retain::testing {

inline const std::filesystem::path& tiny_model_dir() {
  static const std::filesystem::path dir = fixtures() / "models" / "llama_gqa";
  return dir;
}

/// ROOT/NAME: a retain task folder, train = `copies` × {"say <label>" → label}, test = one of each.
inline std::filesystem::path make_task(const std::filesystem::path& root, const std::string& name,
                                       const std::vector<std::string>& labels, int copies) {
  const auto dir = root / name;
  std::filesystem::create_directories(dir);
  json task = {{"name", name}, {"type", "classification"}, {"labels", labels}};
  write_file_atomic(dir / "task.json", task.dump());
  std::string train, test;
  for (int c = 0; c < copies; ++c)
    for (const auto& label : labels) train += json{{"input", "say " + label}, {"output", label}}.dump() + "\n";
  for (const auto& label : labels) test += json{{"input", "say " + label}, {"output", label}}.dump() + "\n";
  write_file_atomic(dir / "train.jsonl", train);
  write_file_atomic(dir / "test.jsonl", test);
  return dir;
}

/// A RunContext on the tiny model (CPU, `dtype`), seed 5, max_length 64, the tasks' train splits tokenized.
inline RunContext make_run(const std::vector<Task>& tasks, at::ScalarType dtype, const Tokenizer& tok) {
  RunContext run;
  run.model = load_model(tiny_model_dir(), {dtype, at::kCPU});
  run.tokenizer = &tok;
  run.tasks = tasks;
  run.seed = 5;
  run.tokenize.max_length = 64;
  run.tokenize.eos_token_id = run.model->config.eos_token_ids.front();
  for (const auto& t : tasks) run.train_data.push_back(tokenize_examples(tok, t, t.train, run.tokenize));
  return run;
}

/// Detached copies of `params`, to compare against later.
inline std::vector<at::Tensor> snapshot(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone());
  return out;
}

/// Same count, and each pair equal bit for bit.
inline bool bitwise_equal(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!at::equal(a[i], b[i])) return false;
  return true;
}

}  // namespace retain::testing
