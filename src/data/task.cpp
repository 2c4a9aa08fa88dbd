#include "retain/data/task.h"

#include "retain/core/error.h"
#include "retain/core/json.h"
#include "retain/core/suggest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace retain {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Quoted, comma-separated: "a", "b".
std::string quoted_list(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const auto& item : items) quoted.push_back(json(item).dump());
  return fmt::format("{}", fmt::join(quoted, ", "));
}

// The last component of a folder path, also for "dir/" and ".".
std::string folder_name(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

std::string describe_layouts() {
  return "a retain task folder (task.json, train.jsonl, test.jsonl, optional dev.jsonl), "
         "an O-LoRA CL_Benchmark dataset folder (labels.json, train.json, test.json, optional dev.json) or "
         "a TRACE task folder (train.json, test.json, optional eval.json)";
}

// A string member of one example; `where` is "" inside for_each_jsonl (which adds FILE:LINE).
std::string string_member(const json& object, const char* key, const std::string& where,
                          const std::vector<std::string>& expected_keys) {
  const std::string prefix = where.empty() ? "" : where + ": ";
  if (!object.is_object())
    fail(kComponent, "{}expected an object with keys {}, found {}", prefix, quoted_list(expected_keys),
         detail::json_type_name(object));
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    std::vector<std::string> present;
    for (auto member = object.begin(); member != object.end(); ++member) present.push_back(member.key());
    fail(kComponent, "{}missing key \"{}\" (expected keys {}, found {})", prefix, key, quoted_list(expected_keys),
         present.empty() ? std::string("none") : quoted_list(present));
  }
  if (!it->is_string()) fail(kComponent, "{}\"{}\" is {}, expected a string", prefix, key, detail::json_type_name(*it));
  return it->get<std::string>();
}

void check_label(const std::string& label, const std::vector<std::string>& labels, const std::string& where,
                 const std::string& labels_origin) {
  if (std::find(labels.begin(), labels.end(), label) != labels.end()) return;
  const std::string prefix = where.empty() ? "" : where + ": ";
  fail(kComponent, "{}label {} is not in the label set [{}] of {}{}", prefix, json(label).dump(), quoted_list(labels),
       labels_origin, did_you_mean(label, labels));
}

// A non-empty list of distinct non-empty strings.
std::vector<std::string> read_label_list(const json& value, const std::string& where) {
  if (!value.is_array()) fail(kComponent, "{}: labels must be a list of strings, found {}", where, detail::json_type_name(value));
  std::vector<std::string> labels;
  std::set<std::string> seen;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string())
      fail(kComponent, "{}: label {} is {}, expected a string", where, i + 1, detail::json_type_name(value[i]));
    auto label = value[i].get<std::string>();
    if (label.empty()) fail(kComponent, "{}: label {} is an empty string", where, i + 1);
    if (!seen.insert(label).second) fail(kComponent, "{}: label {} appears twice", where, json(label).dump());
    labels.push_back(std::move(label));
  }
  if (labels.empty()) fail(kComponent, "{}: the label set is empty (a classification task needs at least one label)", where);
  return labels;
}

void check_not_empty(const std::vector<Example>& split, const fs::path& file) {
  if (split.empty()) fail(kComponent, "{}: empty split (no examples); every split file present must hold at least one", file.string());
}

std::vector<Example> read_jsonl_split(const fs::path& file, const Task& task) {
  std::vector<Example> examples;
  const std::vector<std::string> keys = {"input", "output"};
  for_each_jsonl(
      file,
      [&](size_t, const json& line) {
        Example example{string_member(line, "input", "", keys), string_member(line, "output", "", keys)};
        if (task.type == TaskType::Classification)
          check_label(example.output, task.labels, "", (fs::path(file).parent_path() / "task.json").string());
        examples.push_back(std::move(example));
      },
      kComponent);
  check_not_empty(examples, file);
  return examples;
}

