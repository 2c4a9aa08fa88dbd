// retain/serve/batch_engine.h — continuous batching: one scheduler thread runs the model for every
// sequence of every request.
//
// Each iteration of the scheduler:
//   1. admits waiting sequences while the batch has room (max_batch): their prompts are prefilled
//      together in one left-padded pass with a fresh KV cache (routed per sample: served_model.h), and
//      the first token of each is chosen;
//   2. merges them into the running batch: both KV caches are re-laid out left-padded to a common
//      length, so positions (from the attention mask) and keys stay each sequence's own;
//   3. runs one decode step for the whole batch, every row with its own adapter and sampling
//      settings (temperature, top_p, top_k, its own seeded generator);
//   4. drops finished and cancelled rows at once (their KV cache with them) and trims the columns no
//      remaining row uses.
// So new requests join at decode-step boundaries, prefill interleaves with decode, one batch mixes
// tasks, and a greedy sequence gives the same tokens in any batch as alone (up to float rounding of
// batched matrix products).
//
// Stops: EOS (config.json and generation_config.json), max_tokens, and stop strings, matched on the
// decoded text so that a stop split across tokens is found; the text is cut before it. Text a stop
// string might still complete, and a trailing incomplete UTF-8 character, are held back from
// streaming until they are settled.
#pragma once

#include "retain/model/generation.h"
#include "retain/model/kv_cache.h"
#include "retain/serve/metrics.h"
#include "retain/serve/openai_api.h"
#include "retain/serve/served_model.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace retain::serve {

struct SequenceParams {
  std::vector<int64_t> prompt;
  int64_t max_tokens = 16;
  GenerationOptions sampling;  // do_sample, temperature, top_p, top_k, seed (max_new_tokens unused)
  std::vector<std::string> stop;
  int64_t top_logprobs = -1;   // -1: no logprobs; 0..5 alternatives per token
  int64_t route = kRouteAuto;
};

/// One sequence's progress, shared by the scheduler (writer) and the HTTP handler (reader).
class Sequence {
 public:
  using Clock = std::chrono::steady_clock;
  struct View {
    std::string text;          // decoded so far (cut before a stop string)
    size_t stable = 0;         // text[0, stable) will not change
    std::vector<TokenLogprob> logprobs;
    int64_t tokens = 0;        // generated tokens
    bool routed = false;       // the prefill has run
    RouteChoice route;
    bool finished = false;
    std::string finish_reason;  // "stop" | "length" | "cancelled" | "error"
    std::string error;
  };
  explicit Sequence(SequenceParams p) : params(std::move(p)), arrived(Clock::now()) {}
  /// Waits until the view differs from (stable, logprobs, finished) seen, or `timeout`.
  View wait(size_t seen_stable, size_t seen_logprobs, bool seen_routed, std::chrono::milliseconds timeout);
  View view();
  /// Asks the scheduler to drop the sequence at the next step (client gone).
  void cancel() { cancelled = true; }

  const SequenceParams params;
  const Clock::time_point arrived;
  std::atomic<bool> cancelled{false};

 private:
  friend class BatchEngine;
  std::mutex mutex_;
  std::condition_variable changed_;
  View view_;
  std::vector<int64_t> ids_;  // generated ids (scheduler only)
  Clock::time_point last_token_;
};

struct EngineOptions {
  int64_t max_batch = 16;   // sequences decoded together
  int64_t max_queue = 256;  // sequences waiting to join; more is a 503
};

class BatchEngine {
 public:
  BatchEngine(ServedModel& model, EngineOptions options, Metrics& metrics);
  ~BatchEngine();
  /// Queues sequences (all or none); throws ApiError 503 when the queue would overflow or the
  /// engine is shutting down.
  std::vector<std::shared_ptr<Sequence>> submit(std::vector<SequenceParams> sequences);
  /// Stops taking new sequences; running and waiting ones finish. After `seconds`, the rest are
  /// cancelled. Returns when the scheduler has stopped.
  void shutdown(double seconds);
  int64_t running() const { return running_; }
  int64_t waiting() const;

 private:
  struct Row;
  void loop();
  void admit(std::vector<std::shared_ptr<Sequence>> sequences);
  void decode_step();
  /// Chooses and records each row's next token from its logits (B, V); returns whether it goes on.
  bool take_token(Row& row, const at::Tensor& logits_row);
  void finish(Row& row, const std::string& reason, const std::string& error = "");
  void drop_finished();

  ServedModel& model_;
  EngineOptions options_;
  Metrics& metrics_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Sequence>> waiting_;
  bool accepting_ = true, stop_ = false;
  int64_t admitting_ = 0;  // taken from waiting_, not yet in the running batch (a drain waits for them)
  std::atomic<int64_t> running_{0};
  std::thread thread_;
  // The running batch (scheduler thread only).
  std::vector<Row> rows_;
  std::unique_ptr<KVCache> cache_;  // per layer (B, H_kv, capacity, D); null when no row runs
  at::Tensor mask_;                 // (B, capacity) int64 on the model's device, 1 where a row has a token
};

}  // namespace retain::serve
