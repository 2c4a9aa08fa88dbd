#include "retain/serve/http_server.h"

#include "retain/core/error.h"

#include "peer_connection.h"

#include <httplib.h>

#include <fmt/format.h>

#include <chrono>
#include <random>

namespace retain::serve {

namespace {

using namespace std::chrono_literals;

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string request_id(const char* prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  return fmt::format("{}-{:016x}", prefix, rng());
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_body(e).dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

std::string sse(const json& j) { return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; }

}  // namespace

struct HttpServer::Impl {
  HttpOptions options;
  httplib::Server server;
  std::atomic<ServedModel*> model{nullptr};
  BatchEngine* engine = nullptr;
  Metrics* metrics = nullptr;

  /// The sequences of one request, tokenized and checked against the model's limits.
  struct Prepared {
    CompletionRequest request;
    std::vector<SequenceParams> params;
    int64_t prompt_tokens = 0;
  };

  Prepared prepare(const std::string& body, bool chat) {
    ServedModel& m = *model;
    Prepared out;
    out.request = parse_completion_request(body, chat, m.model->config.vocab_size);
    auto& r = out.request;
    const auto route = m.resolve(r.model);
    if (!route) {
      std::string ids;
      for (const auto& id : m.model_ids()) ids += (ids.empty() ? "" : ", ") + id;
      throw ApiError(404, fmt::format("The model `{}` does not exist; this server has: {}", r.model, ids), "model",
                     "model_not_found");
    }
    std::vector<std::vector<int64_t>> prompts;
    if (chat) {
      if (!m.chat_template)
        throw ApiError(400,
                       fmt::format("the model {} has no chat template (tokenizer_config.json \"chat_template\" or "
                                   "chat_template.jinja); use /v1/completions",
                                   m.name),
                       "messages", "no_chat_template");
      std::vector<ChatMessage> messages;
      for (const auto& t : r.messages) messages.push_back({t.role, t.content});
      std::string text;
      try {
        text = m.chat_template->render(messages, r.add_generation_prompt, m.bos_token, m.eos_token, r.chat_template_kwargs);
      } catch (const std::exception& e) {
        throw ApiError(400, fmt::format("the chat template failed on these messages: {}", e.what()), "messages");
      }
      prompts.push_back(m.tokenizer.encode(text, false));
    } else {
      for (const auto& p : r.prompts) prompts.push_back(p.is_tokens ? p.token_ids : m.tokenizer.encode(p.text, true));
    }
    const std::string what = chat ? "messages" : "prompt";
    std::random_device entropy;
    for (size_t i = 0; i < prompts.size(); ++i) {
      const auto& ids = prompts[i];
      const int64_t len = static_cast<int64_t>(ids.size());
      if (len == 0) throw ApiError(400, fmt::format("the {} has no tokens", what), what);
      for (auto id : ids)
        if (id >= m.model->config.vocab_size)
          throw ApiError(400, fmt::format("the tokenizer gave id {}, outside the model's vocabulary", id), what);
      const int64_t max_tokens = r.max_tokens.value_or(m.max_model_len - len);
      if (len >= m.max_model_len || len + max_tokens > m.max_model_len)
        throw ApiError(400,
                       fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                                   "({} in the {}, {} in the completion). Please reduce the length of the {} or "
                                   "max_tokens.",
                                   m.max_model_len, len + std::max<int64_t>(max_tokens, 1), len, what,
                                   std::max<int64_t>(max_tokens, 1), what),
                       len >= m.max_model_len ? what : "max_tokens", "context_length_exceeded");
      out.prompt_tokens += len;
      for (int64_t j = 0; j < r.n; ++j) {
        SequenceParams p;
        p.prompt = ids;
        p.max_tokens = max_tokens;
        p.sampling.do_sample = r.temperature > 0;
        p.sampling.temperature = r.temperature;
        p.sampling.top_p = r.top_p;
        p.sampling.top_k = r.top_k;
        p.sampling.seed = r.seed ? *r.seed + static_cast<uint64_t>(j) : (uint64_t{entropy()} << 32 | entropy());
        p.stop = r.stop;
        p.top_logprobs = r.logprobs;
        p.route = *route;
        out.params.push_back(std::move(p));
      }
    }
    return out;
  }

