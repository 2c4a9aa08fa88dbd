#include "source_texts.h"

#include "retain/suite/sources/r_lazyload.h"
#include "retain/suite/text_clean.h"

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> read_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

}  // namespace

std::vector<BibleVerse> kjv_verses(SuiteSources& sources) {
  return read_sword_ztext(sources.deb("sword-text-kjv") / "usr/share/sword/modules/texts/ztext/engKJV2006eb");
}
std::vector<BibleVerse> web_verses(SuiteSources& sources) {
  return read_sword_ztext(sources.deb("sword-text-web") / "usr/share/sword/modules/texts/ztext/engWEB2015eb");
}

const std::vector<std::pair<std::string, std::string>> kAustenNovels = {
    {"sensesensibility", "Sense and Sensibility"}, {"prideprejudice", "Pride and Prejudice"},
    {"mansfieldpark", "Mansfield Park"},           {"emma", "Emma"},
    {"northangerabbey", "Northanger Abbey"},       {"persuasion", "Persuasion"}};

std::vector<std::pair<std::string, std::vector<std::string>>> austen_paragraphs(SuiteSources& sources) {
  const fs::path stem = sources.deb("r-cran-janeaustenr") / "usr/lib/R/site-library/janeaustenr/data/Rdata";
  const RLazyLoadDb db(stem);
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& [object, title] : kAustenNovels) {
    std::string text;
    for (const auto& line : r_as_strings(*db.get(object), stem.string() + " " + object)) text += line + "\n";
    out.emplace_back(object, paragraphs(text));
  }
  return out;
}

std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  for (const auto& line : read_lines(text)) {
    if (normalize_whitespace(line).empty()) {
      if (!current.empty()) out.push_back(current);
      current.clear();
    } else {
      current += line + "\n";
    }
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

}  // namespace retain::suite
