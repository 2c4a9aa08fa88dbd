#include "retain/tokenizer/normalized_string.h"

#include "retain/tokenizer/regex.h"

#include <algorithm>

namespace retain {

NormalizedString::NormalizedString(std::string_view text, size_t original_offset)
    : text_(text), origins_(text.size()) {
  for (size_t i = 0; i < text.size(); ++i) origins_[i] = static_cast<uint32_t>(original_offset + i);
}

NormalizedString::NormalizedString(std::string text, std::vector<uint32_t> origins)
    : text_(std::move(text)), origins_(std::move(origins)) {}

NormalizedString NormalizedString::slice(size_t begin, size_t end) const {
  return NormalizedString(text_.substr(begin, end - begin),
                          std::vector<uint32_t>(origins_.begin() + begin, origins_.begin() + end));
}

void NormalizedString::prepend(std::string_view prefix) {
  if (text_.empty() || prefix.empty()) return;
  uint32_t origin = origins_[0];
  text_.insert(0, prefix);
  origins_.insert(origins_.begin(), prefix.size(), origin);
}

void NormalizedString::replace(const std::vector<std::pair<size_t, size_t>>& matches, std::string_view content) {
  if (matches.empty()) return;
  std::string text;
  std::vector<uint32_t> origins;
  text.reserve(text_.size());
  origins.reserve(text_.size());
  size_t last = 0;
  for (auto [b, e] : matches) {
    text.append(text_, last, b - last);
    origins.insert(origins.end(), origins_.begin() + last, origins_.begin() + b);
    // HF gives inserted characters the alignment of the byte before them: the match's last byte.
    uint32_t origin = e > 0 ? origins_[e - 1] : (origins_.empty() ? 0 : origins_[0]);
    text.append(content);
    origins.resize(text.size(), origin);
    last = e;
  }
  text.append(text_, last, std::string::npos);
  origins.insert(origins.end(), origins_.begin() + last, origins_.end());
  text_ = std::move(text);
  origins_ = std::move(origins);
}

bool parse_split_behavior(const std::string& name, SplitBehavior& out) {
  if (name == "Removed") out = SplitBehavior::Removed;
  else if (name == "Isolated") out = SplitBehavior::Isolated;
  else if (name == "MergedWithPrevious") out = SplitBehavior::MergedWithPrevious;
  else if (name == "MergedWithNext") out = SplitBehavior::MergedWithNext;
  else if (name == "Contiguous") out = SplitBehavior::Contiguous;
  else return false;
  return true;
}

std::vector<MatchRange> find_matches(const Regex& regex, std::string_view text) {
  std::vector<MatchRange> ranges;
  if (text.empty()) {
    ranges.push_back({0, 0, false});
    return ranges;
  }
  size_t prev = 0;
  for (const auto& m : regex.find_all(text)) {
    if (prev != m.begin) ranges.push_back({prev, m.begin, false});
    ranges.push_back({m.begin, m.end, true});
    prev = m.end;
  }
  if (prev != text.size()) ranges.push_back({prev, text.size(), false});
  return ranges;
}

std::vector<MatchRange> find_char_matches(std::string_view text, const std::function<bool(char32_t)>& predicate) {
  std::vector<MatchRange> ranges;
  if (text.empty()) {
    ranges.push_back({0, 0, false});
    return ranges;
  }
  size_t last = 0, pos = 0;
  while (pos < text.size()) {
    size_t begin = pos;
    char32_t c = unicode::next_code_point(text, pos);
    if (predicate(c)) {
      if (last < begin) ranges.push_back({last, begin, false});
      ranges.push_back({begin, pos, true});
      last = pos;
    }
  }
  if (text.size() > last) ranges.push_back({last, text.size(), false});
  return ranges;
}

void invert_matches(std::vector<MatchRange>& ranges) {
  for (auto& r : ranges) r.is_match = !r.is_match;
}

std::vector<NormalizedString> split(const NormalizedString& input, const std::vector<MatchRange>& ranges,
                                    SplitBehavior behavior) {
  // (begin, end, remove)
  struct Cut {
    size_t begin, end;
    bool remove;
  };
  std::vector<Cut> cuts;
  cuts.reserve(ranges.size());
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const auto& r : ranges) cuts.push_back({r.begin, r.end, false});
      break;
    case SplitBehavior::Removed:
      for (const auto& r : ranges) cuts.push_back({r.begin, r.end, r.is_match});
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const auto& r : ranges) {
        if (r.is_match == previous && !cuts.empty()) cuts.back().end = r.end;
        else cuts.push_back({r.begin, r.end, false});
        previous = r.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const auto& r : ranges) {
        if (r.is_match && !previous && !cuts.empty()) cuts.back().end = r.end;
        else cuts.push_back({r.begin, r.end, false});
        previous = r.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
        if (it->is_match && !previous && !cuts.empty()) cuts.back().begin = it->begin;
        else cuts.push_back({it->begin, it->end, false});
        previous = it->is_match;
      }
      std::reverse(cuts.begin(), cuts.end());
      break;
    }
  }
  std::vector<NormalizedString> pieces;
  pieces.reserve(cuts.size());
  for (const auto& c : cuts) {
    if (!c.remove) pieces.push_back(input.slice(c.begin, c.end));
  }
  return pieces;
}

}  // namespace retain
