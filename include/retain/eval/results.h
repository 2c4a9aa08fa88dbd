// retain/eval/results.h — the files a run leaves behind, and the comparison table on the terminal.
//
//   DIR/<method>/results.json   MethodResults (format below), written atomically
//   DIR/<method>/matrix.csv     the accuracy matrix as a table, written atomically
//   DIR/<method>/metrics.jsonl  training log, one JSON object per line (MetricsLog, appended)
//   DIR/summary.json            {"methods": {name: {"AA", "BWT", "FWT", "forgetting"}}}
//
// Units: every score, metric and routing accuracy in a file is a fraction in [0, 1] (BWT and FWT in
// [−1, 1]); only format_comparison_table prints percentages. A metric that is undefined (BWT, FWT and
// forgetting for a single task; routing accuracy of a task not yet seen) is JSON null.
//
// results.json, keys in this order:
//   {"method": "olora", "tasks": ["dbpedia", "amazon"], "matrix": [[..T..], ..T+1 rows..],
//    "metrics": {"AA": 0.7, "BWT": -0.1, "FWT": 0.0, "forgetting": 0.1},
//    "routing_accuracy": null | [[1.0, null], [0.98, 0.99]]  (T rows: row j = after task j + 1),
//    "scoring": "generate" | "rank", "seconds": 12.5, "trainable_params": 8192, "total_params": 1000000,
//    "config": {...resolved configuration...},
//    "experts": [{...}, ..T objects..],  (only for methods that report it: seta's entries per task)
//    "general_loss": [..T + 1 values..],  (only with a general text: its LM loss in nats per token,
//                                          row 0 = base model, row j = after task j; null where the
//                                          model diverged (NaN in memory); eval.general_text)
//    "sweep": {...}}  (only in sweeps. A candidate's own results: {"dev_scores": [..T..], "dev_aa"};
//             the chosen one's, train/sweep.h: {"key": "optim.lr", "values": [...], "dev_aa": [...],
//             "dev_scores": [[..T..] per value], "chosen": value, "chosen_index": k,
//             "dev": [per task: "dev split" | "<share> of train (n examples)"]})
#pragma once

#include "retain/core/json.h"
#include "retain/eval/metrics.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace retain {

using ordered_json = nlohmann::ordered_json;

/// How classification answers were scored: greedy generation + normalised exact match, or ranking
/// the label strings by log-likelihood.
enum class Scoring { Generate, Rank };

/// "generate" | "rank"; throws naming the accepted values.
Scoring parse_scoring(const std::string& name);
std::string to_string(Scoring scoring);

/// routing[j][i] = share of task i's test examples that the router sent to task i, after training
/// task j (both 0-based; T × T). Entries with i > j (task not yet seen) are std::nullopt, all others
/// are fractions in [0, 1].
using RoutingMatrix = std::vector<std::vector<std::optional<double>>>;

/// Everything results.json holds for one method. The metrics are not stored: they are always
/// computed from the matrix (metrics()), so the two cannot disagree.
struct MethodResults {
  std::string method;  // a folder name: non-empty, no '/', '\\', not "." or ".."
  AccuracyMatrix matrix;
  std::optional<RoutingMatrix> routing_accuracy;
  Scoring scoring = Scoring::Generate;
  double seconds = 0;
  int64_t trainable_params = 0;
  int64_t total_params = 0;
  json config = json::object();
  std::optional<json> experts;  // per task, one object (seta: unique and shared entries); absent: none
  std::optional<std::vector<double>> general_loss;  // T + 1 finite values ≥ 0; absent: no general text
  std::optional<json> sweep;  // the candidates and their dev scores; absent: not a sweep

  TransferMetrics metrics() const { return compute_metrics(matrix); }
  /// Throws "[results] ..." on a bad method name, matrix, routing shape, negative counts or times,
  /// trainable_params > total_params, a config that is not an object, experts that are not one
  /// object per task, general_loss without T + 1 finite non-negative values, or a sweep that is not
  /// an object.
  void validate() const;
  /// The results.json object, keys in the documented order.
  ordered_json to_json() const;
  /// Strict reading: every key present with the right type and shape, no unknown keys, and the stored
  /// metrics equal to those recomputed from the matrix (within 1e-9: JSON numbers round-trip exactly,
  /// so only a hand-edited or foreign file differs). Errors name `where` and the key.
  static MethodResults from_json(const json& value, const std::string& where = "results.json");
};

/// The four metrics as {"AA", "BWT", "FWT", "forgetting"} (null for undefined ones).
ordered_json metrics_to_json(const TransferMetrics& metrics);

/// results.json text: to_json() indented by 2, with a final newline.
std::string results_json_text(const MethodResults& results);
void write_results_json(const std::filesystem::path& path, const MethodResults& results);
MethodResults read_results_json(const std::filesystem::path& path);

/// matrix.csv text: header "stage,<task names...>", then "before,..." and "after_<task>,..." rows;
/// values as fractions in the shortest form that reads back exactly; RFC 4180 quoting of fields with
/// a comma, quote or line break; "\n" line ends.
std::string matrix_csv(const AccuracyMatrix& matrix);
void write_matrix_csv(const std::filesystem::path& path, const AccuracyMatrix& matrix);

/// Creates RUN_DIR/<method>/ and writes results.json and matrix.csv there; returns that folder.
std::filesystem::path write_method_outputs(const std::filesystem::path& run_dir, const MethodResults& results);

/// {"methods": {name: {"AA", "BWT", "FWT", "forgetting"}}}, methods in the given order; throws on a
/// method name given twice.
ordered_json summary_json(const std::vector<MethodResults>& results);
void write_summary(const std::filesystem::path& path, const std::vector<MethodResults>& results);

/// One line of metrics.jsonl written by the trainer.
struct StepRecord {
  std::string task;
  int64_t epoch = 0;
  int64_t step = 0;
  double loss = 0;
  double lr = 0;
  double tokens_per_s = 0;
  ordered_json to_json() const;  // {"task", "epoch", "step", "loss", "lr", "tokens_per_s"}
};

/// An append-only JSONL log (the training curve). Not written atomically, being a log: the file is
/// opened in append mode, so earlier lines (an interrupted run's) are kept, and every line is flushed
/// as it is written, so a crash loses at most the line being written. Non-finite numbers are written
/// as null (JSON has no NaN); invalid UTF-8 in strings is replaced by U+FFFD.
class MetricsLog {
 public:
  /// Opens (creating if needed) `path` for appending; its folder must exist.
  explicit MetricsLog(std::filesystem::path path);
  /// Writes `record` (a JSON object) as one line and flushes.
  void append(const json& record);
  void append(const ordered_json& record);
  void append(const StepRecord& record) { append(record.to_json()); }
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_line(const std::string& line);
  std::filesystem::path path_;
  std::ofstream out_;
};

/// A fixed-width text table for the terminal, one row per method in the given order:
///   method  AA  BWT  FWT  forgetting  [LM loss Δ]  trainable  seconds
/// (LM loss Δ, the general text's loss after the last task minus before the first, only when some
/// method has a general_loss; "—" for one that has none)
/// scores as percentages with one decimal ("—" for an undefined metric), trainable parameters
/// abbreviated (K, M, B; 3 significant digits) with their share of all parameters, seconds with one
/// decimal. Method names left-aligned, numbers right-aligned, columns two spaces apart; each line
/// ends with "\n".
std::string format_comparison_table(const std::vector<MethodResults>& results);

/// A count in 3 significant digits with a K, M, B or T suffix ("950", "1.23K", "12.3M", "123B").
std::string abbreviate_count(int64_t n);

}  // namespace retain
