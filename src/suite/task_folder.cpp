#include "task_folder.h"

#include "retain/core/files.h"

#include <map>
#include <ostream>
#include <set>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";

json split_json(const std::vector<SuiteItem>& items, const TaskDraft& draft) {
  json counts = json::object();
  std::map<std::string, size_t> per_label;
  std::set<std::string> groups;
  for (const auto& item : items) {
    ++per_label[item.output];
    groups.insert(item.group);
  }
  counts["examples"] = items.size();
  counts["groups"] = groups.size();
  if (!draft.generation) {
    json labels = json::object();
    for (const auto& label : draft.labels) labels[label] = per_label[label];
    counts["per_label"] = labels;
  }
  return counts;
}

void write_jsonl(const fs::path& path, const std::vector<SuiteItem>& items) {
  write_file_atomic(
      path,
      [&](std::ostream& out) {
        for (const auto& item : items) out << json{{"input", item.input}, {"output", item.output}}.dump() << '\n';
      },
      kComponent);
}

}  // namespace

json write_task_folder(const fs::path& dir, const TaskDraft& draft, const TaskSplits& splits) {
  fs::create_directories(dir);
  json task_json = {{"name", draft.name}, {"type", draft.generation ? "generation" : "classification"}};
  if (!draft.generation) task_json["labels"] = draft.labels;
  task_json["instruction"] = draft.instruction;
  task_json["metric"] = draft.generation ? "rouge_l" : "accuracy";
  task_json["prompt"] = draft.generation ? "plain" : "olora";
  if (!draft.generation) task_json["task_tag"] = draft.task_tag;
  write_file_atomic(dir / "task.json", task_json.dump(2) + "\n", kComponent);
  write_jsonl(dir / "train.jsonl", splits.train);
  if (!splits.dev.empty()) write_jsonl(dir / "dev.jsonl", splits.dev);
  write_jsonl(dir / "test.jsonl", splits.test);
  json entry = {{"name", draft.name},
                {"type", task_json["type"]},
                {"group", draft.group_rule},
                {"leakage_stripped", draft.leakage},
                {"source_items", draft.items.size()},
                {"duplicates_dropped", splits.duplicates_dropped},
                {"train", split_json(splits.train, draft)},
                {"dev", split_json(splits.dev, draft)},
                {"test", split_json(splits.test, draft)}};
  if (!draft.generation) entry["labels"] = draft.labels;
  return entry;
}

}  // namespace retain::suite
