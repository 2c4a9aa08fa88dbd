#include "retain/core/dir_lock.h"

#include "retain/core/error.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace retain {

namespace {

std::string read_all(int fd) {
  std::string text;
  char buffer[512];
  if (lseek(fd, 0, SEEK_SET) < 0) return text;
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) text.append(buffer, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

DirectoryLock::DirectoryLock(const std::filesystem::path& dir, const std::string& what, const std::string& component) {
  const std::filesystem::path path = dir / kFileName;
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(component, "cannot open the lock file {}: {}", path.string(), std::strerror(errno));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const std::string holder = read_all(fd_);
    close(fd_);
    fd_ = -1;
    if (error == EWOULDBLOCK)
      fail(component, "{} is in use by another {} ({}); wait for it to end or choose another folder", dir.string(), what,
           holder.empty() ? "holder unknown" : holder);
    fail(component, "cannot lock {}: {}", path.string(), std::strerror(error));
  }
  stale_holder_ = read_all(fd_);  // a holder that died left its line; the kernel released its lock
  char host[256] = "?";
  gethostname(host, sizeof(host) - 1);
  const std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const std::string line = fmt::format("pid {} on {}, {} since {}\n", getpid(), host, what, when);
  if (ftruncate(fd_, 0) != 0 || pwrite(fd_, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
    const int error = errno;
    close(fd_);
    fd_ = -1;
    fail(component, "cannot write the lock file {}: {}", path.string(), std::strerror(error));
  }
}

DirectoryLock::~DirectoryLock() {
  // An empty file marks a clean end; the file stays (removing it would race a new holder's open).
  if (fd_ < 0) return;
  (void)!ftruncate(fd_, 0);
  close(fd_);  // releases the flock
}

}  // namespace retain