  static void check_failed(const Sequence::View& v) {
    if (v.finish_reason == "error") throw ApiError(500, "generation failed: " + v.error, "", "internal_error", "server_error");
    if (v.finish_reason == "cancelled")
      throw ApiError(503, "the request was cancelled (the server is shutting down)", "", "cancelled", "server_error");
  }

  void completion(const httplib::Request& req, httplib::Response& res, bool chat) {
    auto prepared = std::make_shared<Prepared>(prepare(req.body, chat));
    auto sequences = engine->submit(prepared->params);
    const std::string id = request_id(chat ? "chatcmpl" : "cmpl");
    const int64_t created = unix_time();
    if (!prepared->request.stream) {
      // Nothing is written until the end, so a client that leaves is noticed on its socket: its
      // sequences are cancelled and their slots freed at the next step, as a stream's are.
      const auto peer = PeerConnection::find(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
      std::vector<ChoiceResult> choices;
      for (auto& s : sequences) {
        Sequence::View v = s->view();
        while (!v.finished) {
          if (!peer.connected()) {
            for (auto& q : sequences) q->cancel();
            throw ApiError(499, "the client closed the connection; the request was cancelled", "", "cancelled");
          }
          v = s->wait(v.stable, v.logprobs.size(), v.routed, 100ms);
        }
        check_failed(v);
        choices.push_back({v.text, v.finish_reason, v.logprobs, v.tokens, v.route.to_json()});
      }
      res.set_content(completion_response(prepared->request, id, created, choices, prepared->prompt_tokens).dump(-1, ' ', false, json::error_handler_t::replace),
                      "application/json");
      return;
    }
    struct Stream {
      std::vector<std::shared_ptr<Sequence>> seqs;
      std::vector<size_t> sent_text, sent_logprobs;
      std::vector<bool> started, ended;
      bool closed = false;
    };
    auto st = std::make_shared<Stream>();
    st->seqs = sequences;
    st->sent_text.assign(sequences.size(), 0);
    st->sent_logprobs.assign(sequences.size(), 0);
    st->started.assign(sequences.size(), false);
    st->ended.assign(sequences.size(), false);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [st, prepared, id, created](size_t, httplib::DataSink& sink) {
          auto cancel_all = [&] {
            for (auto& s : st->seqs) s->cancel();
          };
          if (!sink.is_writable()) {
            cancel_all();
            return false;
          }
          const auto& r = prepared->request;
          bool wrote = false, all_ended = true;
          int64_t completion_tokens = 0;
          for (size_t i = 0; i < st->seqs.size(); ++i) {
            if (st->ended[i]) {
              completion_tokens += st->seqs[i]->view().tokens;
              continue;
            }
            const auto v = st->seqs[i]->view();
            completion_tokens += v.tokens;
            if (v.finished && (v.finish_reason == "error" || v.finish_reason == "cancelled")) {
              const ApiError e(v.finish_reason == "error" ? 500 : 503,
                               v.finish_reason == "error" ? "generation failed: " + v.error : "the request was cancelled",
                               "", v.finish_reason, "server_error");
              const std::string event = sse(error_body(e));
              sink.write(event.data(), event.size());
              st->ended[i] = true;
              wrote = true;
              continue;
            }
            const bool more_text = v.stable > st->sent_text[i];
            const bool more_lp = v.logprobs.size() > st->sent_logprobs[i];
            const bool first = !st->started[i] && v.routed;
            if (!(more_text || more_lp || v.finished || first)) {
              all_ended = false;
              continue;
            }
            const std::string delta = v.text.substr(st->sent_text[i], v.stable - st->sent_text[i]);
            std::vector<TokenLogprob> lps(v.logprobs.begin() + static_cast<std::ptrdiff_t>(st->sent_logprobs[i]), v.logprobs.end());
            const auto chunk = sse(stream_chunk(r, id, created, static_cast<int64_t>(i), delta, v.finished ? v.finish_reason : "",
                                                lps, v.route.to_json(), !st->started[i]));
            if (!sink.write(chunk.data(), chunk.size())) {
              cancel_all();
              return false;
            }
            wrote = true;
            st->started[i] = true;
            st->sent_text[i] = v.stable;
            st->sent_logprobs[i] = v.logprobs.size();
            if (v.finished) st->ended[i] = true;
            else all_ended = false;
          }
          if (all_ended) {
            if (r.include_usage) {
              const auto u = sse(usage_chunk(r, id, created, prepared->prompt_tokens, completion_tokens));
              sink.write(u.data(), u.size());
            }
            const std::string done = "data: [DONE]\n\n";
            sink.write(done.data(), done.size());
            sink.done();
            return true;
          }
          if (!wrote) {
            for (size_t i = 0; i < st->seqs.size(); ++i)
              if (!st->ended[i]) {
                const auto v = st->seqs[i]->view();
                st->seqs[i]->wait(v.stable, v.logprobs.size(), v.routed, 50ms);
                break;
              }
          }
          return true;
        },
        [st](bool success) {
          if (!success)
            for (auto& s : st->seqs) s->cancel();
        });
  }

