#include "retain/tokenizer/bpe_model.h"

#include "config_node.h"
#include "retain/tokenizer/unicode.h"

#include <fmt/format.h>

#include <array>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <unordered_map>

namespace retain {

using tokenizer_detail::ConfigNode;

namespace {

constexpr size_t kCacheCapacity = 10000;  // HF DEFAULT_CACHE_CAPACITY
constexpr size_t kCacheMaxWordBytes = 256;  // HF MAX_LENGTH
constexpr int64_t kMaxId = int64_t{1} << 30;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct MergeRule {
  uint32_t rank;
  int32_t new_id;
};

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  uint32_t len;  // bytes; 0 once merged into its left neighbour
};

struct QueuedMerge {
  uint32_t rank;
  uint32_t pos;
  int32_t new_id;
  // priority_queue pops the largest: make the lowest rank, then the lowest position, largest.
  bool operator<(const QueuedMerge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

struct BpeModel::Impl {
  std::string origin, path;
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<const std::string*> vocab_r;  // by id; nullptr for holes
  std::unordered_map<uint64_t, MergeRule> merges;
  std::optional<std::string> unk_token;
  std::string prefix, suffix;  // continuing_subword_prefix, end_of_word_suffix ("" when null)
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
  std::array<int32_t, 256> byte_ids{};
  int64_t max_id = -1;

  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  const MergeRule* find_merge(int32_t a, int32_t b) const {
    auto it = merges.find(pair_key(a, b));
    return it == merges.end() ? nullptr : &it->second;
  }

  int32_t unk_id() const {
    auto it = vocab.find(*unk_token);
    if (it == vocab.end())
      fail("tokenizer", "{}: {}: unk_token \"{}\" is not in the vocabulary", origin, path, *unk_token);
    return it->second;
  }

  // HF BPE::merge_word.
  std::vector<int32_t> merge_word(std::string_view w) const {
    std::vector<Symbol> symbols;
    symbols.reserve(w.size());
    auto add = [&](int32_t id, size_t len) {
      int32_t index = static_cast<int32_t>(symbols.size());
      if (!symbols.empty()) symbols.back().next = index;
      symbols.push_back({id, index - 1, -1, static_cast<uint32_t>(len)});
    };
    int32_t unk = -1;  // pending unknown token id, and its byte length
    size_t unk_len = 0;
    std::string key;
    size_t pos = 0;
    while (pos < w.size()) {
      size_t begin = pos;
      pos += unicode::utf8_length(static_cast<unsigned char>(w[pos]));
      if (pos > w.size()) pos = w.size();
      size_t byte_len = pos - begin;
      key.assign(w.data() + begin, byte_len);
      if (begin != 0 && !prefix.empty()) key.insert(0, prefix);
      if (pos == w.size() && !suffix.empty()) key += suffix;
      auto it = vocab.find(key);
      if (it != vocab.end()) {
        if (unk >= 0) {
          add(unk, unk_len);
          unk = -1;
        }
        add(it->second, byte_len);
        continue;
      }
      if (byte_fallback) {
        bool all = true;
        for (unsigned char b : key) all = all && byte_ids[b] >= 0;
        if (all) {
          // As HF: a pending unk is not flushed before byte-fallback tokens.
          for (unsigned char b : key) add(byte_ids[b], 1);
          continue;
        }
      }
      if (unk_token) {
        if (unk >= 0 && fuse_unk) {
          unk_len += byte_len;
        } else {
          if (unk >= 0) add(unk, unk_len);
          unk = unk_id();
          unk_len = byte_len;
        }
      }
    }
    if (unk >= 0) add(unk, unk_len);
    merge_all(symbols);
    std::vector<int32_t> ids;
    ids.reserve(symbols.size());
    for (const auto& s : symbols) {
      if (s.len != 0) ids.push_back(s.id);
    }
    return ids;
  }

  // HF Word::merge_all without dropout.
  void merge_all(std::vector<Symbol>& symbols) const {
    std::priority_queue<QueuedMerge> queue;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (const MergeRule* m = find_merge(symbols[i].id, symbols[i + 1].id))
        queue.push({m->rank, static_cast<uint32_t>(i), m->new_id});
    }
    while (!queue.empty()) {
      QueuedMerge top = queue.top();
      queue.pop();
      Symbol& current = symbols[top.pos];
      if (current.len == 0 || current.next == -1) continue;
      int32_t next_pos = current.next;
      Symbol right = symbols[next_pos];
      const MergeRule* rule = find_merge(current.id, right.id);
      if (!rule || rule->new_id != top.new_id) continue;  // stale entry
      current.id = top.new_id;
      current.len += right.len;
      current.next = right.next;
      symbols[next_pos].len = 0;
      if (right.next >= 0 && static_cast<size_t>(right.next) < symbols.size())
        symbols[right.next].prev = static_cast<int32_t>(top.pos);
      if (current.prev >= 0) {
        if (const MergeRule* m = find_merge(symbols[current.prev].id, current.id))
          queue.push({m->rank, static_cast<uint32_t>(current.prev), m->new_id});
      }
      if (current.next >= 0 && static_cast<size_t>(current.next) < symbols.size()) {
        if (const MergeRule* m = find_merge(current.id, symbols[current.next].id))
          queue.push({m->rank, top.pos, m->new_id});
      }
    }
  }
};

BpeModel::BpeModel() : impl_(std::make_unique<Impl>()) {}
BpeModel::~BpeModel() = default;

std::unique_ptr<BpeModel> BpeModel::from_json(const json& config, const std::string& origin, const std::string& path) {
  ConfigNode node(config, origin, path);
  node.expect_object();
  if (node.has("type")) {
    std::string type = node.get_string("type");
    if (type != "BPE") node.fail("model type \"{}\" is not supported (supported: BPE)", type);
  } else if (!node.has("merges")) {
    node.fail("missing key \"type\" (supported model types: BPE)");
  }
  std::unique_ptr<BpeModel> model(new BpeModel());
  Impl& m = *model->impl_;
  m.origin = origin;
  m.path = path;

  if (node.has("dropout")) {
    ConfigNode dropout = node.at("dropout");
    if (!dropout.value().is_number()) dropout.fail("expected a number or null, found {}", dropout.type_name());
    double p = dropout.value().get<double>();
    if (p != 0.0) dropout.fail("BPE dropout {} is not supported (results would be random); set it to null", p);
  }
  m.unk_token = node.get_optional_string("unk_token");
  m.prefix = node.get_string_or("continuing_subword_prefix", "");
  m.suffix = node.get_string_or("end_of_word_suffix", "");
  m.fuse_unk = node.get_bool_or("fuse_unk", false);
  m.byte_fallback = node.get_bool_or("byte_fallback", false);
  m.ignore_merges = node.get_bool_or("ignore_merges", false);

  ConfigNode vocab = node.at("vocab");
  vocab.expect_object();
  m.vocab.reserve(vocab.size() * 2);
  for (const auto& [token, value] : vocab.value().items()) {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() >= kMaxId)
      vocab.fail("token \"{}\" has id {}, expected an integer in [0, {})", token, value.dump(), kMaxId);
    int64_t id = value.get<int64_t>();
    m.vocab.emplace(token, static_cast<int32_t>(id));
    m.max_id = std::max(m.max_id, id);
  }
  m.vocab_r.assign(static_cast<size_t>(m.max_id + 1), nullptr);
  for (const auto& [token, id] : m.vocab) {
    if (!m.vocab_r[id]) m.vocab_r[id] = &token;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = m.vocab.find(fmt::format("<0x{:02X}>", b));
    m.byte_ids[b] = it == m.vocab.end() ? -1 : it->second;
  }

