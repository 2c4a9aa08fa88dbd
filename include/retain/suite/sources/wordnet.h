// retain/suite/sources/wordnet.h — synsets of WordNet 3.0 `data.{noun,verb,adj,adv}` files.
//
// A data line is "OFFSET LEXFILENUM SSTYPE WCNT WORD LEXID ... PCNT PTR... [FRAMES] | GLOSS"
// (wndb(5WN)); WCNT is two hex digits; lines starting with two spaces are the licence header.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace retain::suite {

struct Synset {
  std::string offset;               // 8 digits, unique within one data file
  int lex_file = 0;                 // 0..44
  std::string lex_name;             // "noun.animal", ... (lexnames(5WN))
  std::vector<std::string> words;   // underscores replaced by spaces, adjective markers removed
  std::string gloss;                // definition and examples, as in the file
};

/// The lexicographer file name of a number 0..44; throws otherwise.
const std::string& wordnet_lex_name(int lex_file);

/// Every synset of one data file. Throws naming the file and line for a malformed line.
std::vector<Synset> read_wordnet_data(const std::filesystem::path& path);

/// The definition part of a gloss: the text before the first "; \"" example (trimmed).
std::string wordnet_definition(const std::string& gloss);

}  // namespace retain::suite
