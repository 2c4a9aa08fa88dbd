#include "retain/suite/sources/apt_archive.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/sha256.h"
#include "retain/suite/sources/process.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <unistd.h>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";

// An apt configuration string literal (apt has no escapes: a path with '"' cannot be written).
std::string apt_quote(const fs::path& path) {
  const std::string text = path.string();
  RETAIN_CHECK(text.find('"') == std::string::npos && text.find('\n') == std::string::npos, kComponent,
               "the cache path {} contains a quote or newline, which apt's configuration cannot hold", text);
  return "\"" + text + "\"";
}

// What must stand between a cached file's prefix and suffix: anything, a Debian version (after
// "name_": it starts with a digit, Policy 5.6.12) or an npm semver (after "name-": MAJOR.MINOR.PATCH
// first). The npm rule keeps package "foo" from taking the file of package "foo-bar"
// ("foo-bar-1.0.0.tgz" starts with "foo-").
enum class Version { any, debian, semver };

bool looks_like_version(const std::string& text, Version rule) {
  if (rule == Version::any) return true;
  const bool semver = rule == Version::semver;
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return false;
  if (semver) {
    size_t i = 0;
    for (int part = 0; part < 3; ++part) {
      const size_t start = i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
      if (i == start) return false;
      if (part < 2 && (i >= text.size() || text[i++] != '.')) return false;
    }
    if (i < text.size() && text[i] != '-' && text[i] != '+') return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '~' || c == '-' || c == '_' ||
           c == '%';
  });
}

// The last (in name order) regular file in `dir` named `prefix` VERSION `suffix`, or "".
fs::path find_file(const fs::path& dir, const std::string& prefix, const std::string& suffix, Version rule) {
  std::vector<fs::path> hits;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() >= prefix.size() + suffix.size() && name.rfind(prefix, 0) == 0 &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        looks_like_version(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()), rule))
      hits.push_back(entry.path());
  }
  std::sort(hits.begin(), hits.end());
  return hits.empty() ? fs::path() : hits.back();
}

std::string url_decode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Unpacks with `unpack(tmp)` into a temporary folder beside `target`, then renames it into place.
template <typename Unpack>
void unpack_atomically(const fs::path& target, Unpack unpack) {
  const fs::path tmp = target.string() + ".tmp-" + std::to_string(getpid());
  remove_tree(tmp);
  fs::create_directories(tmp);
  try {
    unpack(tmp);
    fs::rename(tmp, target);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
}

}  // namespace

std::string deb_version_from_filename(const std::string& filename) {
  const size_t first = filename.find('_');
  const size_t last = filename.rfind('_');
  if (first == std::string::npos || last == first) return "";
  return url_decode(filename.substr(first + 1, last - first - 1));
}

AptArchive::AptArchive(fs::path cache_root)
    : dir_(fs::absolute(cache_root).lexically_normal() / "apt"), lists_(dir_ / "lists") {}

void AptArchive::write_config() {
  for (const char* sub : {"lists/partial", "cache/archives/partial", "state", "etc/sources.list.d", "etc/apt.conf.d",
                          "debs", "unpacked"})
    fs::create_directories(dir_ / sub);
  // The system's sources, copied once: the cache keeps reading the same archive even if the system's
  // configuration changes later.
  const fs::path etc = dir_ / "etc";
  if (!fs::exists(etc / "sources.list")) {
    if (fs::exists("/etc/apt/sources.list")) fs::copy_file("/etc/apt/sources.list", etc / "sources.list.copy", fs::copy_options::overwrite_existing);
    if (fs::is_directory("/etc/apt/sources.list.d"))
      for (const auto& entry : fs::directory_iterator("/etc/apt/sources.list.d")) {
        const auto ext = entry.path().extension().string();
        if (ext == ".list" || ext == ".sources")
          fs::copy_file(entry.path(), etc / "sources.list.d" / entry.path().filename(), fs::copy_options::overwrite_existing);
      }
    write_file_atomic(etc / "sources.list", fs::exists(etc / "sources.list.copy") ? read_file(etc / "sources.list.copy", kComponent) : "",
                      kComponent);
  }
  if (!fs::exists(dir_ / "status")) write_file_atomic(dir_ / "status", "", kComponent);
  std::string config = fmt::format(
      "// Written by `retain data build`: apt reads and writes only below {}.\n"
      "Dir::Etc::parts {};\nDir::Etc::main {};\nDir::Etc::sourcelist {};\nDir::Etc::sourceparts {};\n"
      "Dir::State {};\nDir::State::Lists {};\nDir::State::status {};\nDir::Cache {};\n"
      "Dir::Cache::pkgcache \"\";\nDir::Cache::srcpkgcache \"\";\n"
      "Debug::NoLocking \"true\";\nAcquire::GzipIndexes \"false\";\n"
      "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled \"false\";\n"
      "#clear Acquire::Languages;\nAcquire::Languages {{ \"en\"; \"de\"; \"fr\"; }};\n",
      dir_.string(), apt_quote(dir_ / "etc/apt.conf.d"), apt_quote(dir_ / "etc/none.conf"),
      apt_quote(etc / "sources.list"), apt_quote(etc / "sources.list.d"), apt_quote(dir_ / "state"), apt_quote(lists_),
      apt_quote(dir_ / "status"), apt_quote(dir_ / "cache"));
  // As root, apt drops to the _apt user for downloads, which cannot write into a root-owned cache.
  if (geteuid() == 0) config += "APT::Sandbox::User \"root\";\n";
  write_file_atomic(dir_ / "apt.conf", config, kComponent);
}

