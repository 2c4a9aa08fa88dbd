// retain/serve/metrics.h — the server's counters, in Prometheus' text format (GET /metrics).
//
// Names follow vLLM's where it has one, under the prefix "retain:" (vLLM: "vllm:"):
// num_requests_running / num_requests_waiting (gauges), prompt_tokens_total,
// generation_tokens_total, request_success_total{finished_reason}, time_to_first_token_seconds,
// inter_token_latency_seconds and e2e_request_latency_seconds (histograms), plus retain's own
// routed_requests_total{task, routed_by}: where the router (or the request) sent each sequence.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace retain::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double value);
  /// Prometheus lines for `name` (the _bucket, _sum and _count series) with `labels` ("" or `k="v"`).
  std::string render(const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  explicit Metrics(std::string model_name);
  void add_prompt_tokens(int64_t n);
  void add_generation_tokens(int64_t n);
  void finished(const std::string& reason);
  void routed(const std::string& task, const std::string& routed_by);
  void time_to_first_token(double seconds);
  void inter_token_latency(double seconds);
  void e2e_latency(double seconds);
  /// The whole exposition, with the current gauges.
  std::string render(int64_t running, int64_t waiting) const;

 private:
  mutable std::mutex mutex_;
  std::string labels_;  // model_name="..."
  uint64_t prompt_tokens_ = 0, generation_tokens_ = 0;
  std::map<std::string, uint64_t> finished_;
  std::map<std::pair<std::string, std::string>, uint64_t> routed_;
  Histogram ttft_, itl_, e2e_;
};

}  // namespace retain::serve
