// The fixture header of every test suite: where the fixtures are, a fresh folder per test, a toy
// task folder, the message of a thrown retain::Error, and EXPECT_MSG for "this text contains that"
// (on failure it prints the part and the text, a long one shortened). It needs no libtorch, so the
// core, tokenizer and eval suites use it as well; suites on tensors, models and runs include
// common/toy_run.h, which builds on it.
//
// A test file's preamble is `using namespace retain::testing;` (this gives `fs` too). Every test
// binary links tests/common/test_main.cpp and is registered with CTest one gtest suite per entry
// (retain_add_gtest in tests/CMakeLists.txt).
#pragma once

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/json.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace retain::testing {

namespace fs = std::filesystem;

inline fs::path source_dir() { return RETAIN_SOURCE_DIR; }
inline fs::path fixtures() { return source_dir() / "tests" / "fixtures"; }

/// A fresh, empty folder under the system temp dir, unique per test (and per parameter of a TEST_P).
inline fs::path temp_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->name()) : "x";
  for (char& c : test)
    if (c == '/') c = '_';
  auto dir = fs::temp_directory_path() / ("retain_" + tag + "_" + test + "_" + std::to_string(::getpid()));
  retain::remove_tree(dir);
  fs::create_directories(dir);
  return dir;
}

/// The tiny Llama of the fixtures (vocab 384, hidden 64, 2 layers, 4 heads over 2 kv heads).
inline const fs::path kTinyModel = fixtures() / "models" / "llama_gqa";

/// ROOT/NAME: a retain task folder, train = `copies` × {"say <label>" → label}, test = one of each.
inline fs::path make_task(const fs::path& root, const std::string& name, const std::vector<std::string>& labels,
                          int copies) {
  const auto dir = root / name;
  fs::create_directories(dir);
  write_file_atomic(dir / "task.json", json{{"name", name}, {"type", "classification"}, {"labels", labels}}.dump());
  std::string train, test;
  for (int c = 0; c < copies; ++c)
    for (const auto& label : labels) train += json{{"input", "say " + label}, {"output", label}}.dump() + "\n";
  for (const auto& label : labels) test += json{{"input", "say " + label}, {"output", label}}.dump() + "\n";
  write_file_atomic(dir / "train.jsonl", train);
  write_file_atomic(dir / "test.jsonl", test);
  return dir;
}

/// Writes `text` to `path` as it is (no atomic rename: for files a test damages or reads back).
inline void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

/// How often `part` occurs in `text`, without overlaps.
inline size_t occurrences(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

/// The message of the retain::Error thrown by f, or "" when nothing is thrown.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const retain::Error& e) {
    return e.what();
  }
  return "";
}

/// `text` itself, or its first 1500 and last 500 characters when longer than 2000 (a page, a log).
inline std::string shortened(const std::string& text) {
  if (text.size() <= 2000) return text;
  return text.substr(0, 1500) + "\n[... " + std::to_string(text.size() - 2000) + " characters ...]\n" +
         text.substr(text.size() - 500);
}

/// Predicate-formatters of EXPECT_MSG and EXPECT_NO_MSG.
inline ::testing::AssertionResult text_contains(const char* text_expr, const char* part_expr, const std::string& text,
                                                const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << text_expr << " does not contain " << part_expr << " = \"" << part
                                       << "\"; it is:\n"
                                       << shortened(text);
}
inline ::testing::AssertionResult text_lacks(const char* text_expr, const char* part_expr, const std::string& text,
                                             const std::string& part) {
  if (text.find(part) == std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << text_expr << " contains " << part_expr << " = \"" << part << "\"; it is:\n"
                                       << shortened(text);
}

}  // namespace retain::testing

/// EXPECT that `text` (an error message, a page, a file's contents) contains `part`.
#define EXPECT_MSG(text, part) EXPECT_PRED_FORMAT2(::retain::testing::text_contains, text, part)
/// ASSERT that `text` contains `part`.
#define ASSERT_MSG(text, part) ASSERT_PRED_FORMAT2(::retain::testing::text_contains, text, part)
/// EXPECT that `text` does not contain `part`.
#define EXPECT_NO_MSG(text, part) EXPECT_PRED_FORMAT2(::retain::testing::text_lacks, text, part)
