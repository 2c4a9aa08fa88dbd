// retain/train/adapter_checkpoint.h — the checkpoint of an adapter-only method (seqlora, inclora,
// olora, inflora): its PEFT adapter folders, and adapters.json, which says what they are.
//
//   adapters.json  {"format": "retain.adapters/1", "method": "inclora",
//                   "tasks": [the tasks trained so far, in order], "adapters": ["task0", "task1"]}
//
// These methods have no router and are told no task at test time: every listed adapter is applied
// to every input, summed (y = x Wᵀ + b + Σ_a s_a B_a A_a x), which is what their own evaluation
// runs. seqlora lists its one adapter ("adapter"), trained on every task in turn; inclora and olora
// one per task ("task<t>", earlier ones frozen); inflora the same, with A_t fixed.
#pragma once

#include "retain/model/causal_lm.h"

#include <filesystem>
#include <string>
#include <vector>

namespace retain {

struct AdapterCheckpoint {
  std::string method;                 // "seqlora", "inclora", "olora", "inflora"
  std::vector<std::string> tasks;     // the tasks trained so far, in training order
  std::vector<std::string> adapters;  // PEFT folders in the checkpoint folder, all summed in the forward
};

inline constexpr const char* kAdapterManifest = "adapters.json";

/// Writes DIR/adapters.json (atomically; creates DIR).
void write_adapter_manifest(const std::filesystem::path& dir, const AdapterCheckpoint& checkpoint);

/// Reads and checks DIR/adapters.json: the format, a method, at least one task and one adapter, each
/// adapter a plain folder name that exists in DIR. Errors name the file and the key.
AdapterCheckpoint read_adapter_manifest(const std::filesystem::path& dir);

/// Attaches every adapter of the checkpoint in DIR to `model` under its folder name, enabled: the
/// model then runs as the method's own inference (load_peft_adapter's strict checks). Returns the
/// manifest.
AdapterCheckpoint load_adapter_checkpoint(CausalLM& model, const std::filesystem::path& dir);

}  // namespace retain
