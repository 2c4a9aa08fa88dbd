// retain/suite/sources/fortunes.h — fortune(6) cookie files: items separated by lines holding only "%".
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace retain::suite {

/// The items of one fortune file, in file order, each with its line breaks; empty items are skipped.
std::vector<std::string> read_fortune_file(const std::filesystem::path& path);

/// An item without its attribution: trailing lines that start (after whitespace) with "--", "—" or
/// "―" (e.g. "\t\t-- Mark Twain") are removed, as is a trailing "-- Name" at the end of the last line.
std::string strip_fortune_attribution(const std::string& item);

}  // namespace retain::suite
