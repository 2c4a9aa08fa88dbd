// retain/train/evaluator.h — scoring a task's test split with the model as a method left it.
//
// Scoring (methods.md §0): `generate` — greedy generation, the first non-blank line of the output
// scored with the task's metric (normalised exact match for classification); `rank` — for
// classification only, each label's " label" + eos scored by its summed log-likelihood after the
// prompt and the best one taken (faster, never off-list). The report says which was used.
#pragma once

#include "retain/core/settings.h"
#include "retain/data/batching.h"
#include "retain/data/task.h"
#include "retain/model/causal_lm.h"

#include <string>
#include <vector>

namespace retain {

struct EvalSettings {
  std::string scoring = "generate";
  int64_t batch_size = 16;
  int64_t max_new_tokens = 16;
  int64_t max_examples = 0;  // 0: the whole test split

  template <class V>
  void visit(V& v) {
    v("scoring", scoring, "generate | rank");
    v("batch_size", batch_size, "prompts per generation batch");
    v("max_new_tokens", max_new_tokens, "generation length limit");
    v("max_examples", max_examples, "score only the first N test examples (0: all)");
  }
};

struct TaskEvaluation {
  double score = 0;                      // in [0, 1]
  std::vector<std::string> predictions;  // one per scored example
};

/// Scores `task`'s test split. `eos_token_ids` end generation.
TaskEvaluation evaluate_task(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                             const TokenizeOptions& tokenize, const EvalSettings& settings);

}  // namespace retain
