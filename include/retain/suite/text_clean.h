// retain/suite/text_clean.h — the text clean-up every suite task shares: valid UTF-8, one space
// between words, length caps at a word boundary, leakage removal, and a portable string hash.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace retain::suite {

/// `text` as valid UTF-8: valid sequences are kept, every other byte is read as Windows-1252/Latin-1
/// (what old mail and dictionary files use) and re-encoded; NUL and other C0 controls except tab
/// and newline are dropped.
std::string to_valid_utf8(const std::string& text);

/// Collapses every run of whitespace (spaces, tabs, newlines, NBSP) into one space and trims both ends.
std::string normalize_whitespace(const std::string& text);

/// At most `max_chars` bytes, cut at the last space before the limit (at a UTF-8 character boundary
/// if the text has no space there). Text within the limit is returned unchanged.
std::string truncate_at_word(const std::string& text, size_t max_chars);

/// Removes every case-insensitive whole-word occurrence of each of `words` (a word boundary is any
/// character other than an ASCII letter, digit, '-', '+', '.' or '_' followed by a letter/digit).
/// Used to strip package names from their descriptions.
std::string remove_words(const std::string& text, const std::vector<std::string>& words);

/// Lower-case ASCII letters and digits, split at everything else: the tokens used for overlap checks.
std::vector<std::string> overlap_tokens(const std::string& text);

/// Number of space-separated words.
size_t count_words(const std::string& text);

/// 64-bit FNV-1a followed by a SplitMix64 finaliser: the same value on every platform, used to place
/// groups into splits and to order examples deterministically.
uint64_t stable_hash(const std::string& text);

/// stable_hash of the parts joined with '\x1f'.
uint64_t stable_hash(std::initializer_list<std::string> parts);

}  // namespace retain::suite
