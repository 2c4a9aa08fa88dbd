// retain/serve/http_server.h — the HTTP side of `retain serve` (cpp-httplib): routes, limits, errors.
//
//   GET  /health                 503 while the model loads, then 200
//   GET  /metrics                Prometheus text (metrics.h)
//   GET  /v1/models              "auto", "base" and one id per routed task
//   POST /v1/completions         openai_api.h; "stream": true answers with SSE `data:` chunks and
//   POST /v1/chat/completions    `data: [DONE]`
//
// With an API key, every /v1 path needs "Authorization: Bearer KEY" (401 otherwise). A body over
// max_body_bytes is a 413; the queue full a 503 with Retry-After; every error has OpenAI's error body.
// A client that disconnects cancels its sequences: mid-stream (a write fails), or while it waits
// for a non-streamed answer (its socket is watched: src/serve/peer_connection.h). stop() stops accepting connections,
// lets the running requests finish within the drain bound, and returns.
#pragma once

#include "retain/serve/batch_engine.h"
#include "retain/serve/metrics.h"
#include "retain/serve/served_model.h"

#include <atomic>
#include <memory>
#include <string>

namespace retain::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;               // 0: any free port (printed when listening)
  std::string api_key;           // empty: no authentication
  size_t max_body_bytes = 4 << 20;
  int threads = 64;              // connections served at once
};

class HttpServer {
 public:
  explicit HttpServer(HttpOptions options);
  ~HttpServer();
  /// Binds (throws naming host:port when it cannot) and returns the port.
  int bind();
  /// Serves until stop(); call after bind(), on its own thread.
  void listen();
  /// The model is loaded: /health turns 200 and /v1 answers.
  void set_ready(ServedModel* model, BatchEngine* engine, Metrics* metrics);
  /// Stops accepting; returns once in-flight requests are answered.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace retain::serve
