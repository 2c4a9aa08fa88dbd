#include "retain/suite/sources/fortunes.h"

#include "retain/core/files.h"

#include <sstream>

namespace retain::suite {

std::vector<std::string> read_fortune_file(const std::filesystem::path& path) {
  const std::string text = read_file(path, "data");
  std::vector<std::string> items;
  std::string current, line;
  std::istringstream lines(text);
  const auto flush = [&] {
    while (!current.empty() && (current.back() == '\n' || current.back() == ' ')) current.pop_back();
    if (!current.empty()) items.push_back(current);
    current.clear();
  };
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "%") {
      flush();
    } else {
      current += line;
      current += '\n';
    }
  }
  flush();
  return items;
}

std::string strip_fortune_attribution(const std::string& item) {
  std::vector<std::string> lines;
  std::istringstream in(item);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  const auto is_attribution = [](const std::string& l) {
    size_t i = l.find_first_not_of(" \t");
    if (i == std::string::npos) return false;
    return l.compare(i, 2, "--") == 0 || l.compare(i, 3, "\xE2\x80\x94") == 0 || l.compare(i, 3, "\xE2\x80\x95") == 0;
  };
  // An attribution may run over several indented lines after its "--" line.
  for (size_t i = lines.size(); i-- > 1;) {
    if (is_attribution(lines[i])) {
      lines.resize(i);
      break;
    }
    const bool indented = !lines[i].empty() && (lines[i][0] == '\t' || lines[i].rfind("    ", 0) == 0);
    if (!indented || lines.size() - i > 3) break;
  }
  while (!lines.empty() && lines.back().find_first_not_of(" \t") == std::string::npos) lines.pop_back();
  if (!lines.empty()) {
    // "... text. -- Author" on one line.
    std::string& last = lines.back();
    const size_t dash = last.rfind(" -- ");
    if (dash != std::string::npos && last.size() - dash < 60 && dash > 0) last = last.substr(0, dash);
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" : "") + lines[i];
  return out;
}

}  // namespace retain::suite
