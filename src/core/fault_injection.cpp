#include "retain/core/fault_injection.h"

#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace retain {

namespace {

// RETAIN_TEST_FAULT is read at every point (a test may set it in a forked child after the parent
// has passed points already); only the counts persist.
std::map<std::string, long, std::less<>>& seen() {
  static std::map<std::string, long, std::less<>> counts;
  return counts;
}
std::mutex& seen_mutex() {
  static std::mutex m;
  return m;
}

// The N of "name:N" in `spec`, or 0.
long kill_at(std::string_view spec, std::string_view name) {
  size_t start = 0;
  while (start < spec.size()) {
    const size_t end = std::min(spec.find(',', start), spec.size());
    const std::string_view item = spec.substr(start, end - start);
    if (item.size() > name.size() && item.substr(0, name.size()) == name && item[name.size()] == ':')
      return std::atol(std::string(item.substr(name.size() + 1)).c_str());
    start = end + 1;
  }
  return 0;
}

}  // namespace

void fault_point(std::string_view name) {
  const char* spec = std::getenv("RETAIN_TEST_FAULT");
  if (!spec || !*spec) return;
  const long at = kill_at(spec, name);
  if (at <= 0) return;
  std::lock_guard<std::mutex> lock(seen_mutex());
  if (++seen()[std::string(name)] == at) std::raise(SIGKILL);
}

}  // namespace retain
