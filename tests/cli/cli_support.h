// Shared by the suites that run the `retain` program (build/retain, RETAIN_CLI) as a user runs it:
// a command line's exit code and output, and what a refused command must print. No libtorch, so the
// Chromium report suite uses it too.
#pragma once

#include "common/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace retain::testing {

/// The tiny model's vocabulary size (kTinyModel).
constexpr int64_t kTinyVocab = 384;

struct Result {
  int code;  // exit status, or 128 + signal when the program was killed
  std::string out, err;
};

/// `s` single-quoted for the shell.
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs a shell command line, capturing stdout and stderr in files beside the test's temp folders.
inline Result shell(const std::string& command) {
  static int counter = 0;
  const auto base =
      fs::temp_directory_path() / ("retain_cli_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  const std::string out = base.string() + ".out", err = base.string() + ".err";
  const int status = std::system((command + " >" + quote(out) + " 2>" + quote(err)).c_str());
  Result result{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), retain::read_file(out),
                retain::read_file(err)};
  fs::remove(out);
  fs::remove(err);
  return result;
}

/// Runs `retain ARGS...`; `env` is prepended to the command line ("NAME=value ").
inline Result run(const std::vector<std::string>& args, const std::string& env = "") {
  std::string command = env + quote(RETAIN_CLI);
  for (const auto& arg : args) command += " " + quote(arg);
  return shell(command);
}

/// Exit code 1 and one "retain: error:" message that contains every part.
inline void expect_error(const Result& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.code, 1) << "stderr: " << r.err;
  EXPECT_MSG(r.err, "retain: error: ");
  for (const auto& part : parts) EXPECT_MSG(r.err, part);
}

/// A usage error reported by CLI11: its own exit code (100 and up), never 1 or a crash.
inline void expect_usage_error(const Result& r, const std::string& part) {
  EXPECT_GE(r.code, 100) << r.err;
  EXPECT_LT(r.code, 128) << r.err;
  EXPECT_MSG(r.err, part);
}

/// A copy of the tiny model's folder in a fresh temp folder, to be damaged by the test.
inline fs::path model_copy(const std::string& tag) {
  auto dir = temp_dir(tag) / "model";
  fs::copy(kTinyModel, dir, fs::copy_options::recursive);
  return dir;
}

/// `retain forward` of MODEL on the JSONL `lines` (written to DIR/in.jsonl), into DIR/out.safetensors.
inline Result forward_on(const fs::path& model, const fs::path& dir, const std::string& lines) {
  write_text(dir / "in.jsonl", lines);
  return run({"forward", "--model", model.string(), "--input", (dir / "in.jsonl").string(), "--output",
              (dir / "out.safetensors").string()});
}

}  // namespace retain::testing