// A JSON list of objects with two string members; `check` validates each example.
std::vector<Example> read_json_list_split(const fs::path& file, const char* input_key, const char* output_key,
                                          const std::function<void(const Example&, const std::string&)>& check,
                                          const std::string& hint_on_missing_key = "",
                                          const std::function<bool(const Example&)>& skip = nullptr,
                                          size_t* skipped = nullptr) {
  const json list = read_json_file(file, kComponent);
  if (!list.is_array())
    fail(kComponent, "{}: expected a JSON list of {{\"{}\": ..., \"{}\": ...}} objects, found {}", file.string(), input_key,
         output_key, detail::json_type_name(list));
  std::vector<Example> examples;
  examples.reserve(list.size());
  const std::vector<std::string> keys = {input_key, output_key};
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = fmt::format("{}: example {} (counting from 1)", file.string(), i + 1);
    try {
      Example example{string_member(list[i], input_key, where, keys), string_member(list[i], output_key, where, keys)};
      if (skip && skip(example)) {
        ++*skipped;
        continue;
      }
      if (check) check(example, where);
      examples.push_back(std::move(example));
    } catch (const Error& e) {
      if (hint_on_missing_key.empty() || e.message().find("missing key") == std::string::npos) throw;
      fail(kComponent, "{}{}", e.message(), hint_on_missing_key);
    }
  }
  check_not_empty(examples, file);
  return examples;
}

const std::vector<std::string> kTaskJsonKeys = {"name", "type", "labels", "instruction", "metric", "prompt", "task_tag"};

const std::vector<std::string> kClBenchmarkTypes = {"TC", "SC", "NLI", "QQP", "BoolQA", "MultiRC", "WiC", "COPA"};

// CL_Benchmark dataset folder → type folder, as in the O-LoRA repository.
const std::vector<std::pair<std::string, std::string>> kClBenchmarkDatasets = {
    {"dbpedia", "TC"}, {"amazon", "SC"}, {"yahoo", "TC"},   {"agnews", "TC"}, {"MNLI", "NLI"},
    {"CB", "NLI"},     {"WiC", "WiC"},   {"COPA", "COPA"},  {"QQP", "QQP"},   {"BoolQA", "BoolQA"},
    {"RTE", "NLI"},    {"IMDB", "SC"},   {"yelp", "SC"},    {"SST-2", "SC"},  {"MultiRC", "MultiRC"},
};

// TRACE's eight tasks and their metrics (TRACE, Wang et al. 2023, Table 1). Looked up ignoring case.
// 20Minuten is scored by SARI in TRACE, which retain does not implement: ROUGE-L stands in for it.
const std::vector<std::pair<std::string, std::string>> kTraceMetrics = {
    {"C-STANCE", "accuracy"},   {"FOMC", "accuracy"},      {"ScienceQA", "accuracy"},
    {"NumGLUE-cm", "accuracy"}, {"NumGLUE-ds", "accuracy"}, {"MeetingBank", "rouge_l"},
    {"20Minuten", "rouge_l"},   {"Py150", "edit_similarity"},
};

// The value named `name` among `choices` for task.json's `key`; an unknown name fails listing them.
template <class E>
E parse_choice(const std::string& name, const char* key, const std::vector<std::pair<std::string, E>>& choices,
               const std::string& where) {
  std::vector<std::string> names;
  for (const auto& [choice, value] : choices) {
    if (choice == name) return value;
    names.push_back(choice);
  }
  fail(kComponent, "{}: unknown {} \"{}\"{} (known: {})", where, key, name, did_you_mean(name, names), quoted_list(names));
}

std::string check_metric(const std::string& metric, const std::string& where) {
  const auto& known = known_metrics();
  if (std::find(known.begin(), known.end(), metric) == known.end())
    fail(kComponent, "{}: unknown metric \"{}\"{} (known: {})", where, metric, did_you_mean(metric, known),
         quoted_list(known));
  return metric;
}

}  // namespace

std::string to_string(TaskType type) { return type == TaskType::Classification ? "classification" : "generation"; }
std::string to_string(PromptStyle style) { return style == PromptStyle::OLoRA ? "olora" : "plain"; }

const std::vector<std::string>& known_metrics() {
  static const std::vector<std::string> metrics = {"accuracy", "exact_match", "rouge_l", "edit_similarity"};
  return metrics;
}

