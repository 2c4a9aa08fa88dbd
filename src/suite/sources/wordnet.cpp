#include "retain/suite/sources/wordnet.h"

#include "retain/core/error.h"
#include "retain/core/files.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace retain::suite {

namespace fs = std::filesystem;

const std::string& wordnet_lex_name(int lex_file) {
  static const std::vector<std::string> names = {
      "adj.all",       "adj.pert",          "adv.all",          "noun.Tops",        "noun.act",         "noun.animal",
      "noun.artifact", "noun.attribute",    "noun.body",        "noun.cognition",   "noun.communication",
      "noun.event",    "noun.feeling",      "noun.food",        "noun.group",       "noun.location",    "noun.motive",
      "noun.object",   "noun.person",       "noun.phenomenon",  "noun.plant",       "noun.possession",  "noun.process",
      "noun.quantity", "noun.relation",     "noun.shape",       "noun.state",       "noun.substance",   "noun.time",
      "verb.body",     "verb.change",       "verb.cognition",   "verb.communication", "verb.competition",
      "verb.consumption", "verb.contact",   "verb.creation",    "verb.emotion",     "verb.motion",      "verb.perception",
      "verb.possession", "verb.social",     "verb.stative",     "verb.weather",     "adj.ppl"};
  RETAIN_CHECK(lex_file >= 0 && lex_file < static_cast<int>(names.size()), "data",
               "WordNet lexicographer file number {} is outside 0..44", lex_file);
  return names[static_cast<size_t>(lex_file)];
}

namespace {

// A whole field read as a number in `base` within 0..max (WordNet's wndb(5): LEXFILE is two decimal
// digits, WCNT two hex digits); anything else fails naming the field and `where()`.
template <typename Where>
long field_number(const std::string& text, int base, long max, const char* field, const Where& where) {
  const bool digits = !text.empty() && text.size() <= 8 && std::all_of(text.begin(), text.end(), [&](char c) {
    return base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c));
  });
  const long value = digits ? std::stol(text, nullptr, base) : -1;
  if (value < 0 || value > max)
    fail("data", "{}: {} is \"{}\" (expected a {} number 0..{})", where(), field, text, base == 16 ? "hexadecimal" : "decimal",
         max);
  return value;
}

}  // namespace

std::vector<Synset> read_wordnet_data(const fs::path& path) {
  const std::string text = read_file(path, "data");
  std::vector<Synset> synsets;
  std::istringstream lines(text);
  std::string line;
  size_t line_number = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    if (line.empty() || line[0] == ' ') continue;
    const auto where = [&] { return path.string() + ":" + std::to_string(line_number); };
    const size_t bar = line.find(" | ");
    if (bar == std::string::npos) fail("data", "{}: no \" | \" before the gloss (is this a WordNet data.* file?)", where());
    std::istringstream fields(line.substr(0, bar));
    Synset s;
    std::string lex, type, count;
    if (!(fields >> s.offset >> lex >> type >> count)) fail("data", "{}: expected OFFSET LEXFILE TYPE WCNT", where());
    s.lex_file = static_cast<int>(field_number(lex, 10, 44, "LEXFILE", where));
    const auto words = field_number(count, 16, 0xff, "WCNT", where);
    for (long i = 0; i < words; ++i) {
      std::string word, lex_id;
      if (!(fields >> word >> lex_id)) fail("data", "{}: expected {} words, found {}", where(), words, i);
      if (auto paren = word.find('('); paren != std::string::npos) word = word.substr(0, paren);
      for (auto& c : word)
        if (c == '_') c = ' ';
      s.words.push_back(word);
    }
    s.lex_name = wordnet_lex_name(s.lex_file);
    s.gloss = line.substr(bar + 3);
    while (!s.gloss.empty() && (s.gloss.back() == ' ' || s.gloss.back() == '\r')) s.gloss.pop_back();
    synsets.push_back(std::move(s));
  }
  return synsets;
}

std::string wordnet_definition(const std::string& gloss) {
  size_t cut = gloss.find("; \"");
  if (cut == std::string::npos && !gloss.empty() && gloss[0] == '"') cut = 0;
  std::string def = gloss.substr(0, cut);
  while (!def.empty() && (def.back() == ' ' || def.back() == ';')) def.pop_back();
  return def;
}

}  // namespace retain::suite
