#include "publish.h"

#include "retain/core/error.h"
#include "retain/core/fault_injection.h"
#include "retain/core/files.h"
#include "retain/core/json.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace retain::suite {

namespace fs = std::filesystem;

constexpr const char* kComponent = "data";

fs::path temporary_beside(const fs::path& out) { return out.string() + ".tmp-" + std::to_string(getpid()); }

bool is_replaceable_suite(const fs::path& dir) {
  if (!fs::is_directory(dir)) return false;
  if (fs::is_empty(dir)) return true;
  const fs::path manifest = dir / "manifest.json";
  if (!fs::is_regular_file(manifest)) return false;
  try {
    return read_json_file(manifest).value("format", std::string()) == "retain-suite/1";
  } catch (const std::exception&) {
    return false;
  }
}

void publish(const fs::path& tmp, const fs::path& out, bool overwrite) {
  if (fs::exists(out)) {
    RETAIN_CHECK(overwrite && is_replaceable_suite(out), kComponent,
                 "{} appeared while building, or is not a suite folder; left untouched (the new build is in {})",
                 out.string(), tmp.string());
    // One atomic exchange: at every moment OUT is the old suite or the new one, even if the process
    // is killed here (the two renames of the fallback leave a moment with no OUT at all).
    if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) == 0) {
      fault_point("publish");  // tests: killed with the new suite in place and the old one not yet removed
      remove_tree(tmp);        // now the old suite
      return;
    }
    if (errno != EINVAL && errno != ENOSYS)
      fail(kComponent, "cannot exchange {} and {}: {}", tmp.string(), out.string(), std::strerror(errno));
    const fs::path old = out.string() + ".old-" + std::to_string(getpid());  // a filesystem without RENAME_EXCHANGE
    fs::rename(out, old);
    try {
      fs::rename(tmp, out);
    } catch (...) {
      fs::rename(old, out);  // the old suite goes back where it was
      throw;
    }
    remove_tree(old);
  } else {
    fs::rename(tmp, out);
  }
}

size_t remove_stale_temporaries(const fs::path& out) {
  const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  const std::string stem = out.filename().string();
  std::error_code ec;
  if (stem.empty() || !fs::is_directory(parent, ec)) return 0;
  size_t removed = 0;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    for (const char* kind : {".tmp-", ".old-"}) {
      const std::string prefix = stem + kind;
      if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string digits = name.substr(prefix.size());
      if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
      const pid_t pid = static_cast<pid_t>(std::stol(digits));
      if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;  // its builder may still be at work
      remove_tree(entry.path());
      ++removed;
    }
  }
  return removed;
}

}  // namespace retain::suite
