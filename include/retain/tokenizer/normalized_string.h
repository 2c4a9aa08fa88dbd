// retain/tokenizer/normalized_string.h — text under normalization that remembers where each byte
// came from, and the five ways of splitting it (HF's NormalizedString and SplitDelimiterBehavior).
//
// Only the start of a piece in the original text is observable in token ids: the Metaspace
// pre-tokenizer with prepend_scheme "first" adds "▁" only to a piece that starts at original offset
// 0. So every byte carries the original byte offset of the character it came from; characters a
// normalizer inserts inherit the offset of their neighbour as in HF's alignment rules.
#pragma once

#include <cstddef>
#include <functional>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace retain {

class Regex;

class NormalizedString {
 public:
  NormalizedString() = default;
  /// `text` taken verbatim from the original input at byte offset `original_offset`.
  NormalizedString(std::string_view text, size_t original_offset);
  /// A string with explicit per-byte original offsets (`origins.size() == text.size()`).
  NormalizedString(std::string text, std::vector<uint32_t> origins);

  const std::string& text() const { return text_; }
  const std::vector<uint32_t>& origins() const { return origins_; }
  bool empty() const { return text_.empty(); }
  size_t size() const { return text_.size(); }
  /// Original byte offset of the first byte (0 for an empty string).
  size_t original_start() const { return origins_.empty() ? 0 : origins_[0]; }

  /// Bytes [begin, end) with their offsets.
  NormalizedString slice(size_t begin, size_t end) const;
  /// Inserts `prefix` in front; its bytes get the offset of the current first byte. No-op when empty.
  void prepend(std::string_view prefix);
  /// Replaces each match of `pattern` (spans from Regex::find_all) by `content`; the inserted bytes
  /// get the offset of the last character of the match (HF's alignment rule).
  void replace(const std::vector<std::pair<size_t, size_t>>& matches, std::string_view content);

  /// Rebuilds the string char by char: `map(c, emit)` calls `emit(code_point)` zero or more times;
  /// emitted characters get the offset of `c`.
  template <typename Map>
  void map_chars(Map map);

 private:
  std::string text_;
  std::vector<uint32_t> origins_;
};

/// HF SplitDelimiterBehavior: what happens to the matched delimiter when splitting.
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

/// Parses "Removed", "Isolated", ...; returns false if the name is unknown.
bool parse_split_behavior(const std::string& name, SplitBehavior& out);

/// A contiguous range of a string, flagged as a delimiter match or not. A list of these covers
/// the whole string in order (HF Pattern::find_matches).
struct MatchRange {
  size_t begin;
  size_t end;
  bool is_match;
};

/// Ranges of the matches of `regex` in `text` and the gaps between them.
std::vector<MatchRange> find_matches(const Regex& regex, std::string_view text);
/// Ranges where each character satisfying `predicate` is its own match.
std::vector<MatchRange> find_char_matches(std::string_view text, const std::function<bool(char32_t)>& predicate);
/// Flips every is_match flag (HF Invert).
void invert_matches(std::vector<MatchRange>& ranges);

/// Splits `input` at the given ranges with `behavior` (HF NormalizedString::split). Empty pieces
/// are kept; callers drop them.
std::vector<NormalizedString> split(const NormalizedString& input, const std::vector<MatchRange>& ranges,
                                    SplitBehavior behavior);

}  // namespace retain

// ---- implementation of the template ----
#include "retain/tokenizer/unicode.h"

namespace retain {

template <typename Map>
void NormalizedString::map_chars(Map map) {
  std::string text;
  std::vector<uint32_t> origins;
  text.reserve(text_.size());
  origins.reserve(text_.size());
  size_t pos = 0;
  while (pos < text_.size()) {
    uint32_t origin = origins_[pos];
    char32_t c = unicode::next_code_point(text_, pos);
    map(c, [&](char32_t out) {
      unicode::append_utf8(text, out);
      origins.resize(text.size(), origin);
    });
  }
  text_ = std::move(text);
  origins_ = std::move(origins);
}

}  // namespace retain
