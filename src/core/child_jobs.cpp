#include "retain/core/child_jobs.h"

#include "retain/core/error.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>

namespace retain {

namespace {

[[noreturn]] void child_main(const ChildJob& job, pid_t parent) {
  // A child never outlives its parent (a killed `retain run` must not leave methods training into
  // folders that a later --resume writes too).
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) std::_Exit(1);
  if (!job.log.empty()) {
    // Appended: a resumed job's log keeps the interrupted attempt's lines.
    const int fd = ::open(job.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "cannot open %s: %s\n", job.log.c_str(), std::strerror(errno));
      std::_Exit(1);
    }
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    std::cerr << "== job " << job.name << ", process " << ::getpid() << '\n';
  }
  int status = 0;
  try {
    job.work();
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n';
    status = 1;
  } catch (...) {
    std::cerr << "unknown exception\n";
    status = 1;
  }
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(status);  // no atexit handlers or static destructors: they belong to the parent
}

}  // namespace

pid_t start_child_job(const ChildJob& job, const std::string& component) {
  const pid_t parent = ::getpid();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);  // nothing buffered may be written twice, by parent and child
  const pid_t pid = ::fork();
  RETAIN_CHECK(pid >= 0, component, "cannot start job \"{}\": fork failed: {}", job.name, std::strerror(errno));
  if (pid == 0) child_main(job, parent);
  return pid;
}

int exit_status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  return 128 + (WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0);
}

std::string describe_exit_status(int exit_status) {
  if (exit_status > 128 && exit_status < 128 + NSIG) {
    const int signal = exit_status - 128;
    return fmt::format("was killed by signal {} ({})", signal, ::strsignal(signal));
  }
  return fmt::format("exited with status {}", exit_status);
}

std::vector<int> stop_children(const std::vector<pid_t>& pids, int signal, double grace_seconds) {
  std::vector<int> statuses(pids.size(), -1);
  for (const pid_t pid : pids) ::kill(pid, signal);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_seconds);
  bool killed = false;
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < pids.size(); ++i) {
      if (statuses[i] >= 0) continue;
      int status = 0;
      const pid_t got = ::waitpid(pids[i], &status, WNOHANG);
      if (got == pids[i]) {
        statuses[i] = exit_status_of(status);
      } else if (got < 0 && errno != EINTR) {
        statuses[i] = 0;  // not ours any more (reaped elsewhere)
      } else {
        all = false;
      }
    }
    if (all) return statuses;
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      for (size_t i = 0; i < pids.size(); ++i)
        if (statuses[i] < 0) ::kill(pids[i], SIGKILL);
      killed = true;
    }
    ::usleep(10000);
  }
}

std::vector<ChildJobResult> run_child_jobs(const std::vector<ChildJob>& jobs, int parallel,
                                           const std::function<void(const ChildJobResult&)>& on_done,
                                           const std::string& component) {
  RETAIN_CHECK(parallel >= 1, component, "at least one job at a time is needed, got {}", parallel);
  using clock = std::chrono::steady_clock;
  std::vector<ChildJobResult> results(jobs.size());
  std::map<pid_t, std::pair<size_t, clock::time_point>> running;
  // On any error in the parent, the children started so far are stopped and reaped before it throws.
  auto stop_all = [&] {
    std::vector<pid_t> pids;
    for (const auto& [pid, job] : running) pids.push_back(pid);
    stop_children(pids, SIGTERM, /*grace_seconds=*/1e9);  // wait as long as they need, as before
    running.clear();
  };
  size_t next = 0;
  try {
    while (next < jobs.size() || !running.empty()) {
      while (static_cast<int>(running.size()) < parallel && next < jobs.size()) {
        const pid_t pid = start_child_job(jobs[next], component);
        running[pid] = {next, clock::now()};
        ++next;
      }
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, 0);
      if (pid < 0) {
        RETAIN_CHECK(errno == EINTR, component, "waiting for the jobs failed: {}", std::strerror(errno));
        continue;
      }
      auto it = running.find(pid);
      if (it == running.end()) continue;  // not one of ours
      const auto [index, started] = it->second;
      running.erase(it);
      ChildJobResult& r = results[index];
      r.name = jobs[index].name;
      r.log = jobs[index].log;
      r.exit_status = exit_status_of(status);
      r.seconds = std::chrono::duration<double>(clock::now() - started).count();
      if (on_done) on_done(r);
    }
  } catch (...) {
    stop_all();
    throw;
  }
  return results;
}

std::string log_tail(const fs::path& log, int lines) {
  std::ifstream in(log);
  if (!in) return "";
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    // Progress bars rewrite one line with '\r': keep what the terminal would show.
    if (const auto cr = line.rfind('\r'); cr != std::string::npos) line = line.substr(cr + 1);
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += l + '\n';
  return out;
}

}  // namespace retain
