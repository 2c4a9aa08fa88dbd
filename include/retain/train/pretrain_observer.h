// retain/train/pretrain_observer.h — what pretrain() reports while it runs, and the two observers
// it comes with: the metrics file (data for machines) and progress lines (for people).
#pragma once

#include "retain/train/trainer.h"

#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iosfwd>
#include <string>

namespace retain {

/// A held-out evaluation, after `step` optimizer steps of `total_steps`.
struct PretrainEvaluation {
  int64_t step = 0;
  int64_t total_steps = 0;
  double train_loss = 0;  // mean training loss of the steps since the previous evaluation
  double eval_loss = 0;   // mean per held-out token; NaN without a held-out split
};

/// Progress of a pretraining run. Every hook does nothing unless overridden.
class PretrainObserver {
 public:
  virtual ~PretrainObserver() = default;
  /// Training starts after `steps_done` of `total_steps` steps (0, or the checkpoint's on --resume).
  virtual void on_start(int64_t /*steps_done*/, int64_t /*total_steps*/) {}
  /// After every optimizer step, the trainer's record (train/trainer.h): task_index 0, `epoch` the
  /// data epoch of the step's first window, `tokens` batch_size · seq_len, `seconds` the step's wall time.
  virtual void on_step(const StepInfo& /*step*/) {}
  virtual void on_evaluation(const PretrainEvaluation& /*evaluation*/) {}
  /// A line for people: the token cache used or written, where a resumed run starts.
  virtual void on_note(const std::string& /*line*/) {}
};

/// OUT/metrics.jsonl: {"step", "loss", "lr", "grad_norm", "tokens_per_s"} after every step and
/// {"step", "eval_loss", "eval_perplexity"} after every evaluation ("step": steps done; null for a
/// value that is not finite), flushed as written. On start it keeps the records of the steps done
/// (a resumed run's) and drops any later ones.
class PretrainMetricsFile : public PretrainObserver {
 public:
  explicit PretrainMetricsFile(std::filesystem::path path);
  void on_start(int64_t steps_done, int64_t total_steps) override;
  void on_step(const StepInfo& step) override;
  void on_evaluation(const PretrainEvaluation& evaluation) override;

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

/// Progress lines on `out` (stderr in the CLI): every `log_every` steps and after the last one, the
/// mean loss of the last `log_every` steps, the lr, the gradient norm and tokens/s since the previous
/// line; every finite held-out loss with its perplexity; notes, prefixed "retain pretrain: ".
class PretrainProgressPrinter : public PretrainObserver {
 public:
  PretrainProgressPrinter(std::ostream& out, int64_t log_every);
  void on_step(const StepInfo& step) override;
  void on_evaluation(const PretrainEvaluation& evaluation) override;
  void on_note(const std::string& line) override;

 private:
  std::ostream& out_;
  int64_t log_every_;
  std::deque<double> tail_;  // the last log_every losses
  int64_t tokens_ = 0;       // since the previous line
  double seconds_ = 0;
};

}  // namespace retain
