#include "retain/core/files.h"

#include "retain/core/error.h"
#include "retain/core/fault_injection.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace retain {

std::string read_file(const fs::path& path, const std::string& component) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(component, "cannot read {}: {}", path.string(), std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail(component, "error while reading {}", path.string());
  return buffer.str();
}

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& write,
                       const std::string& component) {
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) fail(component, "cannot create {}: {}", tmp.string(), std::strerror(errno));
      errno = 0;
      write(out);
      out.flush();
      if (!out)
        fail(component, "error while writing {}: {} (disk full, or over a file-size limit?)", tmp.string(),
             errno ? std::strerror(errno) : "the stream failed");
    }
    fault_point("write");  // tests: killed with the temporary written and PATH not yet replaced
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) fail(component, "cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void write_file_atomic(const fs::path& path, const std::string& contents, const std::string& component) {
  write_file_atomic(path, [&](std::ostream& out) { out.write(contents.data(), static_cast<std::streamsize>(contents.size())); },
                    component);
}

size_t remove_leftover_temporaries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  std::vector<fs::path> leftovers;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec))
    if (entry.is_regular_file(ec) && entry.path().filename().string().find(".tmp-") != std::string::npos)
      leftovers.push_back(entry.path());
  for (const auto& path : leftovers) fs::remove(path, ec);
  return leftovers.size();
}

uintmax_t remove_tree(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::symlink_status(path, ec);
  if (ec || !fs::exists(status)) return 0;
  uintmax_t removed = 0;
  if (fs::is_directory(status)) {
    std::vector<fs::path> children;
    for (const auto& entry : fs::directory_iterator(path)) children.push_back(entry.path());
    for (const auto& child : children) removed += remove_tree(child);
  }
  if (!fs::remove(path, ec) || ec) fail("io", "cannot remove {}: {}", path.string(), ec ? ec.message() : "unknown error");
  return removed + 1;
}

}  // namespace retain
