// retain/suite/sources/debian_descriptions.h — package descriptions from apt's `Packages` lists and
// the `Translation-<lang>` files, joined on Description-md5.
//
// Packages stanzas carry Package, Source, Section, Tag (Debtags), Description (the synopsis) and
// Description-md5; the long text is in Translation-en under "Description-en: SYNOPSIS\n LONG...",
// where each long line starts with a space and " ." is an empty line.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace retain::suite {

/// One deb822 stanza: field name → value (continuation lines joined with '\n', leading space kept
/// off the first line). Field names keep their case.
using Deb822Stanza = std::map<std::string, std::string>;

/// Reads every stanza of a deb822 file (Packages, Translation-*, Sources). Throws naming the file and
/// line for a continuation line before any field or a line without ':'.
std::vector<Deb822Stanza> read_deb822(const std::filesystem::path& path);

struct PackageDescription {
  std::string package;
  std::string source;    // the source package (Source field without its version; Package if absent)
  std::string section;   // without an archive-area prefix ("contrib/net" → "net")
  std::string tags;      // Debtags "Tag" field, comma-separated
  std::string md5;       // Description-md5
  std::string synopsis;  // the one-line summary
  std::string long_text; // the long description, paragraphs separated by "\n\n", lines joined
};

/// A Translation-<lang> file: Description-md5 → {synopsis, long text}.
struct Translation {
  std::string synopsis;
  std::string long_text;
};
std::map<std::string, Translation> read_translations(const std::filesystem::path& path);

/// Splits a Description field value ("SYNOPSIS\n LINE\n .\n LINE") into synopsis and long text.
Translation split_description(const std::string& value);

/// All packages of the `Packages` lists (first list wins for a package listed twice), with the long
/// English text from `translations_en` (by Description-md5; empty when missing). Sorted by package.
std::vector<PackageDescription> read_package_descriptions(const std::vector<std::filesystem::path>& packages_lists,
                                                          const std::map<std::string, Translation>& translations_en);

}  // namespace retain::suite
