#include "retain/serve/metrics.h"

#include <fmt/format.h>

namespace retain::serve {

namespace {

/// A label value with \, " and newlines escaped (Prometheus text format).
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string join_labels(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "," + b;
}

}  // namespace

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{}}} {}\n", name, join_labels(labels, fmt::format("le=\"{}\"", bounds_[i])), cumulative);
  }
  out += fmt::format("{}_bucket{{{}}} {}\n", name, join_labels(labels, "le=\"+Inf\""), count_);
  out += fmt::format("{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, sum_, name, labels, count_);
  return out;
}

Metrics::Metrics(std::string model_name)
    : labels_(fmt::format("model_name=\"{}\"", escape(model_name))),
      ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0}),
      itl_({0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0}),
      e2e_({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0}) {}

void Metrics::add_prompt_tokens(int64_t n) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(n);
}
void Metrics::add_generation_tokens(int64_t n) {
  std::lock_guard lock(mutex_);
  generation_tokens_ += static_cast<uint64_t>(n);
}
void Metrics::finished(const std::string& reason) {
  std::lock_guard lock(mutex_);
  ++finished_[reason];
}
void Metrics::routed(const std::string& task, const std::string& routed_by) {
  std::lock_guard lock(mutex_);
  ++routed_[{task, routed_by}];
}
void Metrics::time_to_first_token(double s) {
  std::lock_guard lock(mutex_);
  ttft_.observe(s);
}
void Metrics::inter_token_latency(double s) {
  std::lock_guard lock(mutex_);
  itl_.observe(s);
}
void Metrics::e2e_latency(double s) {
  std::lock_guard lock(mutex_);
  e2e_.observe(s);
}

std::string Metrics::render(int64_t running, int64_t waiting) const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    out += fmt::format("# HELP retain:{} {}\n# TYPE retain:{} gauge\nretain:{}{{{}}} {}\n", name, help, name, name, labels_, v);
  };
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += fmt::format("# HELP retain:{} {}\n# TYPE retain:{} counter\nretain:{}{{{}}} {}\n", name, help, name, name, labels_, v);
  };
  gauge("num_requests_running", "Sequences in the running batch.", running);
  gauge("num_requests_waiting", "Sequences waiting to join the batch.", waiting);
  counter("prompt_tokens_total", "Prefill tokens processed.", prompt_tokens_);
  counter("generation_tokens_total", "Tokens generated.", generation_tokens_);
  out += "# HELP retain:request_success_total Sequences finished, by finish reason.\n# TYPE retain:request_success_total counter\n";
  for (const auto& [reason, n] : finished_)
    out += fmt::format("retain:request_success_total{{{}}} {}\n", join_labels(labels_, fmt::format("finished_reason=\"{}\"", escape(reason))), n);
  out += "# HELP retain:routed_requests_total Sequences by the task they were routed to.\n# TYPE retain:routed_requests_total counter\n";
  for (const auto& [key, n] : routed_)
    out += fmt::format("retain:routed_requests_total{{{}}} {}\n",
                       join_labels(labels_, fmt::format("task=\"{}\",routed_by=\"{}\"", escape(key.first), escape(key.second))), n);
  auto histogram = [&](const char* name, const char* help, const Histogram& h) {
    out += fmt::format("# HELP retain:{} {}\n# TYPE retain:{} histogram\n", name, help, name);
    out += h.render(fmt::format("retain:{}", name), labels_);
  };
  histogram("time_to_first_token_seconds", "Time from arrival to the first generated token.", ttft_);
  histogram("inter_token_latency_seconds", "Time between two generated tokens of a sequence.", itl_);
  histogram("e2e_request_latency_seconds", "Time from arrival to the last token.", e2e_);
  return out;
}

}  // namespace retain::serve