  ConfigNode merges = node.at("merges");
  merges.expect_array();
  m.merges.reserve(merges.size() * 2);
  auto lookup = [&](const std::string& token, size_t index) {
    auto it = m.vocab.find(token);
    if (it == m.vocab.end()) merges.at(index).fail("merge token \"{}\" is not in the vocabulary", token);
    return it->second;
  };
  uint32_t rank = 0;
  std::string a, b;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& entry = merges.value()[i];
    if (entry.is_string()) {
      const std::string& line = entry.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;  // HF skips a merges.txt header
      size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        merges.at(i).fail("merge \"{}\" must be two tokens separated by one space", line);
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      a = entry[0].get<std::string>();
      b = entry[1].get<std::string>();
    } else {
      merges.at(i).fail("expected \"a b\" or [\"a\", \"b\"], found {}", entry.dump());
    }
    int32_t a_id = lookup(a, i), b_id = lookup(b, i);
    if (b.size() < m.prefix.size()) merges.at(i).fail("merge token \"{}\" is shorter than the subword prefix", b);
    std::string merged = a + b.substr(m.prefix.size());
    int32_t new_id = lookup(merged, i);
    m.merges[pair_key(a_id, b_id)] = MergeRule{rank, new_id};  // a repeated pair keeps the last rank, as HF
    ++rank;
  }
  return model;
}

void BpeModel::tokenize(std::string_view word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  const Impl& m = *impl_;
  if (m.ignore_merges) {
    auto it = m.vocab.find(std::string(word));
    if (it != m.vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  bool cacheable = word.size() < kCacheMaxWordBytes;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::shared_lock lock(m.cache_mutex);
    auto it = m.cache.find(key);
    if (it != m.cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = m.merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::unique_lock lock(m.cache_mutex);
    if (m.cache.size() < kCacheCapacity) m.cache.emplace(std::move(key), std::move(ids));
  }
}

std::optional<int64_t> BpeModel::token_to_id(const std::string& token) const {
  auto it = impl_->vocab.find(token);
  if (it == impl_->vocab.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(impl_->vocab_r.size())) return nullptr;
  return impl_->vocab_r[static_cast<size_t>(id)];
}

size_t BpeModel::vocab_count() const { return impl_->vocab.size(); }
int64_t BpeModel::max_id() const { return impl_->max_id; }

}  // namespace retain
