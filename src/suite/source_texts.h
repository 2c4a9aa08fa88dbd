// source_texts.h (private to src/suite) — texts that both task builders and the pretraining corpus
// read: the two Bible translations and Jane Austen's novels, split into verses and paragraphs.
#pragma once

#include "retain/suite/sources/sword.h"
#include "retain/suite/suite_sources.h"

#include <string>
#include <utility>
#include <vector>

namespace retain::suite {

/// The verses of the King James Version (sword-text-kjv) and of the World English Bible
/// (sword-text-web), footnotes and headings dropped.
std::vector<BibleVerse> kjv_verses(SuiteSources& sources);
std::vector<BibleVerse> web_verses(SuiteSources& sources);

/// The six novels of r-cran-janeaustenr: (R object name, title), in label order.
extern const std::vector<std::pair<std::string, std::string>> kAustenNovels;

/// The paragraphs of each Austen novel, by R object name, in kAustenNovels order (janeaustenr
/// stores one character vector of lines per novel).
std::vector<std::pair<std::string, std::vector<std::string>>> austen_paragraphs(SuiteSources& sources);

/// The paragraphs (blank-line separated; a line of whitespace is blank) of a text, each with its
/// line breaks.
std::vector<std::string> paragraphs(const std::string& text);

}  // namespace retain::suite
