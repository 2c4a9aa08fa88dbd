// retain/data/task.h — one continual-learning task (its splits, labels, prompt recipe and metric) and
// the readers for the three layouts users bring (methods.md §0, issue 3 "Tasks and data").
//
// Layouts, auto-detected by load_task():
//   (a) retain task folder:  task.json + train.jsonl + test.jsonl [+ dev.jsonl]
//         task.json  {"name", "type": "classification"|"generation", "labels": [...] (classification),
//                     optional "instruction", "metric", "prompt": "olora"|"plain", "task_tag"}
//         *.jsonl    one {"input": ..., "output": ...} per line (other keys are ignored)
//   (b) O-LoRA CL_Benchmark dataset folder:  CL_Benchmark/<TYPE>/<dataset>/
//         {train,dev,test}.json  JSON lists of {"sentence", "label"};  labels.json  list of strings.
//         The type comes from the parent folder (TC, SC, NLI, QQP, BoolQA, MultiRC, WiC, COPA).
//         Examples labelled "-" (MNLI's "no gold label", 131 in its dev and test) are skipped and
//         recorded in Task::notes; any other label outside labels.json is an error.
//   (c) TRACE task folder:  {train,eval,test}.json  JSON lists of {"prompt", "answer"} (eval → dev).
//
// Every error is a retain::Error with component "data" that names the file (and line or example),
// says what was expected, and, for a misspelt name, the closest valid one.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace retain {

/// One example: the text shown to the model (before prompt formatting) and the reference answer
/// (for classification: the label string).
struct Example {
  std::string input;
  std::string output;
};

enum class TaskType { Classification, Generation };

/// How format_prompt() turns an Example into the model's prompt (see prompt.h).
enum class PromptStyle {
  OLoRA,  // "Task:{tag}\nDataset:{name}\n{instruction}Option: {labels} \n{input}\nAnswer:", target " " + label
  Plain,  // instruction + input unchanged (TRACE, plain JSONL), target = output unchanged
};

struct Task {
  std::string name;  // the dataset name; the O-LoRA prompt's "Dataset:" line
  TaskType type = TaskType::Classification;
  std::vector<std::string> labels;  // classification: the label set, in the order shown as options
  std::string instruction;          // O-LoRA: ends with "\n"; may be empty
  std::string metric;               // "accuracy" | "exact_match" | "rouge_l" | "edit_similarity"
  std::string task_type_tag;        // the O-LoRA prompt's "Task:" line: "TC", "SC", "NLI", ...
  PromptStyle prompt_style = PromptStyle::Plain;
  bool list_options = true;  // O-LoRA style: print the "Option: ..." line (false for COPA, whose
                             // sentence already lists the choices)
  std::vector<Example> train, dev, test;  // dev may be empty (optional in layout (a))
  std::string source;                     // what was read: "retain:<dir>", "cl_benchmark:<dir>", "trace:<dir>"
  std::vector<std::string> notes;         // what the loader changed, for the log (e.g. examples skipped)
};

std::string to_string(TaskType type);
std::string to_string(PromptStyle style);

/// The metric names a task may declare.
const std::vector<std::string>& known_metrics();

/// Reads a task from `path` (a folder, or the task.json inside one), detecting its layout from the
/// files present: task.json → (a); labels.json → (b); train.json → (c). A folder matching none is an
/// error that lists what each layout needs.
Task load_task(const std::filesystem::path& path);

/// Readers for one layout each (load_task picks among them).
Task load_retain_task(const std::filesystem::path& dir);
Task load_cl_benchmark_task(const std::filesystem::path& dir);
Task load_trace_task(const std::filesystem::path& dir);

/// The O-LoRA instruction for a CL_Benchmark task type ("TC", "SC", ...), exactly as the O-LoRA
/// repo's configs/instruction_config.json; "" for COPA (its sentence is the whole question).
/// Throws for an unknown type, naming the known ones.
std::string cl_benchmark_instruction(const std::string& type);

/// The dataset names of O-LoRA's published task order 1..6, as used in the CL_Benchmark folders:
///   1–3: the standard benchmark (4 tasks); 4–6: the long benchmark (15 tasks).
/// Orders 1–4 from the O-LoRA paper (methods.md §0); 6 from the O-LoRA repo's scripts/long.sh;
/// 5 from the O-LoRA paper's table of orders (inherited from Progressive Prompts), matching a
/// public reproduction script. Throws for any other number.
std::vector<std::string> benchmark_order(int order);

/// The CL_Benchmark sub-folder of a dataset name, "<TYPE>/<dataset>" (e.g. "yelp" → "SC/yelp").
/// Matching ignores ASCII case ("Yelp", "SST-2", "sst-2"). Throws for an unknown name.
std::string cl_benchmark_folder(const std::string& dataset);

/// The tasks of a published order, read from `benchmark_dir` (the CL_Benchmark folder, or a folder
/// that contains one), in training order.
std::vector<Task> load_benchmark(const std::filesystem::path& benchmark_dir, int order);

}  // namespace retain