Task load_retain_task(const fs::path& dir) {
  const fs::path task_file = dir / "task.json";
  if (!fs::is_regular_file(task_file))
    fail(kComponent,
         "{}: no task.json. A task folder must contain task.json ({{\"name\": ..., \"type\": \"classification\" | "
         "\"generation\", \"labels\": [...] for classification, optional \"instruction\", \"metric\"}}), "
         "train.jsonl and test.jsonl (optional dev.jsonl), one {{\"input\": ..., \"output\": ...}} per line",
         dir.string());
  const std::string where = task_file.string();
  const json config = read_json_file(task_file, kComponent);
  if (!config.is_object()) fail(kComponent, "{}: expected a JSON object, found {}", where, detail::json_type_name(config));
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (std::find(kTaskJsonKeys.begin(), kTaskJsonKeys.end(), it.key()) != kTaskJsonKeys.end()) continue;
    fail(kComponent, "{}: unknown key \"{}\"{} (known keys: {})", where, it.key(), did_you_mean(it.key(), kTaskJsonKeys),
         quoted_list(kTaskJsonKeys));
  }

  Task task;
  task.source = "retain:" + dir.string();
  task.name = json_get<std::string>(config, "name", where, kComponent);
  if (task.name.empty()) fail(kComponent, "{}: \"name\" is empty", where);

  task.type = parse_choice<TaskType>(json_get<std::string>(config, "type", where, kComponent), "type",
                                     {{"classification", TaskType::Classification}, {"generation", TaskType::Generation}},
                                     where);

  const bool has_labels = config.contains("labels") && !config["labels"].is_null();
  if (task.type == TaskType::Classification) {
    if (!has_labels) fail(kComponent, "{}: a classification task needs \"labels\": [...], the list of label strings", where);
    task.labels = read_label_list(config["labels"], where);
  } else if (has_labels) {
    fail(kComponent, "{}: \"labels\" is only for classification tasks; this task has type \"generation\"", where);
  }

  task.instruction = json_get_or<std::string>(config, "instruction", "", where, kComponent);
  const std::string default_metric = task.type == TaskType::Classification ? "accuracy" : "rouge_l";
  task.metric = check_metric(json_get_or<std::string>(config, "metric", default_metric, where, kComponent), where);

  const std::string default_style = task.type == TaskType::Classification ? "olora" : "plain";
  const auto style = json_get_or<std::string>(config, "prompt", default_style, where, kComponent);
  task.prompt_style =
      parse_choice<PromptStyle>(style, "prompt", {{"olora", PromptStyle::OLoRA}, {"plain", PromptStyle::Plain}}, where);
  task.task_type_tag = json_get_or<std::string>(config, "task_tag", task.name, where, kComponent);
  // The O-LoRA template puts the instruction on its own line(s) before "Option:".
  if (task.prompt_style == PromptStyle::OLoRA && !task.instruction.empty() && task.instruction.back() != '\n')
    task.instruction += '\n';

  for (const char* required : {"train.jsonl", "test.jsonl"})
    if (!fs::is_regular_file(dir / required))
      fail(kComponent, "{}: missing {} (a task folder holds train.jsonl and test.jsonl, optional dev.jsonl)", dir.string(),
           required);
  task.train = read_jsonl_split(dir / "train.jsonl", task);
  if (fs::is_regular_file(dir / "dev.jsonl")) task.dev = read_jsonl_split(dir / "dev.jsonl", task);
  task.test = read_jsonl_split(dir / "test.jsonl", task);
  return task;
}

std::string cl_benchmark_instruction(const std::string& type) {
  // Verbatim from the O-LoRA repo's configs/instruction_config.json (methods.md §0).
  static const std::map<std::string, std::string> instructions = {
      {"TC", "What is the topic of the following paragraph? Choose one from the option.\n"},
      {"SC", "What is the sentiment of the following paragraph? Choose one from the option.\n"},
      {"NLI",
       "What is the logical relationship between the \"sentence 1\" and the \"sentence 2\"? Choose one from the "
       "option.\n"},
      {"QQP", "Whether the \"first sentence\" and the \"second sentence\" have the same meaning? Choose one from the "
              "option.\n"},
      {"BoolQA", "According to the following passage, is the question true or false? Choose one from the option.\n"},
      {"MultiRC",
       "According to the following passage and question, is the candidate answer true or false? Choose one from the "
       "option.\n"},
      {"WiC",
       "Given a word and two sentences, whether the word is used with the same sense in both sentence? Choose one "
       "from the option.\n"},
      {"COPA", ""},
  };
  auto it = instructions.find(type);
  if (it == instructions.end())
    fail(kComponent, "unknown CL_Benchmark task type \"{}\"{} (known: {})", type, did_you_mean(type, kClBenchmarkTypes),
         quoted_list(kClBenchmarkTypes));
  return it->second;
}

