#include "retain/core/child_jobs.h"

#include "retain/core/error.h"

#include <fcntl.h>
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

[[noreturn]] void child_main(const ChildJob& job) {
  const int fd = ::open(job.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "cannot open %s: %s\n", job.log.c_str(), std::strerror(errno));
    std::_Exit(1);
  }
  ::dup2(fd, STDOUT_FILENO);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
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

std::vector<ChildJobResult> run_child_jobs(const std::vector<ChildJob>& jobs, int parallel,
                                           const std::function<void(const ChildJobResult&)>& on_done,
                                           const std::string& component) {
  RETAIN_CHECK(parallel >= 1, component, "at least one job at a time is needed, got {}", parallel);
  using clock = std::chrono::steady_clock;
  std::vector<ChildJobResult> results(jobs.size());
  std::map<pid_t, std::pair<size_t, clock::time_point>> running;
  size_t next = 0;
  while (next < jobs.size() || !running.empty()) {
    while (static_cast<int>(running.size()) < parallel && next < jobs.size()) {
      std::cout.flush();
      std::cerr.flush();
      std::fflush(nullptr);  // nothing buffered may be written twice, by parent and child
      const pid_t pid = ::fork();
      RETAIN_CHECK(pid >= 0, component, "cannot start job \"{}\": fork failed: {}", jobs[next].name, std::strerror(errno));
      if (pid == 0) child_main(jobs[next]);
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
    r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    r.seconds = std::chrono::duration<double>(clock::now() - started).count();
    if (on_done) on_done(r);
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
