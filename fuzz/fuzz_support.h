// fuzz/fuzz_support.h — what every fuzz target shares (one target per reader, fuzz/<name>.cpp).
//
// The contract each target checks: a reader given any bytes either returns or throws retain::Error
// (a message naming the input). Anything else — a crash, a sanitizer report, a hang, or any other
// exception escaping (std::out_of_range from a stray substr, nlohmann's type_error, std::bad_alloc
// from a length read from the file) — is a finding: libFuzzer stops and saves the input.
#pragma once

#include "retain/core/error.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace retain::fuzz {

/// The input as a string.
inline std::string bytes(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

/// A folder of this process for input files (readers that take paths), under $TMPDIR.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("retain_fuzz_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

/// Writes `contents` to scratch()/name and returns its path.
inline std::filesystem::path write_input(const std::string& name, const std::string& contents) {
  const auto path = scratch() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
  return path;
}

/// Runs `f`, accepting a retain::Error as the reader's clean refusal.
template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const retain::Error&) {
  }
}

}  // namespace retain::fuzz