Task load_cl_benchmark_task(const fs::path& dir) {
  const fs::path absolute = fs::absolute(dir).lexically_normal();
  const fs::path folder = absolute.filename().empty() ? absolute.parent_path() : absolute;
  const std::string type = folder.parent_path().filename().string();
  if (std::find(kClBenchmarkTypes.begin(), kClBenchmarkTypes.end(), type) == kClBenchmarkTypes.end())
    fail(kComponent,
         "{}: looks like an O-LoRA CL_Benchmark dataset (it has labels.json), but its parent folder \"{}\" is not a "
         "task type{}; the layout is CL_Benchmark/<TYPE>/<dataset>/ with TYPE one of {}",
         dir.string(), type, did_you_mean(type, kClBenchmarkTypes), quoted_list(kClBenchmarkTypes));

  Task task;
  task.source = "cl_benchmark:" + dir.string();
  task.name = folder.filename().string();
  task.type = TaskType::Classification;
  task.task_type_tag = type;
  task.instruction = cl_benchmark_instruction(type);
  task.metric = "accuracy";
  task.prompt_style = PromptStyle::OLoRA;
  task.list_options = type != "COPA";  // O-LoRA's load_COPA_dataset: "{sentence}\nAnswer:", no options
  const fs::path labels_file = dir / "labels.json";
  task.labels = read_label_list(read_json_file(labels_file, kComponent), labels_file.string());

  for (const char* required : {"train.json", "test.json"})
    if (!fs::is_regular_file(dir / required))
      fail(kComponent, "{}: missing {} (a CL_Benchmark dataset folder holds labels.json, train.json, test.json, optional dev.json)",
           dir.string(), required);
  auto check = [&](const Example& example, const std::string& where) {
    check_label(example.output, task.labels, where, labels_file.string());
  };
  // MNLI's dev/test in the O-LoRA release hold examples labelled "-" (no annotator consensus: no gold
  // label; GLUE leaves them out). They cannot be scored, so they are skipped and noted; O-LoRA kept
  // them (always scored wrong). Any other label outside labels.json is an error.
  auto unlabelled = [&](const Example& example) {
    return example.output == "-" && std::find(task.labels.begin(), task.labels.end(), "-") == task.labels.end();
  };
  auto read_split = [&](const char* file_name) {
    size_t skipped = 0;
    auto split = read_json_list_split(dir / file_name, "sentence", "label", check, "", unlabelled, &skipped);
    if (skipped > 0)
      task.notes.push_back(fmt::format("{}: skipped {} examples labelled \"-\" (no gold label)", file_name, skipped));
    return split;
  };
  task.train = read_split("train.json");
  if (fs::is_regular_file(dir / "dev.json")) task.dev = read_split("dev.json");
  task.test = read_split("test.json");
  return task;
}

Task load_trace_task(const fs::path& dir) {
  Task task;
  task.source = "trace:" + dir.string();
  task.name = folder_name(dir);
  task.type = TaskType::Generation;
  task.prompt_style = PromptStyle::Plain;
  task.task_type_tag = task.name;
  task.metric = "rouge_l";  // an unknown TRACE-style task: scored like the other generation tasks
  for (const auto& [name, metric] : kTraceMetrics)
    if (lower(name) == lower(task.name)) task.metric = metric;

  for (const char* required : {"train.json", "test.json"})
    if (!fs::is_regular_file(dir / required))
      fail(kComponent, "{}: missing {} (a TRACE task folder holds train.json, test.json, optional eval.json)", dir.string(),
           required);
  const std::string hint =
      "; a TRACE split is a list of {\"prompt\", \"answer\"} (a list of {\"sentence\", \"label\"} is an O-LoRA "
      "CL_Benchmark split, which also needs labels.json)";
  task.train = read_json_list_split(dir / "train.json", "prompt", "answer", nullptr, hint);
  if (fs::is_regular_file(dir / "eval.json")) task.dev = read_json_list_split(dir / "eval.json", "prompt", "answer", nullptr, hint);
  task.test = read_json_list_split(dir / "test.json", "prompt", "answer", nullptr, hint);
  return task;
}

