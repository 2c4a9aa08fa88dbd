// retain/core/dir_lock.h — one writer per output folder.
//
// `retain run` takes the lock of its --out folder before it reads or writes anything there, so that
// a second run on the same folder stops with a message naming the first instead of both writing
// results and resume points over each other. The lock is an flock(2) on DIR/.retain.lock, which holds
// its holder's line while held and is emptied at a clean end. The kernel drops the flock when its
// holder dies, so the file of a killed run (still holding a line) is recognised as stale and taken
// over, and the new holder reports it. Processes forked by the holder (`--jobs`
// children) share it; nothing started with exec inherits it (O_CLOEXEC).
#pragma once

#include <filesystem>
#include <string>

namespace retain {

class DirectoryLock {
 public:
  /// Locks `dir` (which must exist) or throws "[component] DIR is in use by another retain run
  /// (pid P, COMMAND, since TIME); ...". `what` names the holder in the lock file ("retain run").
  DirectoryLock(const std::filesystem::path& dir, const std::string& what, const std::string& component);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  /// What the lock file said when it was taken over from a holder that had died ("" if none).
  const std::string& stale_holder() const { return stale_holder_; }
  static constexpr const char* kFileName = ".retain.lock";

 private:
  int fd_ = -1;
  std::string stale_holder_;
};

}  // namespace retain
