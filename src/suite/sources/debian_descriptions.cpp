#include "retain/suite/sources/debian_descriptions.h"

#include "retain/core/error.h"
#include "retain/core/files.h"

#include <algorithm>
#include <set>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r')) --end;
  return text.substr(begin, end - begin);
}

}  // namespace

std::vector<Deb822Stanza> read_deb822(const fs::path& path) {
  const std::string text = read_file(path, kComponent);
  std::vector<Deb822Stanza> stanzas;
  Deb822Stanza current;
  std::string field;
  size_t line_number = 0, pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++line_number;
    pos = end + 1;
    if (line.empty()) {
      if (!current.empty()) stanzas.push_back(std::move(current));
      current.clear();
      field.clear();
      if (end == text.size()) break;
      continue;
    }
    if (line[0] == '#' && field.empty()) continue;
    if (line[0] == ' ' || line[0] == '\t') {
      if (field.empty())
        fail(kComponent, "{}:{}: continuation line before any field (expected \"Name: value\")", path.string(), line_number);
      current[field] += "\n" + line;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      fail(kComponent, "{}:{}: expected \"Name: value\", found \"{}\"", path.string(), line_number, line.substr(0, 80));
    field = line.substr(0, colon);
    current[field] = trim(line.substr(colon + 1));
    if (end == text.size()) break;
  }
  if (!current.empty()) stanzas.push_back(std::move(current));
  return stanzas;
}

Translation split_description(const std::string& value) {
  Translation result;
  const size_t newline = value.find('\n');
  result.synopsis = trim(value.substr(0, newline));
  if (newline == std::string::npos) return result;
  std::string body;
  size_t pos = newline + 1;
  bool paragraph_break = false;
  while (pos <= value.size()) {
    size_t end = value.find('\n', pos);
    if (end == std::string::npos) end = value.size();
    const std::string line = trim(value.substr(pos, end - pos));
    pos = end + 1;
    if (line == ".") {
      paragraph_break = true;
    } else if (!line.empty()) {
      if (!body.empty()) body += paragraph_break ? "\n\n" : "\n";
      body += line;
      paragraph_break = false;
    }
    if (end == value.size()) break;
  }
  result.long_text = body;
  return result;
}

std::map<std::string, Translation> read_translations(const fs::path& path) {
  std::map<std::string, Translation> out;
  for (const auto& stanza : read_deb822(path)) {
    auto md5 = stanza.find("Description-md5");
    if (md5 == stanza.end()) continue;
    for (const auto& [key, value] : stanza)
      if (key.rfind("Description-", 0) == 0 && key != "Description-md5") {
        out.emplace(md5->second, split_description(value));
        break;
      }
  }
  return out;
}

std::vector<PackageDescription> read_package_descriptions(const std::vector<fs::path>& packages_lists,
                                                          const std::map<std::string, Translation>& translations_en) {
  std::map<std::string, PackageDescription> by_name;
  for (const auto& list : packages_lists) {
    for (const auto& stanza : read_deb822(list)) {
      const auto get = [&](const char* key) {
        auto it = stanza.find(key);
        return it == stanza.end() ? std::string() : it->second;
      };
      PackageDescription d;
      d.package = get("Package");
      if (d.package.empty())
        fail(kComponent, "{}: a stanza without a Package field (is this a Packages list?)", list.string());
      if (by_name.count(d.package)) continue;
      d.source = get("Source");
      d.source = d.source.empty() ? d.package : trim(d.source.substr(0, d.source.find('(')));
      d.section = get("Section");
      if (auto slash = d.section.rfind('/'); slash != std::string::npos) d.section = d.section.substr(slash + 1);
      d.tags = get("Tag");
      std::replace(d.tags.begin(), d.tags.end(), '\n', ' ');
      d.md5 = get("Description-md5");
      const Translation own = split_description(get("Description"));
      d.synopsis = own.synopsis;
      d.long_text = own.long_text;
      if (auto it = translations_en.find(d.md5); it != translations_en.end()) {
        if (d.synopsis.empty()) d.synopsis = it->second.synopsis;
        if (d.long_text.empty()) d.long_text = it->second.long_text;
      }
      by_name.emplace(d.package, std::move(d));
    }
  }
  std::vector<PackageDescription> out;
  out.reserve(by_name.size());
  for (auto& [name, d] : by_name) out.push_back(std::move(d));
  return out;
}

}  // namespace retain::suite
