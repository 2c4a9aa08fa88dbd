// Test helpers that need no libtorch: fixture paths, temporary folders, error capture. Suites that
// link retain_base or retain_eval only include this; tensor suites include test_support.h.
#pragma once

#include "retain/core/error.h"
#include "retain/core/files.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

namespace retain::testing {

inline std::filesystem::path source_dir() { return RETAIN_SOURCE_DIR; }
inline std::filesystem::path fixtures() { return source_dir() / "tests" / "fixtures"; }

/// A fresh, empty folder under the system temp dir, unique per test.
inline std::filesystem::path temp_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             ("retain_" + tag + "_" + (info ? std::string(info->name()) : "x") + "_" + std::to_string(::getpid()));
  retain::remove_tree(dir);
  std::filesystem::create_directories(dir);
  return dir;
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

}  // namespace retain::testing
