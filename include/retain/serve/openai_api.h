// retain/serve/openai_api.h — the OpenAI API's request and response bodies, as `retain serve` speaks it.
//
// Requests (POST /v1/completions, /v1/chat/completions) are parsed strictly: a field of the wrong
// type or out of range is an ApiError (400, the field named in `param`); fields retain does not use
// are ignored, as OpenAI's clients send some (`user`, `frequency_penalty` at 0, ...). Defaults follow
// OpenAI and vLLM: temperature 1, top_p 1, top_k off, n 1; max_tokens 16 for completions and the rest
// of the context for chat. temperature 0 is greedy decoding.
//
// Errors are OpenAI's body {"error": {"message", "type", "param", "code"}} with the HTTP status.
// Each choice carries an extra "retain" object: the route the request took
// (RouteChoice::to_json, served_model.h).
#pragma once

#include "retain/core/json.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace retain::serve {

/// An error with its HTTP status and OpenAI's error fields.
struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "invalid_request_error")
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)), code(std::move(code)) {}
  int status;
  std::string type, param, code;
};

/// {"error": {"message", "type", "param" (null when empty), "code" (null when empty)}}.
json error_body(const ApiError& error);

struct ChatTurn {
  std::string role, content;
};

/// One completion prompt: text (tokenized by the server, special tokens added as the tokenizer adds
/// them) or token ids (used as they are, nothing added).
struct Prompt {
  std::string text;
  std::vector<int64_t> token_ids;
  bool is_tokens = false;
};

/// One parsed completion or chat completion request.
struct CompletionRequest {
  bool chat = false;
  std::string model = "auto";            // "auto" when absent
  std::vector<Prompt> prompts;           // completions: one or more prompts, each its own choices
  std::vector<ChatTurn> messages;        // chat
  json chat_template_kwargs = json::object();  // vLLM's extension: extra template variables
  bool add_generation_prompt = true;
  std::optional<int64_t> max_tokens;     // max_tokens, or chat's max_completion_tokens
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;                     // 0 or -1: off (vLLM accepts -1)
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  int64_t n = 1;
  int64_t logprobs = -1;                 // completions: top-N alternatives (0..5); chat: top_logprobs if logprobs; -1 none
  bool stream = false;
  bool include_usage = false;            // stream_options.include_usage
};

/// Parses and validates a request body; throws ApiError (400) naming the field. A completion's
/// `prompt` is a string, a list of strings, a list of token ids or a list of lists of token ids (as
/// OpenAI's); every id must lie in [0, vocab_size) (the error names its index and value).
CompletionRequest parse_completion_request(const std::string& body, bool chat, int64_t vocab_size);

/// One generated token with its log-probability and the top alternatives (for logprobs).
struct TokenLogprob {
  std::string token;  // the token's text (its bytes decoded alone)
  double logprob = 0;
  std::vector<std::pair<std::string, double>> top;
};

/// What one choice produced.
struct ChoiceResult {
  std::string text;
  std::string finish_reason;  // "stop" | "length"
  std::vector<TokenLogprob> logprobs;
  int64_t completion_tokens = 0;
  json route;  // the "retain" object
};

/// The whole non-streamed response.
json completion_response(const CompletionRequest& request, const std::string& id, int64_t created,
                         const std::vector<ChoiceResult>& choices, int64_t prompt_tokens);

/// One streamed chunk for choice `index`: `delta_text` (and the role in the first chat chunk),
/// `finish_reason` when it ends ("" while it goes on), the new tokens' logprobs.
json stream_chunk(const CompletionRequest& request, const std::string& id, int64_t created, int64_t index,
                  const std::string& delta_text, const std::string& finish_reason,
                  const std::vector<TokenLogprob>& logprobs, const json& route, bool first);

/// The final usage chunk of a stream with include_usage: "choices": [].
json usage_chunk(const CompletionRequest& request, const std::string& id, int64_t created, int64_t prompt_tokens,
                 int64_t completion_tokens);

/// {"prompt_tokens", "completion_tokens", "total_tokens"}.
json usage(int64_t prompt_tokens, int64_t completion_tokens);

/// Whether `text` is valid UTF-8.
bool is_valid_utf8(const std::string& text);

}  // namespace retain::serve
