// retain/train/evaluator.h — scoring a task's test split with the model as a method left it.
//
// Scoring (methods.md §0): `generate` — greedy generation, the first non-blank line of the output
// scored with the task's metric (normalised exact match for classification); `rank` — for
// classification only, each label's " label" + eos scored by its summed log-likelihood after the
// prompt and the best one taken (faster, never off-list). The report says which was used.
//
// Rank scoring shares the prompt: eval.batch_size prompts run once, left-padded into a KV cache,
// then each label's answer tokens run as decode steps from it (the cache rewound between labels),
// the vocabulary projection taken only at the answer positions, the scores read back once per call.
// A routed model routes in the prefill, on the prompt alone, so all candidates of an example get
// the same route. Where truncation leaves a label (a longer answer) a different part of the prompt,
// the labels that agree share a prefill: every score is that of the candidate's own row.
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
  std::string general_text = "auto";
  int64_t general_tokens = 16384;
  double dev_share = 0.1;

  template <class V>
  void visit(V& v) {
    v("scoring", scoring, "generate | rank");
    v("batch_size", batch_size, "examples per batch: generation prompts, or rank-scoring examples (each with all its labels)");
    v("max_new_tokens", max_new_tokens, "generation length limit");
    v("max_examples", max_examples, "score only the first N test examples (0: all)");
    v("general_text", general_text,
      "held-out general text whose language-modelling loss is measured before and after every task: a .jsonl "
      "file of {\"text\"} documents or a text file of one document per line; auto: the model folder's "
      "general_text.jsonl when it has one (retain's own models: held-out pretraining documents); off: none");
    v("general_tokens", general_tokens, "tokens of the general text scored (from its start)");
    v("dev_share", dev_share, "sweeps: share of train held out as the dev split of a task that has none (seeded)");
  }
  /// Errors name the key and the accepted values.
  void validate() const;
};

struct TaskEvaluation {
  double score = 0;                      // in [0, 1]
  std::vector<std::string> predictions;  // one per scored example
};

/// Scores `task`'s test split (its first eval.max_examples examples).
TaskEvaluation evaluate_task(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                             const TokenizeOptions& tokenize, const EvalSettings& settings);

/// Scores `examples` of `task` (any split), all of them.
TaskEvaluation evaluate_examples(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                                 const std::vector<Example>& examples, const TokenizeOptions& tokenize,
                                 const EvalSettings& settings);

/// Rank scoring's scores: (examples × labels) float64 on the CPU, entry [e][l] the summed
/// log-likelihood of label l's target tokens (and eos) after example e's prompt. `batch_size`
/// examples per forward.
at::Tensor rank_label_scores(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                             const std::vector<Example>& examples, const TokenizeOptions& tokenize, int64_t batch_size);

}  // namespace retain
