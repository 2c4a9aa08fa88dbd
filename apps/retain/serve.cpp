// retain serve: an OpenAI-compatible HTTP server that routes each request to its task by itself.
#include "commands.h"

#include "retain/serve/batch_engine.h"
#include "retain/serve/http_server.h"
#include "retain/serve/served_model.h"

#include <fmt/format.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <pthread.h>
#include <thread>

namespace retain::cli {
namespace {

struct ServeOptions {
  serve::ServedModelOptions model;
  serve::HttpOptions http;
  serve::EngineOptions engine;
  double drain_seconds = 30;
};

void run_serve(ServeOptions o) {
  // SIGTERM and SIGINT are taken by this thread alone (sigwait below): block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  serve::HttpServer server(o.http);
  const int port = server.bind();
  std::thread listener([&] { server.listen(); });
  std::cerr << fmt::format("retain serve: listening on http://{}:{} (loading {})\n", o.http.host, port,
                           o.model.model_dir.string())
            << std::flush;
  std::unique_ptr<serve::ServedModel> model;
  try {
    model = serve::ServedModel::load(o.model);
  } catch (...) {
    server.stop();
    listener.join();
    throw;
  }
  serve::Metrics metrics(model->name);
  serve::BatchEngine engine(*model, o.engine, metrics);
  server.set_ready(model.get(), &engine, &metrics);
  std::string ids;
  for (const auto& id : model->model_ids()) ids += (ids.empty() ? "" : ", ") + id;
  std::cerr << fmt::format("retain serve: ready ({}; models: {}; max_model_len {}; chat template: {})\n", model->kind,
                           ids, model->max_model_len, model->chat_template ? "yes" : "no")
            << std::flush;
  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << fmt::format("retain serve: {}: draining (at most {} s)\n", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                           o.drain_seconds)
            << std::flush;
  server.stop();               // no new connections
  engine.shutdown(o.drain_seconds);  // running sequences finish (or are cancelled at the bound)
  listener.join();             // in-flight responses written
  std::cerr << "retain serve: stopped\n";
}

}  // namespace

void register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  auto* c = app.add_subcommand("serve", "OpenAI-compatible server; an asr or seta checkpoint routes each request to its task");
  c->add_option("--model", o->model.model_dir, "Hugging Face model folder (the base model)")->required();
  c->add_option("--checkpoint", o->model.checkpoint,
                "A checkpoint of retain run --save-checkpoints: OUT/<method>/checkpoints/task_<k>, or OUT/<method> "
                "for its last one; asr and seta route each request, seqlora, inclora, olora and inflora apply "
                "their adapters to every request");
  c->add_option("--host", o->http.host, "Address to listen on")->capture_default_str();
  c->add_option("--port", o->http.port, "Port (0: any free port, printed)")->capture_default_str();
  c->add_option("--device", o->model.device, "cpu, cuda or cuda:N")->capture_default_str();
  c->add_option("--dtype", o->model.dtype, "Compute dtype: float32 or bfloat16")->capture_default_str();
  c->add_option("--max-batch", o->engine.max_batch, "Sequences decoded together")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--max-queue", o->engine.max_queue, "Sequences waiting at most (more: 503)")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--max-model-len", o->model.max_model_len, "Prompt + completion tokens at most (0: max_position_embeddings)")
      ->capture_default_str();
  c->add_option("--api-key", o->http.api_key, "Require \"Authorization: Bearer KEY\" on /v1 (also $RETAIN_API_KEY)")
      ->envname("RETAIN_API_KEY");
  c->add_option("--max-body-bytes", o->http.max_body_bytes, "Largest request body (more: 413)")->capture_default_str();
  c->add_option("--drain-seconds", o->drain_seconds, "On SIGTERM: how long running requests may take to finish")
      ->capture_default_str();
  c->footer(
      "Endpoints: GET /health, GET /metrics, GET /v1/models, POST /v1/completions, POST /v1/chat/completions.\n"
      "The request's \"model\" picks the route: auto (the router decides), base (no adapter) or a task name.\n");
  c->callback([o] { run_serve(*o); });
}

}  // namespace retain::cli
