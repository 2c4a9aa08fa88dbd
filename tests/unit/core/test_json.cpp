// Strict JSON helpers: errors must name the file, line and key.
#include "retain/core/json.h"
#include "retain/core/files.h"

#include "common/test_support.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace {

using namespace retain::testing;

std::filesystem::path temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("retain_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

TEST(Json, ParseErrorNamesFileLineAndColumn) {
  auto path = temp_path("bad.json");
  retain::write_file_atomic(path, "{\n  \"a\": 1,\n  \"b\": ]\n}\n");
  auto message = error_of([&] { retain::read_json_file(path, "config"); });
  EXPECT_MSG(message, "[config]");
  EXPECT_MSG(message, path.string() + ":3:");
}

// A number past a double is nlohmann's out_of_range, not a parse_error: it is named like one
// (fuzz/model_config.cpp found "rms_norm_eps": 1e3050 escaping as an uncaught exception).
TEST(Json, NumberPastADoubleIsNamed) {
  EXPECT_MSG(error_of([] { retain::parse_json("{\"rms_norm_eps\": 1e3050}", "config.json", "config"); }),
             "[config] config.json: malformed JSON (number overflow parsing '1e3050')");
  auto path = temp_path("big.jsonl");
  retain::write_file_atomic(path, "{\"x\": 1}\n{\"x\": -1e999}\n");
  EXPECT_MSG(error_of([&] { retain::for_each_jsonl(path, [](size_t, const retain::json&) {}); }),
             path.string() + ":2: malformed JSON line");
}

TEST(Json, GetReportsMissingAndMistypedKeys) {
  retain::json j = {{"hidden_size", "64"}, {"layers", 2}};
  auto missing = error_of([&] { retain::json_get<int64_t>(j, "vocab_size", "config.json", "model"); });
  EXPECT_MSG(missing, "missing key \"vocab_size\"");
  auto mistyped = error_of([&] { retain::json_get<int64_t>(j, "hidden_size", "config.json", "model"); });
  EXPECT_MSG(mistyped, "\"hidden_size\" is a string, expected an integer");
  EXPECT_EQ(retain::json_get<int64_t>(j, "layers", "config.json", "model"), 2);
  EXPECT_EQ(retain::json_get_or<double>(j, "rope_theta", 10000.0, "config.json", "model"), 10000.0);
  // A float too large for the integer type is a mistyped value, not a cast (fuzz/model_config.cpp:
  // 6.11111e+89 read as an integer was undefined behaviour).
  retain::json big = {{"hidden_size", 6.11111e+89}, {"layers", 4.0}, {"neg", -1.0}};
  EXPECT_MSG(error_of([&] { retain::json_get<int64_t>(big, "hidden_size", "config.json", "model"); }),
             "\"hidden_size\" is a number, expected an integer");
  EXPECT_EQ(retain::json_get<int64_t>(big, "layers", "config.json", "model"), 4);
  EXPECT_MSG(error_of([&] { retain::json_get<uint32_t>(big, "neg", "config.json", "model"); }), "expected an integer");
}

TEST(Json, JsonlNamesTheBadLine) {
  auto path = temp_path("in.jsonl");
  retain::write_file_atomic(path, "{\"text\": \"a\"}\n\n{\"text\": \"b\"}\n{\"text\": \n");
  size_t seen = 0;
  auto message = error_of([&] { retain::for_each_jsonl(path, [&](size_t, const retain::json&) { ++seen; }); });
  EXPECT_EQ(seen, 2u);
  EXPECT_MSG(message, path.string() + ":4:");
}

TEST(Json, JsonlVisitorErrorsCarryTheLine) {
  auto path = temp_path("in2.jsonl");
  retain::write_file_atomic(path, "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n");
  auto message = error_of([&] {
    retain::for_each_jsonl(path, [&](size_t, const retain::json& v) { retain::json_get<std::string>(v, "text", "line", "tokenize"); });
  });
  EXPECT_MSG(message, path.string() + ":2:");
  EXPECT_MSG(message, "missing key \"text\"");
}

}  // namespace
