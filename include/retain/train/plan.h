// retain/train/plan.h — what a run would train on and score, written out so that another
// implementation (transformers, PEFT) can run exactly the same experiment: `retain plan`.
//
// OUT/plan.json (format "retain.plan/1"):
//   {"format", "method", "model", "seed", "max_length", "eos_token_id", "pad_token_id",
//    "optim": {the method's optimizer settings, as optim_for(method) resolves them},
//    "tasks": [{"name", "labels",
//               "examples": [{"ids": [...], "prompt_length": n}, ...],   the tokenized train split
//               "steps": [{"lr": x, "epoch": e, "micro_batches": [[example index, ...], ...]}, ...],
//               "test": [{"answer": label index, "candidates": [{"ids", "prompt_length"}, one per label]}]}]}
// Loss is taken on ids[prompt_length:] (the target and eos); a step divides the summed token
// cross-entropy of its micro-batches by their answer tokens (train/trainer.h). "test" holds the
// first eval.max_examples test examples (all when 0), each with every label's rank-scoring
// candidate (train/evaluator.h).
//
// For a method that adds its parameters at the start of the run (seqlora), OUT/initial/ holds them
// as the method saves them (a PEFT adapter folder), so that a peer starts from the same values.
// The plan covers methods that train on each task's own examples (not replay or mtl).
#pragma once

#include "retain/train/runner.h"

#include <filesystem>
#include <string>
#include <vector>

namespace retain {

/// Writes OUT/plan.json (and OUT/initial/) for `method_name` over `tasks` on the model in
/// `model_dir`; returns the plan. Errors for methods whose examples are not each task's own.
json write_training_plan(const std::string& method_name, const std::filesystem::path& model_dir,
                         const std::vector<Task>& tasks, const RunConfig& config, const std::filesystem::path& out_dir);

}  // namespace retain
