#include "retain/tokenizer/added_vocabulary.h"

#include "retain/tokenizer/bpe_model.h"
#include "retain/tokenizer/normalizer.h"
#include "retain/tokenizer/unicode.h"

#include <algorithm>

namespace retain {

namespace {

// The patterns HF runs with Rust's regex crate: `\w$`, `^\w`, `\s*$` and `^\s*`.
char32_t last_char(std::string_view s) {
  size_t at = s.size() - 1;
  while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
  return unicode::next_code_point(s, at);
}
bool ends_with_word(std::string_view s) { return !s.empty() && unicode::is_word_char(last_char(s)); }
bool starts_with_word(std::string_view s) {
  size_t pos = 0;
  return !s.empty() && unicode::is_word_char(unicode::next_code_point(s, pos));
}
// Start of the whitespace run that ends `s`.
size_t space_leftmost_at_end(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t at = end - 1;
    while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
    size_t tmp = at;
    if (!unicode::is_whitespace(unicode::next_code_point(s, tmp))) break;
    end = at;
  }
  return end;
}
// End of the whitespace run that starts `s`.
size_t space_rightmost_at_start(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t at = pos;
    if (!unicode::is_whitespace(unicode::next_code_point(s, pos))) return at;
  }
  return pos;
}

}  // namespace

void AddedVocabulary::Trie::build(const std::vector<std::pair<std::string, int64_t>>& patterns) {
  nodes.assign(1, Node{});
  std::fill(std::begin(first_byte), std::end(first_byte), false);
  for (const auto& [pattern, id] : patterns) {
    if (pattern.empty()) continue;
    int32_t node = 0;
    for (unsigned char c : pattern) {
      auto it = nodes[node].next.find(c);
      if (it == nodes[node].next.end()) {
        nodes.push_back(Node{});
        int32_t child = static_cast<int32_t>(nodes.size() - 1);
        nodes[node].next.emplace(c, child);
        node = child;
      } else {
        node = it->second;
      }
    }
    nodes[node].token_id = id;
    first_byte[static_cast<unsigned char>(pattern[0])] = true;
  }
}

bool AddedVocabulary::Trie::find(std::string_view text, size_t from, size_t& begin, size_t& end, int64_t& id) const {
  if (empty()) return false;
  for (size_t s = from; s < text.size(); ++s) {
    if (!first_byte[static_cast<unsigned char>(text[s])]) continue;
    int32_t node = 0;
    int64_t best_id = -1;
    size_t best_end = 0;
    for (size_t i = s; i < text.size(); ++i) {
      auto it = nodes[node].next.find(static_cast<unsigned char>(text[i]));
      if (it == nodes[node].next.end()) break;
      node = it->second;
      if (nodes[node].token_id >= 0) {
        best_id = nodes[node].token_id;
        best_end = i + 1;
      }
    }
    if (best_id >= 0) {
      begin = s;
      end = best_end;
      id = best_id;
      return true;
    }
  }
  return false;
}

void AddedVocabulary::add(const std::vector<AddedToken>& tokens, const BpeModel& model, const Normalizer* normalizer) {
  int64_t model_size = static_cast<int64_t>(model.vocab_count());
  int64_t next_id = model_size;
  if (!by_id_.empty()) {
    int64_t max = max_id();
    next_id = (max >= model_size || model_size == 0) ? max + 1 : model_size;
  }
  for (const auto& token : tokens) {
    if (token.content.empty()) continue;
    auto existing = by_content_.find(token.content);
    if (existing != by_content_.end()) {
      const AddedToken& old = by_id_.at(existing->second);
      if (old.content == token.content && old.single_word == token.single_word && old.lstrip == token.lstrip &&
          old.rstrip == token.rstrip && old.normalized == token.normalized && old.special == token.special)
        continue;
    }
    int64_t id;
    if (auto known = token_to_id(token.content)) id = *known;
    else if (auto in_model = model.token_to_id(token.content)) id = *in_model;
    else id = next_id++;

    if (token.normalized && normalizer) {
      NormalizedString text(token.content, 0);
      normalizer->normalize(text);
      if (text.text() != token.content) normalized_content_[id] = text.text();
    }
    by_content_[token.content] = id;
    if (token.special) special_.insert(token.content);
    by_id_[id] = token;
  }
  refresh();
}

void AddedVocabulary::refresh() {
  std::vector<std::pair<std::string, int64_t>> raw, normalized;
  std::vector<int64_t> ids;
  for (const auto& [id, token] : by_id_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (int64_t id : ids) {
    const AddedToken& token = by_id_.at(id);
    if (token.normalized) {
      auto it = normalized_content_.find(id);
      normalized.emplace_back(it != normalized_content_.end() ? it->second : token.content, id);
    } else {
      raw.emplace_back(token.content, id);
    }
  }
  raw_trie_.build(raw);
  normalized_trie_.build(normalized);
}

std::vector<AddedVocabulary::Match> AddedVocabulary::find_matches(std::string_view text, const Trie& trie) const {
  std::vector<Match> out;
  if (text.empty()) return out;
  if (trie.empty()) {
    out.push_back({-1, 0, text.size()});
    return out;
  }
  size_t start_offset = 0, search = 0, b = 0, e = 0;
  int64_t id = -1;
  while (search < text.size() && trie.find(text, search, b, e, id)) {
    search = e;  // the matcher resumes after the raw match, whatever the filters below decide
    const AddedToken& token = by_id_.at(id);
    size_t start = b, stop = e;
    if (token.single_word) {
      bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) start = std::max(space_leftmost_at_end(text.substr(0, start)), start_offset);
    if (token.rstrip) stop += space_rightmost_at_start(text.substr(stop));
    if (start_offset < start) out.push_back({-1, start_offset, start});
    out.push_back({id, start, stop});
    start_offset = stop;
  }
  if (start_offset != text.size()) out.push_back({-1, start_offset, text.size()});
  return out;
}

std::vector<Piece> AddedVocabulary::extract_and_normalize(std::string_view text, const Normalizer* normalizer) const {
  std::vector<Piece> pieces;
  for (const auto& m : find_matches(text, raw_trie_)) {
    if (m.end <= m.begin) continue;
    pieces.push_back(Piece{NormalizedString(text.substr(m.begin, m.end - m.begin), m.begin), m.id});
  }
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (auto& piece : pieces) {
    if (piece.token_id >= 0) {
      out.push_back(std::move(piece));
      continue;
    }
    if (normalizer) normalizer->normalize(piece.text);
    for (const auto& m : find_matches(piece.text.text(), normalized_trie_)) {
      if (m.end <= m.begin) continue;
      out.push_back(Piece{piece.text.slice(m.begin, m.end), m.id});
    }
  }
  return out;
}

std::optional<int64_t> AddedVocabulary::token_to_id(const std::string& content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::token(int64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::optional<std::string> AddedVocabulary::decode_token(int64_t id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  auto n = normalized_content_.find(id);
  return n != normalized_content_.end() ? n->second : it->second.content;
}

int64_t AddedVocabulary::max_id() const {
  int64_t max = -1;
  for (const auto& [id, token] : by_id_) max = std::max(max, id);
  return max;
}

}  // namespace retain
