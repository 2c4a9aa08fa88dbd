#include "retain/serve/openai_api.h"

#include "retain/tokenizer/unicode.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace retain::serve {

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw ApiError(400, message, param); }

std::string type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

double number(const json& body, const std::string& key, double low, double high, double fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  const json& v = body[key];
  if (!v.is_number()) bad(key, fmt::format("'{}' must be a number, got {}", key, type_name(v)));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < low || x > high)
    bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, low, high, v.dump()));
  return x;
}

std::optional<int64_t> integer(const json& body, const std::string& key, int64_t low, int64_t high) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  const json& v = body[key];
  if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                                  std::abs(v.get<double>()) < 9e15))
    bad(key, fmt::format("'{}' must be an integer, got {}", key, v.is_number() ? v.dump() : type_name(v)));
  const double as_double = v.get<double>();
  if (as_double < static_cast<double>(low) || as_double > static_cast<double>(high))
    bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, low, high, v.dump()));
  return v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
}

bool boolean(const json& body, const std::string& key, bool fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_boolean()) bad(key, fmt::format("'{}' must be a boolean, got {}", key, type_name(body[key])));
  return body[key].get<bool>();
}

std::string text_field(const json& v, const std::string& param) {
  if (!v.is_string()) bad(param, fmt::format("'{}' must be a string, got {}", param, type_name(v)));
  const auto s = v.get<std::string>();
  if (!is_valid_utf8(s)) bad(param, fmt::format("'{}' is not valid UTF-8", param));
  return s;
}

/// A chat message's content: a string, or a list of {"type": "text", "text"} parts joined.
std::string message_content(const json& content, const std::string& param) {
  if (content.is_string()) return text_field(content, param);
  if (content.is_null()) return "";
  if (!content.is_array()) bad(param, fmt::format("'{}' must be a string or a list of text parts", param));
  std::string joined;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string where = fmt::format("{}[{}]", param, i);
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text"))
      bad(where, fmt::format("'{}' must be {{\"type\": \"text\", \"text\": ...}} (retain serves text only)", where));
    joined += text_field(part["text"], where + ".text");
  }
  return joined;
}

/// A token-id prompt: `ids` (a non-empty array of integers in [0, vocab_size)); `where` names it in
/// errors ("prompt" or "prompt[i]").
Prompt token_prompt(const json& ids, const std::string& where, int64_t vocab_size) {
  if (ids.empty()) bad("prompt", fmt::format("'{}' is an empty list of token ids", where));
  Prompt p;
  p.is_tokens = true;
  for (size_t j = 0; j < ids.size(); ++j) {
    const json& id = ids[j];
    if (!id.is_number_integer())
      bad("prompt", fmt::format("'{}[{}]' must be a token id (an integer), got {}", where, j,
                                id.is_number() ? id.dump() : type_name(id)));
    const bool in_range = id.is_number_unsigned() ? id.get<uint64_t>() < static_cast<uint64_t>(vocab_size)
                                                  : id.get<int64_t>() >= 0 && id.get<int64_t>() < vocab_size;
    if (!in_range)
      bad("prompt", fmt::format("'{}[{}]' is token id {}, outside the model's vocabulary [0, {})", where, j, id.dump(),
                                vocab_size));
    p.token_ids.push_back(id.get<int64_t>());
  }
  return p;
}

