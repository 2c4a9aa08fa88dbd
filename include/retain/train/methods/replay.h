// retain/train/methods/replay.h — experience replay on full fine-tuning (methods.md §1, `replay`).
//
// SeqFT plus a buffer of earlier tasks' tokenized training examples. Task t trains on its own train
// split followed by the whole buffer (the loop's seeded shuffling mixes them into batches); only
// earlier tasks are in the buffer, since it is filled after each task.
//
// Buffer policy (our design). After task t, with n_t examples in its train split:
//   * quota q_t = max(1, round(share · n_t)) (share 0: q_t = 0, the method is SeqFT), at most n_t;
//   * the q_t examples are a uniform random q_t-subset of the split, drawn by Vitter's algorithm R
//     (a reservoir of size q_t over the split in order), with std::mt19937_64 seeded through
//     seeded_rng({run.seed, t}) (core/random.h) and unbiased rejection sampling (same buffer on every platform);
//   * every task keeps its own entries: later tasks never evict earlier ones, so the buffer holds
//     the configured share of each task seen (share 0.02: 2 of 100, 1 of 50);
//   * capacity > 0 caps the whole buffer: while it holds more, one entry is dropped from the task
//     that holds the most (ties: the latest such task), chosen uniformly among that task's entries
//     (same RNG). The tasks' shares thus shrink towards an equal split of the capacity.
// Entries are stored per task in the order of their index in the split.
#pragma once

#include "retain/train/methods/baselines.h"

namespace retain {

struct ReplaySettings {
  double share = 0.02;
  int64_t capacity = 0;

  template <class V>
  void visit(V& v) {
    v("share", share, "share of each task's train split kept for replay (at least 1 example; 0: none)");
    v("capacity", capacity, "most examples in the buffer over all tasks (0: no limit)");
  }
  /// Throws for share outside [0, 1] or a negative capacity.
  void validate(const std::string& where = "method.replay") const;
};

class Replay : public SeqFT {
 public:
  /// One buffered example: which task, which example of its train split, and its ids.
  struct Entry {
    int64_t task_index = 0;
    int64_t example_index = 0;
    TokenizedExample example;
  };

  explicit Replay(ReplaySettings settings);
  std::string name() const override { return "replay"; }
  std::vector<TokenizedExample> training_examples(TaskContext& ctx) override;
  void on_task_end(TaskContext& ctx) override;
  void save(RunContext& run, const std::filesystem::path& dir) override;
  /// The buffer as (task, example) indices: the ids are re-read from the tokenized train splits.
  MethodState state(RunContext& run) override;
  void load_state(RunContext& run, int64_t tasks_done, const MethodState& state) override;

  /// The buffer, grouped by task in training order.
  const std::vector<Entry>& buffer() const { return buffer_; }
  /// Quota of a task with n train examples: max(1, round(share · n)), at most n; 0 when share is 0.
  int64_t quota(int64_t n) const;

 private:
  ReplaySettings settings_;
  std::vector<Entry> buffer_;
};

}  // namespace retain