Task load_task(const fs::path& path) {
  if (!fs::exists(path)) fail(kComponent, "{}: no such file or folder (expected a task folder)", path.string());
  fs::path dir = path;
  if (fs::is_regular_file(path)) {
    if (path.filename() != "task.json")
      fail(kComponent, "{}: expected a task folder (or its task.json), found a file; a task is {}", path.string(),
           describe_layouts());
    dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  }
  if (fs::is_regular_file(dir / "task.json")) return load_retain_task(dir);
  if (fs::is_regular_file(dir / "labels.json")) return load_cl_benchmark_task(dir);
  if (fs::is_regular_file(dir / "train.json")) return load_trace_task(dir);
  if (fs::is_regular_file(dir / "train.jsonl")) return load_retain_task(dir);  // fails: says what task.json holds
  fail(kComponent, "{}: not a task folder: found none of task.json, labels.json, train.json. Expected {}", dir.string(),
       describe_layouts());
}

std::vector<std::string> benchmark_order(int order) {
  // Orders 1–3 (standard, 4 tasks) and 4 (long, 15 tasks): O-LoRA paper, methods.md §0; orders 1–3
  // also match the O-LoRA repo's scripts/order_{1,2,3}.sh.
  // Order 5: O-LoRA paper's table of orders (from Progressive Prompts), as in a public O-LoRA
  //          reproduction script ("multirc -> boolqa -> wic -> mnli -> ... -> yahoo").
  // Order 6: the O-LoRA repo's scripts/long.sh (yelp -> amazon -> MNLI -> ... -> WiC).
  switch (order) {
    case 1: return {"dbpedia", "amazon", "yahoo", "agnews"};
    case 2: return {"dbpedia", "amazon", "agnews", "yahoo"};
    case 3: return {"yahoo", "amazon", "agnews", "dbpedia"};
    case 4:
      return {"MNLI", "CB", "WiC", "COPA", "QQP", "BoolQA", "RTE", "IMDB",
              "yelp", "amazon", "SST-2", "dbpedia", "agnews", "MultiRC", "yahoo"};
    case 5:
      return {"MultiRC", "BoolQA", "WiC", "MNLI", "CB", "COPA", "QQP", "RTE",
              "IMDB", "SST-2", "dbpedia", "agnews", "yelp", "amazon", "yahoo"};
    case 6:
      return {"yelp", "amazon", "MNLI", "CB", "COPA", "QQP", "RTE", "IMDB",
              "SST-2", "dbpedia", "agnews", "yahoo", "MultiRC", "BoolQA", "WiC"};
    default:
      fail(kComponent, "unknown benchmark order {} (the O-LoRA orders are 1, 2, 3: standard benchmark, 4 tasks; "
                       "4, 5, 6: long benchmark, 15 tasks)", order);
  }
}

std::string cl_benchmark_folder(const std::string& dataset) {
  std::vector<std::string> names;
  for (const auto& [name, type] : kClBenchmarkDatasets) {
    if (lower(name) == lower(dataset)) return type + "/" + name;
    names.push_back(name);
  }
  fail(kComponent, "unknown CL_Benchmark dataset \"{}\"{} (known: {})", dataset, did_you_mean(dataset, names),
       quoted_list(names));
}

std::vector<Task> load_benchmark(const fs::path& benchmark_dir, int order) {
  const auto names = benchmark_order(order);
  if (!fs::is_directory(benchmark_dir)) fail(kComponent, "{}: benchmark folder does not exist", benchmark_dir.string());
  const fs::path root = fs::is_directory(benchmark_dir / "CL_Benchmark") ? benchmark_dir / "CL_Benchmark" : benchmark_dir;
  std::vector<std::string> missing;
  for (const auto& name : names)
    if (!fs::is_regular_file(root / cl_benchmark_folder(name) / "labels.json")) missing.push_back(cl_benchmark_folder(name));
  if (!missing.empty())
    fail(kComponent, "{}: order {} needs the CL_Benchmark datasets {}; missing (no labels.json): {}", root.string(), order,
         fmt::join(names, " → "), fmt::join(missing, ", "));
  std::vector<Task> tasks;
  for (const auto& name : names) tasks.push_back(load_cl_benchmark_task(root / cl_benchmark_folder(name)));
  return tasks;
}

}  // namespace retain
