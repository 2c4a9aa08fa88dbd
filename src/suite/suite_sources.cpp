#include "retain/suite/suite_sources.h"

#include "retain/core/error.h"
#include "retain/core/sha256.h"

#include <fmt/format.h>

#include <ostream>

namespace retain::suite {

namespace fs = std::filesystem;

SuiteSources::SuiteSources(const fs::path& cache, std::ostream& log) : apt_(cache), npm_(cache), log_(log) {}

void SuiteSources::record(const SourceFile& file) { files_[{file.kind, file.file}] = file; }

fs::path SuiteSources::unpacked(const std::string& key, const std::string& what,
                               const std::function<UnpackedPackage()>& fetch) {
  if (auto it = roots_.find(key); it != roots_.end()) return it->second;
  log_ << fmt::format("retain data: {}\n", what);
  const auto package = fetch();
  record(package.source);
  return roots_[key] = package.root;
}

fs::path SuiteSources::deb(const std::string& package) {
  return unpacked("deb:" + package, "package " + package, [&] { return apt_.fetch(package); });
}

fs::path SuiteSources::npm(const std::string& package) {
  return unpacked("npm:" + package, "npm package " + package, [&] { return npm_.fetch(package); });
}

std::vector<fs::path> SuiteSources::lists(const std::string& suffix) {
  auto files = apt_.list_files(suffix);
  RETAIN_CHECK(!files.empty(), "data", "no package list ending in {} in {} (remove the folder to download the lists again)",
               suffix, apt_.lists_dir().string());
  for (const auto& f : files) {
    if (!files_.count({"list", f.filename().string()})) record({"list", "", "", f.filename().string(), sha256_file(f)});
  }
  return files;
}

const std::map<std::string, Translation>& SuiteSources::translations(const std::string& lang) {
  if (auto it = translations_.find(lang); it != translations_.end()) return it->second;
  std::map<std::string, Translation> merged;
  for (const auto& file : lists("_i18n_Translation-" + lang))
    for (auto& [md5, t] : read_translations(file)) merged.emplace(md5, std::move(t));
  return translations_[lang] = std::move(merged);
}

const std::vector<PackageDescription>& SuiteSources::descriptions() {
  if (!descriptions_loaded_) {
    std::vector<fs::path> packages;
    for (const auto& f : lists("_Packages"))
      if (f.filename().string().find("_binary-") != std::string::npos) packages.push_back(f);
    descriptions_ = read_package_descriptions(packages, translations("en"));
    descriptions_loaded_ = true;
    log_ << fmt::format("retain data: {} package descriptions\n", descriptions_.size());
  }
  return descriptions_;
}

const std::vector<Synset>& SuiteSources::wordnet(const std::string& pos) {
  if (auto it = wordnet_.find(pos); it != wordnet_.end()) return it->second;
  return wordnet_[pos] = read_wordnet_data(deb("wordnet-base") / "usr/share/wordnet" / ("data." + pos));
}

json SuiteSources::manifest() const {
  json out = json::array();
  for (const auto& [key, f] : files_)
    out.push_back({{"kind", f.kind}, {"package", f.package}, {"version", f.version}, {"file", f.file}, {"sha256", f.sha256}});
  return out;
}

}  // namespace retain::suite