void AptArchive::refresh_lists() {
  write_config();
  ProcessOptions options;
  options.env["APT_CONFIG"] = (dir_ / "apt.conf").string();
  options.env["LC_ALL"] = "C";
  run_process({"apt-get", "-q", "update"}, options);
  lists_checked_ = true;
}

const fs::path& AptArchive::lists_dir() {
  if (!lists_checked_) {
    if (find_file(lists_, "", "_Packages", Version::any).empty()) {
      RETAIN_CHECK(program_available("apt-get"), kComponent,
                   "no package lists in {} and apt-get is not available to download them", lists_.string());
      refresh_lists();
    }
    lists_checked_ = true;
  }
  return lists_;
}

std::vector<fs::path> AptArchive::list_files(const std::string& suffix) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(lists_dir())) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

UnpackedPackage AptArchive::fetch(const std::string& name) {
  RETAIN_CHECK(!name.empty() && name.find_first_of("/_ ") == std::string::npos && name[0] != '-', kComponent,
               "invalid Debian package name \"{}\"", name);
  const fs::path debs = dir_ / "debs";
  fs::path deb = find_file(debs, name + "_", ".deb", Version::debian);
  if (deb.empty()) {
    lists_dir();
    write_config();
    ProcessOptions options;
    options.env["APT_CONFIG"] = (dir_ / "apt.conf").string();
    options.env["LC_ALL"] = "C";
    options.working_dir = debs;
    run_process({"apt-get", "-q", "download", name}, options);
    deb = find_file(debs, name + "_", ".deb", Version::debian);
    RETAIN_CHECK(!deb.empty(), kComponent, "apt-get download {} succeeded but left no {}_*.deb in {}", name, name,
                 debs.string());
  }
  const std::string base = deb.stem().string();
  const fs::path target = dir_ / "unpacked" / base;
  if (!fs::is_directory(target))
    unpack_atomically(target, [&](const fs::path& tmp) { run_process({"dpkg", "-x", deb.string(), tmp.string()}); });
  return {target, {"deb", name, deb_version_from_filename(deb.filename().string()), deb.filename().string(), sha256_file(deb)}};
}

NpmPackages::NpmPackages(fs::path cache_root) : dir_(fs::absolute(cache_root).lexically_normal() / "npm") {}

UnpackedPackage NpmPackages::fetch(const std::string& name) {
  RETAIN_CHECK(!name.empty() && name[0] != '-' && name.find_first_of(" \n") == std::string::npos, kComponent,
               "invalid npm package name \"{}\"", name);
  // npm pack names the tarball after the package: "@scope/name" → "scope-name-VERSION.tgz".
  std::string stem = name[0] == '@' ? name.substr(1) : name;
  std::replace(stem.begin(), stem.end(), '/', '-');
  const fs::path tgz_dir = dir_ / "tgz";
  fs::create_directories(tgz_dir);
  fs::path tgz = find_file(tgz_dir, stem + "-", ".tgz", Version::semver);
  if (tgz.empty()) {
    RETAIN_CHECK(program_available("npm"), kComponent, "npm package {} is not in the cache {} and npm is not available",
                 name, tgz_dir.string());
    ProcessOptions options;
    options.working_dir = tgz_dir;
    options.env["npm_config_cache"] = (dir_ / "npm-cache").string();
    options.env["npm_config_update_notifier"] = "false";
    run_process({"npm", "pack", "--silent", name}, options);
    tgz = find_file(tgz_dir, stem + "-", ".tgz", Version::semver);
    RETAIN_CHECK(!tgz.empty(), kComponent, "npm pack {} succeeded but left no {}-*.tgz in {}", name, stem, tgz_dir.string());
  }
  const std::string file = tgz.filename().string();
  const std::string version = tgz.stem().string().substr(stem.size() + 1);
  const fs::path target = dir_ / "unpacked" / tgz.stem();
  fs::create_directories(dir_ / "unpacked");
  if (!fs::is_directory(target))
    unpack_atomically(target, [&](const fs::path& tmp) {
      run_process({"tar", "-xzf", tgz.string(), "-C", tmp.string(), "--no-same-owner"});
    });
  return {target, {"npm", name, version, file, sha256_file(tgz)}};
}

}  // namespace retain::suite
