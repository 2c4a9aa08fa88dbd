// retain/suite/sources/process.h — running a helper program (apt-get, dpkg, npm, tar) safely.
//
// The program is started with fork/execvp and an argv vector, never through a shell, so no argument
// is ever interpreted. A failure names the command line and quotes the tail of its stderr.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace retain::suite {

struct ProcessOptions {
  std::filesystem::path working_dir;            // empty: the caller's
  std::map<std::string, std::string> env;       // added to (or replacing in) the caller's environment
  std::string component = "data";               // the bracketed part of error messages
};

struct ProcessResult {
  int exit_code = 0;
  std::string out;  // everything written to stdout
  std::string err;  // everything written to stderr
};

/// Runs argv[0] (looked up in PATH) with the arguments argv[1..] and waits for it. Returns its output;
/// throws retain::Error when it cannot be started, is killed by a signal, or exits non-zero, naming
/// the command and the last lines of its stderr.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

/// True when `program` is an executable found in PATH.
bool program_available(const std::string& program);

}  // namespace retain::suite
