// retain/suite/task_draft.h — a suite task's examples as a task builder returns them, before they
// are cleaned, split and capped (split.h).
#pragma once

#include <string>
#include <vector>

namespace retain::suite {

/// One example before it is written: `group` decides its split.
struct SuiteItem {
  std::string input;
  std::string output;
  std::string group;
};

/// A task's examples before splitting, with what the manifest says about it.
struct TaskDraft {
  std::string name;
  bool generation = false;
  std::vector<std::string> labels;  // classification: in option order
  std::string instruction;          // ends with "\n"
  std::string task_tag;             // O-LoRA "Task:" line ("TC", "SC", ...); generation: unused
  std::string group_rule;           // what a group is, for the manifest
  std::string leakage;              // what was stripped, for the manifest
  std::vector<SuiteItem> items;
};

}  // namespace retain::suite
