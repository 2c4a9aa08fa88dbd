// One writer per output folder (core/dir_lock.h): a second holder is refused naming the first, a
// clean end empties the lock file, and the lock of a holder that died is taken over and reported.
#include "common/test_support.h"
#include "retain/core/dir_lock.h"
#include "retain/core/error.h"
#include "retain/core/files.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <optional>

namespace {

using namespace retain::testing;

TEST(DirectoryLock, SecondHolderRefusedUntilTheFirstEnds) {
  const auto dir = temp_dir("dir_lock");
  std::optional<retain::DirectoryLock> first;
  first.emplace(dir, "retain run", "run");
  EXPECT_TRUE(first->stale_holder().empty());
  const std::string message = error_of([&] { retain::DirectoryLock second(dir, "retain run", "run"); });
  EXPECT_MSG(message, "[run] " + dir.string() + " is in use by another retain run (pid " + std::to_string(getpid()));
  EXPECT_MSG(message, "wait for it to end or choose another folder");
  first.reset();
  EXPECT_EQ(retain::read_file(dir / retain::DirectoryLock::kFileName), "");  // a clean end
  const retain::DirectoryLock again(dir, "retain run", "run");
  EXPECT_TRUE(again.stale_holder().empty());
}

TEST(DirectoryLock, LockOfADeadHolderIsTakenOver) {
  const auto dir = temp_dir("dir_lock_stale");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    new retain::DirectoryLock(dir, "retain run", "run");  // never destroyed: the process ends holding it
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const retain::DirectoryLock lock(dir, "retain run", "run");
  EXPECT_MSG(lock.stale_holder(), "pid " + std::to_string(child) + " on ");
  EXPECT_MSG(lock.stale_holder(), "retain run since ");
}

TEST(DirectoryLock, MissingFolderIsNamed) {
  const auto dir = temp_dir("dir_lock_missing") / "absent";
  EXPECT_MSG(error_of([&] { retain::DirectoryLock lock(dir, "retain run", "run"); }), "cannot open the lock file " + dir.string());
}

}  // namespace
