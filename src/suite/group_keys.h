// group_keys.h (private to src/suite) — the split group of each kind of source text.
//
// Group keys are namespaced by what they name, not by task: a Debian source package, an English
// word (WordNet lemma, GCIDE/FOLDOC headword, CMUdict word), a block of a fortune file or novel, a
// Bible chapter, a mail thread. Every task (and the pretraining corpus) that reads the same thing
// therefore puts it on the same side of the split (split_of_group).
#pragma once

#include "retain/suite/sources/spam_assassin.h"
#include "retain/suite/sources/sword.h"

#include <string>

namespace retain::suite {

/// "deb:SOURCE".
std::string deb_group(const std::string& source);
/// "word:LEMMA", lower-cased.
std::string word_group(const std::string& word);
/// "fortune:FILE/BLOCK": blocks of 10 consecutive items (`index` counts from 0).
std::string fortune_group(const std::string& file, size_t index);
/// "austen:NOVEL/BLOCK": blocks of 20 consecutive paragraphs.
std::string austen_group(const std::string& novel, size_t paragraph);
/// "bible:BOOK.CHAPTER".
std::string bible_group(const BibleVerse& verse);
/// "mail:THREAD": the thread key of the subject, or FOLDER/FILE when that is under 4 characters.
std::string mail_group(const SpamAssassinMessage& message);

}  // namespace retain::suite
