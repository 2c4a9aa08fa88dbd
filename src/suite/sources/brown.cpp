#include "retain/suite/sources/brown.h"

#include "retain/core/error.h"
#include "retain/suite/text_clean.h"

#include <sstream>

namespace retain::suite {

namespace {

bool attaches_left(const std::string& w) {
  return w == "," || w == "." || w == ";" || w == ":" || w == "!" || w == "?" || w == ")" || w == "''" ||
         w == "'" || w == "]";
}

bool attaches_right(const std::string& w) { return w == "(" || w == "``" || w == "["; }

}  // namespace

std::vector<std::string> brown_sentences(const std::string& text, const std::string& where) {
  std::vector<std::string> sentences;
  std::istringstream in(text);
  std::string line;
  size_t tagged = 0;
  while (std::getline(in, line)) {
    std::istringstream tokens(line);
    std::string token, sentence;
    bool glue = true;  // no space before the next word
    while (tokens >> token) {
      const size_t slash = token.rfind('/');
      if (slash == std::string::npos || slash == 0) continue;  // not word/TAG
      ++tagged;
      const std::string word = token.substr(0, slash);
      if (!glue && !attaches_left(word)) sentence += ' ';
      sentence += word == "``" || word == "''" ? "\"" : word;
      glue = attaches_right(word);
    }
    if (!sentence.empty()) sentences.push_back(sentence);
  }
  RETAIN_CHECK(tagged > 0, "data", "{}: no word/TAG token (is this a Brown Corpus sample file?)", where);
  return sentences;
}

std::vector<std::string> join_passages(const std::vector<std::string>& sentences, size_t min_words) {
  std::vector<std::string> passages;
  std::string current;
  size_t words = 0;
  for (const auto& s : sentences) {
    current += (current.empty() ? "" : " ") + s;
    words += count_words(s);
    if (words >= min_words) {
      passages.push_back(std::move(current));
      current.clear();
      words = 0;
    }
  }
  if (!current.empty()) passages.push_back(std::move(current));
  return passages;
}

}  // namespace retain::suite
