// retain/suite/sources/dictd.h — dictd dictionaries (dict-gcide, dict-foldoc): NAME.index lines
// "HEADWORD\tOFFSET\tLENGTH" (OFFSET and LENGTH in dictd's base64 digits A–Z a–z 0–9 + /) into
// NAME.dict.dz (dictzip, a gzip file).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace retain::suite {

struct DictEntry {
  std::string headword;  // the first index headword pointing at this text
  std::string text;      // the raw entry text
  int64_t offset = 0;
};

/// dictd's base64 number ("Fz" → 5*64 + 51); throws for other characters.
int64_t dictd_number(const std::string& digits);

/// The entries of a dictd dictionary, one per distinct (offset, length), in file order; entries whose
/// headword starts with "00-database" (the metadata) are skipped. `stem` is the path without
/// ".index"/".dict.dz".
std::vector<DictEntry> read_dictd(const std::filesystem::path& stem);

/// GCIDE entry → plain text: pronunciations (\..\ and ([..])), {} and <> markup, and source lines
/// such as "[1913 Webster]" removed, whitespace normalised.
std::string gcide_plain_text(const std::string& entry);

/// The field labels of a GCIDE entry's senses, e.g. "Zool", "Bot" from "(Zool.)", in order.
std::vector<std::string> gcide_field_labels(const std::string& entry);

/// FOLDOC entry → {category ("programming", ... from "<programming>"; "" if none), plain text
/// without the headword line, the category tags, {} markup and the "(1994-11-08)" date}.
std::pair<std::string, std::string> foldoc_category_and_text(const DictEntry& entry);

}  // namespace retain::suite
