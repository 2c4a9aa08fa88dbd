// retain/suite/sources/apt_archive.h — Debian packages and package lists in a project-owned cache,
// without root and without touching the system's apt state.
//
// Layout under CACHE/apt/ (CACHE is `--cache`, default ~/.cache/retain or $RETAIN_CACHE):
//   apt.conf            the configuration every apt-get call reads (APT_CONFIG): state, lists and
//                       cache folders below, the system's sources copied into etc/, no apt.conf.d
//                       parts, Acquire::Languages { en; de; fr; } so Translation-* files come down,
//                       uncompressed lists
//   etc/                sources.list(.d) copied from /etc/apt when the cache is first made
//   lists/              the downloaded Packages, Translation-* and Release files
//   debs/NAME_VER_ARCH.deb    `apt-get download` results
//   unpacked/NAME_VER_ARCH/   `dpkg -x` of each .deb
// Lists are downloaded once (`apt-get update` runs only when no Packages list is present, or when
// refresh_lists() is called); a package present in debs/ and unpacked/ is never fetched again, so a
// second build is offline.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace retain::suite {

/// One file a suite was built from, for the manifest.
struct SourceFile {
  std::string kind;     // "deb", "npm", "list"
  std::string package;  // package name ("" for a list)
  std::string version;  // package version ("" for a list)
  std::string file;     // file name inside the cache
  std::string sha256;
};

/// A package unpacked in the cache.
struct UnpackedPackage {
  std::filesystem::path root;  // the folder holding usr/..., package/...
  SourceFile source;
};

class AptArchive {
 public:
  /// Uses (and on first use creates) CACHE/apt. Nothing is downloaded until asked for.
  explicit AptArchive(std::filesystem::path cache_root);

  /// The lists folder, downloading the lists first if no Packages list is there yet.
  const std::filesystem::path& lists_dir();

  /// The list files whose names end with `suffix` (e.g. "_binary-amd64_Packages",
  /// "_i18n_Translation-en"), sorted by name. Downloads the lists first if needed.
  std::vector<std::filesystem::path> list_files(const std::string& suffix);

  /// Runs `apt-get update` into the cache (the archive is live: new lists may differ).
  void refresh_lists();

  /// The package `name` unpacked in the cache: downloaded with `apt-get download` and unpacked
  /// with `dpkg -x` unless already there. Throws naming the package and apt's error.
  UnpackedPackage fetch(const std::string& name);

  const std::filesystem::path& dir() const { return dir_; }

 private:
  void write_config();
  std::filesystem::path dir_;
  std::filesystem::path lists_;
  bool lists_checked_ = false;
};

/// npm packages in CACHE/npm: `npm pack NAME` into CACHE/npm/tgz/, unpacked with `tar -xzf` into
/// CACHE/npm/unpacked/<tgz name>/ (the tarball's files are under package/). npm's own cache is
/// CACHE/npm/npm-cache. A package whose tarball is present is not fetched again.
class NpmPackages {
 public:
  explicit NpmPackages(std::filesystem::path cache_root);
  UnpackedPackage fetch(const std::string& name);

 private:
  std::filesystem::path dir_;
};

/// The version part of a Debian archive file name "name_1%3a3.0-37_all.deb" → "1:3.0-37".
std::string deb_version_from_filename(const std::string& filename);

}  // namespace retain::suite