  /// Runs a handler; any error becomes OpenAI's error body.
  template <class F>
  void guarded(httplib::Response& res, F&& f) {
    try {
      if (!model) throw ApiError(503, "the model is still loading", "", "loading", "server_error");
      f();
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, e.what(), "", "internal_error", "server_error"));
    }
  }

  void routes() {
    server.set_payload_max_length(options.max_body_bytes);
    server.new_task_queue = [n = options.threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
    server.set_keep_alive_timeout(2);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (options.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
      if (req.get_header_value("Authorization") == "Bearer " + options.api_key)
        return httplib::Server::HandlerResponse::Unhandled;
      send_error(res, ApiError(401,
                               req.has_header("Authorization") ? "Incorrect API key provided"
                                                               : "Missing API key: send \"Authorization: Bearer KEY\"",
                               "", "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    });
    server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413)
        send_error(res, ApiError(413, fmt::format("the request body is larger than {} bytes", options.max_body_bytes)));
      else if (res.status == 404)
        send_error(res, ApiError(404, fmt::format("no route {} {}", req.method, req.path), "", "not_found"));
      else
        send_error(res, ApiError(res.status, fmt::format("HTTP {}", res.status)));
    });
    server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      if (!model) {
        res.status = 503;
        res.set_content("loading\n", "text/plain");
      } else {
        res.set_content("ok\n", "text/plain");
      }
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      guarded(res, [&] { res.set_content(metrics->render(engine->running(), engine->waiting()), "text/plain; version=0.0.4"); });
    });
    server.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      guarded(res, [&] {
        json data = json::array();
        for (const auto& id : model.load()->model_ids())
          data.push_back({{"id", id},
                          {"object", "model"},
                          {"created", unix_time()},
                          {"owned_by", "retain"},
                          {"root", model.load()->name},
                          {"max_model_len", model.load()->max_model_len}});
        res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
      });
    });
    server.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { completion(req, res, false); });
    });
    server.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { completion(req, res, true); });
    });
  }
};

HttpServer::HttpServer(HttpOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  auto& o = impl_->options;
  if (o.port == 0) {
    const int port = impl_->server.bind_to_any_port(o.host);
    RETAIN_CHECK(port > 0, "serve", "cannot listen on {} (any port)", o.host);
    o.port = port;
  } else {
    RETAIN_CHECK(impl_->server.bind_to_port(o.host, o.port), "serve",
                 "cannot listen on {}:{} (in use, or not an address of this machine?)", o.host, o.port);
  }
  return o.port;
}

void HttpServer::listen() { impl_->server.listen_after_bind(); }

void HttpServer::set_ready(ServedModel* model, BatchEngine* engine, Metrics* metrics) {
  impl_->engine = engine;
  impl_->metrics = metrics;
  impl_->model = model;
}

void HttpServer::stop() { impl_->server.stop(); }

}  // namespace retain::serve
