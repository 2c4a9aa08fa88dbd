#include "overlap_index.h"

#include "retain/suite/text_clean.h"

namespace retain::suite {

namespace {

std::vector<uint64_t> token_hashes(const std::string& text) {
  std::vector<uint64_t> out;
  for (const auto& token : overlap_tokens(text)) out.push_back(stable_hash(token));
  return out;
}

uint64_t ngram(const std::vector<uint64_t>& h, size_t start, size_t n) {
  uint64_t x = 0x9e3779b97f4a7c15ULL * (n + 1);
  for (size_t k = 0; k < n; ++k) x ^= h[start + k] + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
  return x;
}

std::set<uint64_t> distinct_shingles(const std::vector<uint64_t>& hashes) {
  std::set<uint64_t> distinct;
  for (size_t i = 0; i + OverlapIndex::kShingle <= hashes.size(); ++i)
    distinct.insert(ngram(hashes, i, OverlapIndex::kShingle));
  return distinct;
}

}  // namespace

void OverlapIndex::add(const std::string& text) {
  const auto hashes = token_hashes(text);
  if (hashes.size() < kMinTokens) return;
  if (hashes.size() < kShingle) {
    add_whole(hashes);
    return;
  }
  const std::set<uint64_t> distinct = distinct_shingles(hashes);
  const auto id = static_cast<uint32_t>(texts_.size());
  texts_.push_back({hashes, std::vector<uint64_t>(distinct.begin(), distinct.end())});
  for (uint64_t h : distinct) postings_[h].push_back(id);
}

void OverlapIndex::finish() {
  totals_.assign(texts_.size(), 0);
  for (uint32_t id = 0; id < texts_.size(); ++id) {
    for (uint64_t h : texts_[id].shingles)
      if (postings_[h].size() <= kCommon) ++totals_[id];
    if (totals_[id] == 0) add_whole(texts_[id].tokens);
  }
  texts_.clear();
}

bool OverlapIndex::overlaps(const std::string& text) const {
  const auto hashes = token_hashes(text);
  for (size_t n : whole_lengths_)
    for (size_t i = 0; i + n <= hashes.size(); ++i)
      if (whole_.count(ngram(hashes, i, n))) return true;
  if (hashes.size() < kShingle) return false;
  std::unordered_map<uint32_t, uint32_t> hits;
  for (uint64_t h : distinct_shingles(hashes)) {
    auto it = postings_.find(h);
    if (it == postings_.end() || it->second.size() > kCommon) continue;
    for (uint32_t id : it->second)
      if (2 * ++hits[id] >= totals_[id]) return true;
  }
  return false;
}

void OverlapIndex::add_whole(const std::vector<uint64_t>& hashes) {
  whole_.insert(ngram(hashes, 0, hashes.size()));
  whole_lengths_.insert(hashes.size());
}

}  // namespace retain::suite
