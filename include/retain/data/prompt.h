// retain/data/prompt.h — the text a model sees for an example, and the text it must produce.
//
// O-LoRA style (methods.md §0; the O-LoRA repo's uie_collator.py with task and dataset names on):
//   prompt  "Task:{task_type_tag}\nDataset:{name}\n{instruction}Option: {labels joined by \", \"} \n{input}\nAnswer:"
//   target  " " + label            (tokenization appends eos; see batching.h)
// The space before the "\n" that ends the option line is part of the format. Without options
// (COPA: Task::list_options false) the option line is left out altogether.
// Note: O-LoRA's own collator appends the label with no space after "Answer:"; methods.md §0 fixes
// " " + label, which is what we write (for BPE vocabularies " label" is the natural next token).
//
// Plain style (TRACE {prompt, answer}, plain {input, output} JSONL): prompt = instruction + input,
// unchanged (instruction is usually empty); target = output, unchanged.
#pragma once

#include "retain/data/task.h"

#include <string>

namespace retain {

/// The prompt for `example` under the task's PromptStyle.
std::string format_prompt(const Task& task, const Example& example);

/// The text the model is trained to produce after the prompt (without eos).
std::string format_target(const Task& task, const Example& example);

}  // namespace retain
