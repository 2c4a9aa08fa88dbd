// retain/suite/suite_sources.h — the source files a suite build reads, fetched on first use into the
// cache and parsed once, with a record of each file (name, version, SHA-256) for the manifest.
#pragma once

#include "retain/core/json.h"
#include "retain/suite/sources/apt_archive.h"
#include "retain/suite/sources/debian_descriptions.h"
#include "retain/suite/sources/wordnet.h"

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace retain::suite {

class SuiteSources {
 public:
  SuiteSources(const std::filesystem::path& cache, std::ostream& log);

  /// The root of an unpacked Debian package (fetched if needed).
  std::filesystem::path deb(const std::string& package);
  /// The root of an unpacked npm package (its files are under package/).
  std::filesystem::path npm(const std::string& package);

  /// All packages of the binary Packages lists with their English long descriptions.
  const std::vector<PackageDescription>& descriptions();
  /// Description-md5 → translation, from the Translation-<lang> lists ("en", "de", "fr").
  const std::map<std::string, Translation>& translations(const std::string& lang);
  /// The synsets of WordNet's data.<pos> ("noun", "verb", "adj", "adv").
  const std::vector<Synset>& wordnet(const std::string& pos);

  /// Every file read so far: [{kind, package, version, file, sha256}], sorted by kind and file.
  json manifest() const;

 private:
  void record(const SourceFile& file);
  /// The root of the package `key` ("deb:NAME", "npm:NAME"), fetched the first time (logging
  /// "retain data: WHAT") and recorded.
  std::filesystem::path unpacked(const std::string& key, const std::string& what,
                                 const std::function<UnpackedPackage()>& fetch);
  std::vector<std::filesystem::path> lists(const std::string& suffix);

  AptArchive apt_;
  NpmPackages npm_;
  std::ostream& log_;
  std::map<std::string, std::filesystem::path> roots_;
  std::map<std::pair<std::string, std::string>, SourceFile> files_;  // (kind, file) → record
  std::vector<PackageDescription> descriptions_;
  bool descriptions_loaded_ = false;
  std::map<std::string, std::map<std::string, Translation>> translations_;
  std::map<std::string, std::vector<Synset>> wordnet_;
};

}  // namespace retain::suite
