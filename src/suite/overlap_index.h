// overlap_index.h (private to src/suite) — near-duplicate detection of pretraining documents
// against test texts.
//
// A text of ≥ 8 tokens (lower-cased alphanumeric runs) is represented by its distinct 8-token
// shingles; a document overlaps it when it holds at least half of them. Shingles shared by more than
// kCommon test texts (boilerplate such as "this package contains the development files for") are not
// counted on either side; a text made only of those, and a text of 4..7 tokens, overlaps a document
// that contains its whole token sequence. Shorter texts (single words, labels) are not texts.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace retain::suite {

class OverlapIndex {
 public:
  static constexpr size_t kShingle = 8;
  static constexpr size_t kMinTokens = 4;
  static constexpr size_t kCommon = 64;

  /// Adds a test text.
  void add(const std::string& text);
  /// Call once after the last add().
  void finish();
  /// Whether `text` overlaps any test text added.
  bool overlaps(const std::string& text) const;

 private:
  struct Text {
    std::vector<uint64_t> tokens, shingles;
  };
  void add_whole(const std::vector<uint64_t>& hashes);

  std::vector<Text> texts_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> postings_;
  std::vector<uint32_t> totals_;
  std::unordered_set<uint64_t> whole_;
  std::set<size_t> whole_lengths_;
};

}  // namespace retain::suite
