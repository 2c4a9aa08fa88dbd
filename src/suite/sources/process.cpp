#include "retain/suite/sources/process.h"

#include "retain/core/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace retain::suite {

namespace {

std::string command_line(const std::vector<std::string>& argv) { return fmt::format("{}", fmt::join(argv, " ")); }

// The last `lines` lines of `text`, at most 2000 characters.
std::string tail(const std::string& text, int lines = 8) {
  size_t pos = text.size();
  while (pos > 0 && (text[pos - 1] == '\n' || text[pos - 1] == ' ')) --pos;
  const size_t end = pos;
  int seen = 0;
  while (pos > 0 && seen < lines) {
    --pos;
    if (text[pos] == '\n') ++seen;
  }
  std::string out = text.substr(pos, end - pos);
  if (out.size() > 2000) out = "..." + out.substr(out.size() - 2000);
  return out;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  RETAIN_CHECK(!argv.empty(), options.component, "run_process: empty command");
  // O_CLOEXEC: no other program this process starts (another thread's run_process, a --jobs child)
  // inherits these pipes, which would keep a finished child's output open.
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  const auto close_all = [&] {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]})
      if (fd >= 0) close(fd);
  };
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    close_all();
    fail(options.component, "cannot create pipes for {}: {}", command_line(argv), std::strerror(error));
  }

  // Everything the child needs is prepared before fork (no allocation after it).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    if (!options.env.count(name)) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string dir = options.working_dir.string();

  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close_all();
    fail(options.component, "cannot start {}: fork failed: {}", command_line(argv), std::strerror(error));
  }
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, 0);
    if (!dir.empty() && chdir(dir.c_str()) != 0) {
      const char msg[] = "run_process: cannot change to the working directory\n";
      (void)!write(2, msg, sizeof(msg) - 1);
      _exit(126);
    }
    environ = envp.data();
    execvp(args[0], args.data());
    const char msg[] = "run_process: exec failed (program not found?)\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);

  ProcessResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buffer[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    fail(options.component, "`{}` was killed by signal {}; its stderr ends:\n{}", command_line(argv), WTERMSIG(status),
         tail(result.err));
  result.exit_code = WEXITSTATUS(status);
  if (result.exit_code != 0)
    fail(options.component, "`{}` failed with exit code {}{}; its stderr ends:\n{}", command_line(argv),
         result.exit_code, dir.empty() ? "" : " (in " + dir + ")", tail(result.err));
  return result;
}

bool program_available(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string paths(path);
  size_t start = 0;
  while (start <= paths.size()) {
    const size_t end = paths.find(':', start);
    const std::string dir = paths.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

}  // namespace retain::suite
