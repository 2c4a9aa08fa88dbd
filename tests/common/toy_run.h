// Fixtures of the suites on tensors, models and runs (everything of test_support.h, plus): tensor
// comparison, the tiny model's tokenizer, a RunContext over toy tasks (make_task: the answer is a
// word of the input, learnable by a tiny random model), and the two-task runner set-up most method
// tests share.
#pragma once

#include "common/test_support.h"
#include "retain/data/task.h"
#include "retain/model/loader.h"
#include "retain/tokenizer/tokenizer.h"
#include "retain/train/method.h"
#include "retain/train/runner.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

namespace retain::testing {

/// ‖a − b‖ / ‖b‖ in float64.
inline double relative_error(const at::Tensor& a, const at::Tensor& b) {
  auto x = a.to(at::kCPU).to(at::kDouble), y = b.to(at::kCPU).to(at::kDouble);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-300);
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

/// The tiny model's tokenizer.
inline Tokenizer tiny_tokenizer() { return Tokenizer::from_file(kTinyModel / "tokenizer.json"); }

/// The two tasks of the runner tests, loaded: "colors" {red, blue} then "animals" {cat, dog}, each
/// with `copies` × 2 training examples and 2 test examples.
inline std::vector<Task> two_toy_tasks(const fs::path& root, int copies) {
  return {load_task(make_task(root, "colors", {"red", "blue"}, copies)),
          load_task(make_task(root, "animals", {"cat", "dog"}, copies))};
}

/// The RunConfig of the runner tests: batch 2 and rank scoring (no generation, so a run takes
/// seconds); everything else at its default.
inline RunConfig toy_run_config() {
  RunConfig config;
  config.optim.batch_size = 2;
  config.eval.scoring = "rank";
  return config;
}

/// A RunContext on the tiny model (CPU, `dtype`), seed 5, max_length 64, the tasks' train splits tokenized.
inline RunContext make_run(const std::vector<Task>& tasks, at::ScalarType dtype, const Tokenizer& tok) {
  RunContext run;
  run.model = load_model(kTinyModel, {dtype, at::kCPU});
  run.tokenizer = &tok;
  run.tasks = tasks;
  run.seed = 5;
  run.tokenize.max_length = 64;
  run.tokenize.eos_token_id = run.model->config.eos_token_ids.front();
  for (const auto& t : tasks) run.train_data.push_back(tokenize_examples(tok, t, t.train, run.tokenize));
  return run;
}

}  // namespace retain::testing
