// The OpenAI request parser: defaults, every field's type and range check naming the field, and
// UTF-8 validation; the Prometheus exposition. (The server end to end: tests/serve.)
#include "retain/serve/metrics.h"
#include "retain/serve/openai_api.h"

#include <gtest/gtest.h>

namespace {

using retain::serve::ApiError;
using retain::serve::parse_completion_request;

/// The param of the ApiError `body` raises (status 400).
std::string rejected_param(const std::string& body, bool chat = false) {
  try {
    parse_completion_request(body, chat);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.type, "invalid_request_error");
    return e.param.empty() ? "<none>" : e.param;
  }
  ADD_FAILURE() << "accepted: " << body;
  return "";
}

TEST(OpenAiRequest, DefaultsFollowOpenAiAndVllm) {
  const auto r = parse_completion_request(R"({"prompt": "hi"})", false);
  EXPECT_EQ(r.model, "auto");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(*r.max_tokens, 16);
  EXPECT_EQ(r.temperature, 1.0);
  EXPECT_EQ(r.top_p, 1.0);
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.logprobs, -1);
  EXPECT_FALSE(r.stream);
  const auto c = parse_completion_request(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "logprobs": true, "top_logprobs": 3, "max_completion_tokens": 5})", true);
  EXPECT_EQ(c.max_tokens.value_or(-1), 5);
  EXPECT_EQ(c.messages.at(0).content, "ab");
  EXPECT_EQ(c.logprobs, 3);
  const auto s = parse_completion_request(R"({"prompt": ["a", "b"], "stop": "x", "stream": true, "stream_options": {"include_usage": true}, "top_k": -1, "seed": 5})", false);
  EXPECT_EQ(s.prompts.size(), 2u);
  EXPECT_EQ(s.stop, std::vector<std::string>{"x"});
  EXPECT_TRUE(s.include_usage);
  EXPECT_EQ(s.top_k, 0);
  EXPECT_EQ(*s.seed, 5u);
}

TEST(OpenAiRequest, EveryBadFieldIsNamed) {
  EXPECT_EQ(rejected_param("{not json"), "<none>");
  EXPECT_EQ(rejected_param("[1]"), "<none>");
  EXPECT_EQ(rejected_param(R"({"prompt": 3})"), "prompt");
  EXPECT_EQ(rejected_param(R"({})"), "prompt");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "temperature": "hot"})"), "temperature");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "temperature": 2.5})"), "temperature");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "top_p": 0})"), "top_p");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "max_tokens": 0})"), "max_tokens");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "max_tokens": 1.5})"), "max_tokens");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "n": 17})"), "n");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "logprobs": 6})"), "logprobs");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "stop": ["", "b"]})"), "stop");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "stop": ["1","2","3","4","5"]})"), "stop");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "stream_options": {"include_usage": true}})"), "stream_options");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "model": 7})"), "model");
  EXPECT_EQ(rejected_param(R"({"prompt": "a", "frequency_penalty": 1})"), "frequency_penalty");
  EXPECT_EQ(rejected_param(R"({"messages": []})", true), "messages");
  EXPECT_EQ(rejected_param(R"({"messages": [{"content": "x"}]})", true), "messages[0]");
  EXPECT_EQ(rejected_param(R"({"messages": [{"role": "wizard", "content": "x"}]})", true), "messages[0].role");
  EXPECT_EQ(rejected_param(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", true), "top_logprobs");
}

TEST(OpenAiRequest, Utf8IsValidated) {
  EXPECT_TRUE(retain::serve::is_valid_utf8("naïve café — ✓ 😀"));
  EXPECT_FALSE(retain::serve::is_valid_utf8("\xff"));
  EXPECT_FALSE(retain::serve::is_valid_utf8("\xc3"));          // truncated
  EXPECT_FALSE(retain::serve::is_valid_utf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(retain::serve::is_valid_utf8("\xed\xa0\x80"));  // a surrogate
  const auto error = retain::serve::error_body(ApiError(404, "no such model", "model", "model_not_found"));
  EXPECT_EQ(error["error"]["message"], "no such model");
  EXPECT_EQ(error["error"]["param"], "model");
  EXPECT_EQ(error["error"]["code"], "model_not_found");
  EXPECT_TRUE(retain::serve::error_body(ApiError(400, "x"))["error"]["param"].is_null());
}

TEST(ServeMetrics, PrometheusTextHasCumulativeBuckets) {
  retain::serve::Metrics m("tiny");
  m.time_to_first_token(0.003);
  m.time_to_first_token(0.5);
  m.routed("spam", "router");
  m.add_prompt_tokens(7);
  const std::string text = m.render(2, 1);
  EXPECT_NE(text.find("retain:num_requests_running{model_name=\"tiny\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("retain:prompt_tokens_total{model_name=\"tiny\"} 7"), std::string::npos);
  EXPECT_NE(text.find("retain:time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.005\"} 1"), std::string::npos);
  EXPECT_NE(text.find("retain:time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"+Inf\"} 2"), std::string::npos);
  EXPECT_NE(text.find("retain:routed_requests_total{model_name=\"tiny\",task=\"spam\",routed_by=\"router\"} 1"), std::string::npos);
}

}  // namespace
