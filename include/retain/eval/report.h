// retain/eval/report.h — one self-contained HTML page that shows a run folder (eval/results.h):
//
//   1. the run: model, task sequence, methods, seed, date, retain version, scoring, and which methods
//      use privileged information (methods.md §0: the oracle pertask, mtl's joint training, replay's
//      stored examples);
//   2. the comparison table (AA, BWT, FWT, forgetting, routing accuracy, trainable parameters, time),
//      the same numbers as summary.json, the best value of each column marked;
//   3. AA and BWT per method as grouped bars;
//   4. each method's accuracy matrix as a heatmap (rows: base model and after task j; columns: tasks);
//   5. each task's accuracy across stages, one line per method;
//   6. each method's training loss over the whole sequence, task boundaries marked.
//
// Inline CSS and SVG only (svg_chart.h): no script, font or network access, readable offline and
// printable. The page is well-formed XHTML as well as HTML5, so an XML parser can check it. Every
// chart is <svg class="chart" data-chart="aa-bwt | heatmap | task-curve | loss">, with data-method
// or data-task naming what it shows.
#pragma once

#include "retain/core/json.h"
#include "retain/eval/results.h"

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace retain {

/// A run folder as the report sees it, read strictly by read_run_report.
struct RunReport {
  std::filesystem::path dir;
  std::string model;                   // config.json "model"
  std::vector<std::string> tasks;      // config.json "tasks"[].name, in training order
  std::vector<std::string> planned;    // config.json "methods": those asked for, finished or not
  int64_t seed = 0;                    // config.json "run"."seed"
  std::string retain_version;          // config.json "retain_version": the version that ran
  std::string date;                    // when summary.json was last written, "YYYY-MM-DD HH:MM UTC"
  std::vector<MethodResults> methods;  // finished methods, in summary.json's order
  /// Per method (same order), the lines of metrics.jsonl; nullopt when the folder has none. A loss
  /// written as null (non-finite during training) is NaN here.
  std::vector<std::optional<std::vector<StepRecord>>> logs;
};

/// Reads RUN_DIR/config.json, RUN_DIR/summary.json, every RUN_DIR/<method>/results.json that
/// summary.json names (read_results_json: strict) and, when present, RUN_DIR/<method>/metrics.jsonl.
/// Throws "[report] FILE: ..." naming the file and key on anything missing or malformed, and when the
/// files disagree: summary.json numbers that differ from the results' (more than 1e-9), a results
/// file for another method or another task sequence than config.json's.
RunReport read_run_report(const std::filesystem::path& run_dir);

/// The records of a metrics.jsonl (MetricsLog). Each line needs "task" (one of `tasks`) and "loss"
/// (a number, or null for a non-finite loss); "epoch", "step", "lr" and "tokens_per_s" are read when
/// present. Errors name FILE:LINE and the key.
std::vector<StepRecord> read_metrics_log(const std::filesystem::path& path, const std::vector<std::string>& tasks);

/// A training-loss curve cut to at most `max_points` points for drawing: consecutive steps of the
/// same task are averaged in buckets of ceil(steps / max_points) (buckets never span two tasks;
/// NaN losses are left out of the mean, and a bucket of NaNs only is a gap).
struct LossCurve {
  std::vector<double> step;                                 // x: mean global step of the bucket, counted from 1
  std::vector<std::optional<double>> loss;                  // y: mean loss of the bucket
  std::vector<std::pair<double, std::string>> task_starts;  // global step where each task's first line is
  size_t bucket = 1;                                        // steps per point
  size_t steps = 0;                                         // lines in the log
};
LossCurve loss_curve(const std::vector<StepRecord>& log, size_t max_points = 400);

/// What privileged information a method uses, for a label, or "" for none: "oracle" when the results'
/// config says "oracle": true (task id at test time), "upper bound" for mtl (joint training on every
/// task seen so far), "stores data" for replay (keeps earlier tasks' examples).
std::string privileged_label(const MethodResults& results);

/// read_run_report + render_report_html, written atomically to `out` (default RUN_DIR/report.html):
/// when reading or rendering fails, an existing report is left as it was. Returns the path written.
std::filesystem::path write_run_report(const std::filesystem::path& run_dir, const std::filesystem::path& out = {});

}  // namespace retain
