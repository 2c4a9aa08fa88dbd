#include "retain/core/fault_injection.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace retain {

namespace {

struct Plan {
  std::map<std::string, long, std::less<>> at;  // point → the call that kills
  std::map<std::string, long, std::less<>> seen;
  std::mutex mutex;
};

Plan* plan() {  // parsed once; nullptr when RETAIN_TEST_FAULT is unset (the normal case)
  static Plan* const parsed = []() -> Plan* {
    const char* spec = std::getenv("RETAIN_TEST_FAULT");
    if (!spec || !*spec) return nullptr;
    auto* p = new Plan;
    std::string text(spec);
    size_t start = 0;
    while (start < text.size()) {
      const size_t end = std::min(text.find(',', start), text.size());
      const std::string item = text.substr(start, end - start);
      const size_t colon = item.find(':');
      if (colon != std::string::npos) p->at[item.substr(0, colon)] = std::atol(item.c_str() + colon + 1);
      start = end + 1;
    }
    return p;
  }();
  return parsed;
}

}  // namespace

void fault_point(std::string_view name) {
  Plan* p = plan();
  if (!p) return;
  std::lock_guard<std::mutex> lock(p->mutex);
  const auto it = p->at.find(name);
  if (it == p->at.end()) return;
  if (++p->seen[std::string(name)] == it->second) std::raise(SIGKILL);
}

}  // namespace retain