json logprobs_json(const CompletionRequest& r, const std::vector<TokenLogprob>& tokens, size_t text_offset_start) {
  if (r.logprobs < 0) return nullptr;
  if (r.chat) {
    json content = json::array();
    for (const auto& t : tokens) {
      json top = json::array();
      for (const auto& [tok, lp] : t.top) top.push_back({{"token", tok}, {"logprob", lp}, {"bytes", std::vector<unsigned char>(tok.begin(), tok.end())}});
      content.push_back({{"token", t.token},
                         {"logprob", t.logprob},
                         {"bytes", std::vector<unsigned char>(t.token.begin(), t.token.end())},
                         {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json toks = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = text_offset_start;
  for (const auto& t : tokens) {
    toks.push_back(t.token);
    lps.push_back(t.logprob);
    json top = json::object();
    for (const auto& [tok, lp] : t.top) top[tok] = lp;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += t.token.size();
  }
  return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

bool is_valid_utf8(const std::string& s) { return unicode::find_invalid_utf8(s) == std::string::npos; }

CompletionRequest parse_completion_request(const std::string& text, bool chat, int64_t vocab_size) {
  json body;
  try {
    body = json::parse(text);
  } catch (const json::exception& e) {
    throw ApiError(400, fmt::format("the body is not valid JSON: {}", e.what()));
  }
  if (!body.is_object()) throw ApiError(400, fmt::format("the body must be a JSON object, got {}", type_name(body)));
  CompletionRequest r;
  r.chat = chat;
  if (body.contains("model") && !body["model"].is_null()) r.model = text_field(body["model"], "model");
  if (chat) {
    if (!body.contains("messages")) bad("messages", "'messages' is required");
    const json& messages = body["messages"];
    if (!messages.is_array() || messages.empty()) bad("messages", "'messages' must be a non-empty array");
    for (size_t i = 0; i < messages.size(); ++i) {
      const std::string where = fmt::format("messages[{}]", i);
      const json& m = messages[i];
      if (!m.is_object() || !m.contains("role")) bad(where, fmt::format("'{}' must be an object with a 'role'", where));
      ChatTurn turn{text_field(m["role"], where + ".role"), message_content(m.value("content", json(nullptr)), where + ".content")};
      if (turn.role != "system" && turn.role != "user" && turn.role != "assistant" && turn.role != "developer")
        bad(where + ".role", fmt::format("'{}.role' must be system, developer, user or assistant, got \"{}\"", where, turn.role));
      r.messages.push_back(std::move(turn));
    }
    if (body.contains("chat_template_kwargs") && !body["chat_template_kwargs"].is_null()) {
      if (!body["chat_template_kwargs"].is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object");
      r.chat_template_kwargs = body["chat_template_kwargs"];
    }
    r.add_generation_prompt = boolean(body, "add_generation_prompt", true);
    r.max_tokens = integer(body, "max_completion_tokens", 1, std::numeric_limits<int32_t>::max());
    if (!r.max_tokens) r.max_tokens = integer(body, "max_tokens", 1, std::numeric_limits<int32_t>::max());
    if (boolean(body, "logprobs", false)) r.logprobs = integer(body, "top_logprobs", 0, 5).value_or(0);
    else if (body.contains("top_logprobs") && !body["top_logprobs"].is_null())
      bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  } else {
    if (!body.contains("prompt")) bad("prompt", "'prompt' is required");
    const json& prompt = body["prompt"];
    const char* shapes = "a string, a list of strings, a list of token ids or a list of lists of token ids";
    auto text_prompt = [](const json& v, const std::string& where) {
      Prompt p;
      p.text = text_field(v, where);
      return p;
    };
    if (prompt.is_string()) {
      r.prompts.push_back(text_prompt(prompt, "prompt"));
    } else if (prompt.is_array() && !prompt.empty() && prompt[0].is_number()) {
      r.prompts.push_back(token_prompt(prompt, "prompt", vocab_size));
    } else if (prompt.is_array() && !prompt.empty()) {
      // Every element its own prompt, all of one kind (as OpenAI's schema: no mixing).
      const bool tokens = prompt[0].is_array();
      for (size_t i = 0; i < prompt.size(); ++i) {
        const std::string where = fmt::format("prompt[{}]", i);
        if (tokens ? !prompt[i].is_array() : !prompt[i].is_string())
          bad("prompt", fmt::format("'{}' is {}, but 'prompt[0]' is {}: 'prompt' must be {}", where, type_name(prompt[i]),
                                    type_name(prompt[0]), shapes));
        r.prompts.push_back(tokens ? token_prompt(prompt[i], where, vocab_size) : text_prompt(prompt[i], where));
      }
    } else {
      bad("prompt", fmt::format("'prompt' must be {}, not empty; got {}", shapes, type_name(prompt)));
    }
    r.max_tokens = integer(body, "max_tokens", 1, std::numeric_limits<int32_t>::max()).value_or(16);
    r.logprobs = integer(body, "logprobs", 0, 5).value_or(-1);
    if (boolean(body, "echo", false)) bad("echo", "'echo' is not supported");
  }
  r.temperature = number(body, "temperature", 0.0, 2.0, 1.0);
  r.top_p = number(body, "top_p", 1e-9, 1.0, 1.0);
  r.top_k = integer(body, "top_k", -1, 1 << 20).value_or(0);
  if (r.top_k == -1) r.top_k = 0;
  if (auto seed = integer(body, "seed", std::numeric_limits<int64_t>::min() / 2, std::numeric_limits<int64_t>::max() / 2))
    r.seed = static_cast<uint64_t>(*seed);
  r.n = integer(body, "n", 1, 16).value_or(1);
  if (body.contains("best_of") && !body["best_of"].is_null() && body["best_of"] != r.n) bad("best_of", "'best_of' is not supported");
  if (body.contains("stop") && !body["stop"].is_null()) {
    const json& stop = body["stop"];
    if (stop.is_string()) {
      r.stop.push_back(text_field(stop, "stop"));
    } else if (stop.is_array()) {
      if (stop.size() > 4) bad("stop", fmt::format("'stop' holds at most 4 sequences, got {}", stop.size()));
      for (size_t i = 0; i < stop.size(); ++i) r.stop.push_back(text_field(stop[i], fmt::format("stop[{}]", i)));
    } else {
      bad("stop", fmt::format("'stop' must be a string or a list of strings, got {}", type_name(stop)));
    }
    for (const auto& s : r.stop)
      if (s.empty()) bad("stop", "'stop' sequences must not be empty");
  }
  r.stream = boolean(body, "stream", false);
  if (body.contains("stream_options") && !body["stream_options"].is_null()) {
    const json& so = body["stream_options"];
    if (!so.is_object()) bad("stream_options", "'stream_options' must be an object");
    if (!r.stream) bad("stream_options", "'stream_options' needs 'stream': true");
    r.include_usage = boolean(so, "include_usage", false);
  }
  for (const char* key : {"presence_penalty", "frequency_penalty"})
    if (number(body, key, -2.0, 2.0, 0.0) != 0.0) bad(key, fmt::format("'{}' is not supported (only 0)", key));
  return r;
}

json usage(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

json completion_response(const CompletionRequest& r, const std::string& id, int64_t created,
                         const std::vector<ChoiceResult>& choices, int64_t prompt_tokens) {
  json out = {{"id", id}, {"object", r.chat ? "chat.completion" : "text_completion"}, {"created", created}, {"model", r.model}};
  json list = json::array();
  int64_t completion_tokens = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const auto& c = choices[i];
    completion_tokens += c.completion_tokens;
    json choice = {{"index", i}, {"finish_reason", c.finish_reason}, {"logprobs", logprobs_json(r, c.logprobs, 0)},
                   {"retain", c.route}};
    if (r.chat)
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    else
      choice["text"] = c.text;
    list.push_back(std::move(choice));
  }
  out["choices"] = std::move(list);
  out["usage"] = usage(prompt_tokens, completion_tokens);
  return out;
}

json stream_chunk(const CompletionRequest& r, const std::string& id, int64_t created, int64_t index,
                  const std::string& delta_text, const std::string& finish_reason,
                  const std::vector<TokenLogprob>& logprobs, const json& route, bool first) {
  json choice = {{"index", index},
                 {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)},
                 {"logprobs", logprobs_json(r, logprobs, 0)},
                 {"retain", route}};
  if (r.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!delta_text.empty() || first) delta["content"] = delta_text;
    choice["delta"] = delta;
  } else {
    choice["text"] = delta_text;
  }
  json out = {{"id", id},
              {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
              {"created", created},
              {"model", r.model},
              {"choices", json::array({choice})}};
  if (r.include_usage) out["usage"] = nullptr;
  return out;
}

json usage_chunk(const CompletionRequest& r, const std::string& id, int64_t created, int64_t prompt_tokens,
                 int64_t completion_tokens) {
  return {{"id", id},
          {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", r.model},
          {"choices", json::array()},
          {"usage", usage(prompt_tokens, completion_tokens)}};
}

}  // namespace retain::serve
