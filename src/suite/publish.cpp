#include "publish.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/json.h"

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
    const fs::path old = out.string() + ".old-" + std::to_string(getpid());
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

}  // namespace retain::suite
