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

TEST(Json, GetReportsMissingAndMistypedKeys) {
  retain::json j = {{"hidden_size", "64"}, {"layers", 2}};
  auto missing = error_of([&] { retain::json_get<int64_t>(j, "vocab_size", "config.json", "model"); });
  EXPECT_MSG(missing, "missing key \"vocab_size\"");
  auto mistyped = error_of([&] { retain::json_get<int64_t>(j, "hidden_size", "config.json", "model"); });
  EXPECT_MSG(mistyped, "\"hidden_size\" is a string, expected an integer");
  EXPECT_EQ(retain::json_get<int64_t>(j, "layers", "config.json", "model"), 2);
  EXPECT_EQ(retain::json_get_or<double>(j, "rope_theta", 10000.0, "config.json", "model"), 10000.0);
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
