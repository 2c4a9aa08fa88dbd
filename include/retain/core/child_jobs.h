// retain/core/child_jobs.h — work run in forked child processes, a few at a time.
//
// `retain run --jobs N` trains N methods at once this way: separate processes, so that nothing a
// method touches (libtorch's global random generator, its thread pool, the allocator) is shared with
// another, and a run in jobs gives each method the same results as a run of that method alone with
// the same thread count. Fork before the parent has started any thread (libtorch's pool included):
// the child inherits only the forking thread.
#pragma once

#include <filesystem>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace retain {

namespace fs = std::filesystem;

struct ChildJob {
  std::string name;
  fs::path log;                 // the child's stdout and stderr (created, or appended to); empty: the parent's
  std::function<void()> work;   // runs in the child; an exception ends it with status 1
};

struct ChildJobResult {
  std::string name;
  fs::path log;
  int exit_status = 0;  // 0 = success; 128 + N when killed by signal N
  double seconds = 0;
};

/// Runs every job in its own child process, at most `parallel` at once, in order of the list;
/// `on_done` (in the parent) is called as each ends. Returns the results in the jobs' order. Throws
/// ("[component] ...") only when a process cannot be started, after stopping (SIGTERM) and reaping
/// the children already running; a failed job is a nonzero exit_status. A child gets SIGTERM when
/// the parent dies, so none outlives it.
std::vector<ChildJobResult> run_child_jobs(const std::vector<ChildJob>& jobs, int parallel,
                                           const std::function<void(const ChildJobResult&)>& on_done,
                                           const std::string& component);

/// The building blocks of run_child_jobs, also used by `retain launch` (one rank per child).
///
/// Forks and runs `job` in the child (which gets SIGTERM when the parent dies, writes to job.log or,
/// when that is empty, to the parent's stdout and stderr, and ends with status 0, or 1 when work
/// throws); returns its pid. Throws "[component] cannot start ..." when fork fails.
pid_t start_child_job(const ChildJob& job, const std::string& component);

/// A waitpid status as one number: the exit code, or 128 + N when killed by signal N.
int exit_status_of(int wait_status);

/// "exited with status 3", "was killed by signal 9 (Killed)", for an exit_status_of value.
std::string describe_exit_status(int exit_status);

/// Sends `signal` to each of `pids`, waits up to `grace_seconds` for them to end, then SIGKILLs the
/// rest; reaps them all and returns their exit statuses (in the order of `pids`).
std::vector<int> stop_children(const std::vector<pid_t>& pids, int signal, double grace_seconds);

/// The last `lines` lines of a log file ("" when it cannot be read), for error messages.
std::string log_tail(const fs::path& log, int lines);

}  // namespace retain
