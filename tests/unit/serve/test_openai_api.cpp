// The OpenAI request parser: defaults, every field's type and range check naming the field, and
// UTF-8 validation; the Prometheus exposition. (The server end to end: tests/serve.)
#include "retain/serve/metrics.h"
#include "retain/serve/openai_api.h"

#include <gtest/gtest.h>

namespace {

using retain::serve::ApiError;

constexpr int64_t kVocab = 100;  // token ids 0..99 are valid

retain::serve::CompletionRequest parse_completion_request(const std::string& body, bool chat) {
  return retain::serve::parse_completion_request(body, chat, kVocab);
}

/// The ApiError `body` raises (status 400).
ApiError rejection(const std::string& body, bool chat = false) {
  try {
    parse_completion_request(body, chat);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.type, "invalid_request_error");
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "");
}

/// The param of the ApiError `body` raises.
std::string rejected_param(const std::string& body, bool chat = false) {
  const auto e = rejection(body, chat);
  return e.param.empty() ? "<none>" : e.param;
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
  ASSERT_EQ(s.prompts.size(), 2u);
  EXPECT_EQ(s.prompts[1].text, "b");
  EXPECT_FALSE(s.prompts[1].is_tokens);
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

TEST(OpenAiRequest, PromptsAreStringsOrTokenIdsEachItsOwnPrompt) {
  const auto one = parse_completion_request(R"({"prompt": [5, 0, 99]})", false);
  ASSERT_EQ(one.prompts.size(), 1u);
  EXPECT_TRUE(one.prompts[0].is_tokens);
  EXPECT_EQ(one.prompts[0].token_ids, (std::vector<int64_t>{5, 0, 99}));
  const auto many = parse_completion_request(R"({"prompt": [[1, 2], [3]], "n": 2})", false);
  ASSERT_EQ(many.prompts.size(), 2u);
  EXPECT_EQ(many.prompts[0].token_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(many.prompts[1].token_ids, (std::vector<int64_t>{3}));
  EXPECT_TRUE(many.prompts[1].is_tokens);
  const auto text = parse_completion_request(R"({"prompt": "hi"})", false);
  EXPECT_EQ(text.prompts.at(0).text, "hi");
  EXPECT_FALSE(text.prompts.at(0).is_tokens);

  // A bad id names its index and value, and the vocabulary.
  const auto high = rejection(R"({"prompt": [1, 100]})");
  EXPECT_EQ(high.param, "prompt");
  EXPECT_NE(std::string(high.what()).find("'prompt[1]' is token id 100, outside the model's vocabulary [0, 100)"),
            std::string::npos) << high.what();
  const auto negative = rejection(R"({"prompt": [[1, 2], [3, -1]]})");
  EXPECT_NE(std::string(negative.what()).find("'prompt[1][1]' is token id -1"), std::string::npos) << negative.what();
  const auto huge = rejection(R"({"prompt": [18446744073709551615]})");
  EXPECT_NE(std::string(huge.what()).find("'prompt[0]' is token id 18446744073709551615"), std::string::npos) << huge.what();
  const auto fraction = rejection(R"({"prompt": [1, 2.5]})");
  EXPECT_NE(std::string(fraction.what()).find("'prompt[1]' must be a token id (an integer), got 2.5"), std::string::npos)
      << fraction.what();
  for (const char* body : {R"({"prompt": []})", R"({"prompt": [[]]})", R"({"prompt": [1, "a"]})", R"({"prompt": ["a", [1]]})",
                           R"({"prompt": [[1], "a"]})", R"({"prompt": [[1, [2]]]})", R"({"prompt": [true]})", R"({"prompt": {}})"})
    EXPECT_EQ(rejected_param(body), "prompt") << body;
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
