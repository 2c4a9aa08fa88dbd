#include "retain/train/pretrain_observer.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/json.h"

#include <cmath>
#include <numeric>
#include <ostream>
#include <sstream>

namespace retain {

namespace {

constexpr const char* kComponent = "pretrain";

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

PretrainMetricsFile::PretrainMetricsFile(std::filesystem::path path) : path_(std::move(path)) {}

void PretrainMetricsFile::on_start(int64_t steps_done, int64_t) {
  std::string kept;
  if (steps_done > 0 && std::filesystem::exists(path_)) {
    std::istringstream lines(read_file(path_, kComponent));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      const json record = json::parse(line, nullptr, false);
      if (!record.is_discarded() && record.value("step", int64_t{-1}) <= steps_done) kept += line + "\n";
    }
  }
  write_file_atomic(path_, kept, kComponent);
  out_.open(path_, std::ios::app);
  RETAIN_CHECK(out_.good(), kComponent, "{}: cannot append to the metrics file", path_.string());
}

void PretrainMetricsFile::on_step(const StepInfo& s) {
  out_ << json{{"step", s.step + 1},
               {"loss", s.loss},
               {"lr", s.lr},
               {"grad_norm", s.grad_norm},
               {"tokens_per_s", static_cast<double>(s.tokens) / std::max(s.seconds, 1e-9)}}
              .dump()
       << '\n';
  out_.flush();
}

void PretrainMetricsFile::on_evaluation(const PretrainEvaluation& e) {
  out_ << json{{"step", e.step},
               {"eval_loss", finite_or_null(e.eval_loss)},
               {"eval_perplexity", finite_or_null(std::exp(e.eval_loss))}}
              .dump()
       << '\n';
  out_.flush();
}

PretrainProgressPrinter::PretrainProgressPrinter(std::ostream& out, int64_t log_every)
    : out_(out), log_every_(log_every) {
  RETAIN_CHECK(log_every >= 1, kComponent, "--log-every must be at least 1, got {}", log_every);
}

void PretrainProgressPrinter::on_step(const StepInfo& s) {
  tail_.push_back(s.loss);
  if (static_cast<int64_t>(tail_.size()) > log_every_) tail_.pop_front();
  tokens_ += s.tokens;
  seconds_ += s.seconds;
  const int64_t done = s.step + 1;
  if (done % log_every_ != 0 && done != s.total_steps) return;
  const double mean = std::accumulate(tail_.begin(), tail_.end(), 0.0) / static_cast<double>(tail_.size());
  out_ << fmt::format("step {:>6}/{}  loss {:.4f}  lr {:.2e}  grad {:.2f}  {:.0f} tok/s\n", done, s.total_steps, mean,
                      s.lr, s.grad_norm, static_cast<double>(tokens_) / std::max(seconds_, 1e-9));
  tokens_ = 0;
  seconds_ = 0;
}

void PretrainProgressPrinter::on_evaluation(const PretrainEvaluation& e) {
  if (std::isfinite(e.eval_loss))
    out_ << fmt::format("step {:>6}/{}  held-out loss {:.4f}  perplexity {:.2f}\n", e.step, e.total_steps, e.eval_loss,
                        std::exp(e.eval_loss));
}

void PretrainProgressPrinter::on_note(const std::string& line) { out_ << "retain pretrain: " << line << '\n'; }

}  // namespace retain
