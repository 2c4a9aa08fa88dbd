#include "retain/tokenizer/bpe_trainer.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/tokenizer/regex.h"
#include "retain/tokenizer/unicode.h"

#include <algorithm>
#include <mutex>
#include <queue>
#include <set>
#include <thread>
#include <unordered_set>

namespace retain {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "bpe";

const Regex& split_regex() {
  static const Regex regex(llama3_split_pattern());
  return regex;
}

}  // namespace

// Why the cut points are safe: every alternative of the regex that can hold a '\n' ends at the last
// newline of a run (the newline runs are greedy and the next character is no newline), and the regex
// has no look-behind, so matching restarts there exactly as it would have continued.
std::vector<std::string_view> split_at_safe_newlines(std::string_view text, size_t target) {
  std::vector<std::string_view> out;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t cut = text.size();
    if (text.size() - begin > target) {
      cut = std::string_view::npos;
      for (size_t at = begin + target; at + 1 < text.size(); ++at) {
        at = text.find('\n', at);
        if (at == std::string_view::npos || at + 1 >= text.size()) break;
        unsigned char next = static_cast<unsigned char>(text[at + 1]);
        if (next > 0x20 && next < 0x80) {
          cut = at + 1;
          break;
        }
      }
      if (cut == std::string_view::npos) cut = text.size();
    }
    out.push_back(text.substr(begin, cut - begin));
    begin = cut;
  }
  return out;
}

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t key_left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t key_right(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

struct Candidate {
  int64_t count;
  uint64_t key;
  // The heap's top is the highest count, then the smallest (left, right).
  bool operator<(const Candidate& other) const {
    if (count != other.count) return count < other.count;
    return key > other.key;
  }
};

std::string byte_level(std::string_view bytes) {
  const auto& table = unicode::byte_to_code_point();
  std::string out;
  for (unsigned char b : bytes) unicode::append_utf8(out, table[b]);
  return out;
}

}  // namespace

const char* llama3_split_pattern() {
  return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}

void count_words(std::string_view text, WordCounts& counts, const std::string& origin) {
  size_t bad = unicode::find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    size_t line =
        1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
    fail(kComponent,
         "{}:{}: the text is not valid UTF-8 (byte 0x{:02X} at offset {}); convert it first, e.g. "
         "iconv -f latin1 -t utf-8",
         origin, line, static_cast<unsigned>(static_cast<unsigned char>(text[bad])), bad);
  }
  size_t done = 0;
  for (const auto& span : split_regex().find_all(text)) {
    // Isolated split: the text between matches is a piece too (the pattern leaves none in practice).
    if (span.begin > done) ++counts[std::string(text.substr(done, span.begin - done))];
    if (span.end > span.begin) ++counts[std::string(text.substr(span.begin, span.end - span.begin))];
    done = span.end;
  }
  if (done < text.size()) ++counts[std::string(text.substr(done))];
}

std::vector<fs::path> list_text_files(const std::vector<std::string>& inputs, const std::string& component) {
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    const fs::path path = input;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file()) found.push_back(it->path());
      }
      RETAIN_CHECK(!ec, component, "cannot list {}: {}", path.string(), ec.message());
      std::sort(found.begin(), found.end());
      RETAIN_CHECK(!found.empty(), component, "folder {} holds no files", path.string());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      RETAIN_CHECK(fs::is_regular_file(path, ec), component, "input {} is neither a file nor a folder", path.string());
      files.push_back(path);
    }
  }
  RETAIN_CHECK(!files.empty(), component, "no input files (give --input FILE or DIR)");
  return files;
}

WordCounts count_words_in_files(const std::vector<fs::path>& files, int threads) {
  threads = std::max(1, threads);
  WordCounts total;
  for (const auto& file : files) {
    std::string text;
    if (file.extension() == ".jsonl") {
      // One document per line: its "text" field, documents joined by '\n' (a cut point between them).
      for_each_jsonl(
          file,
          [&](size_t, const json& line) {
            text += json_get<std::string>(line, "text", "line", kComponent);
            text += '\n';
          },
          kComponent);
    } else {
      text = read_file(file, kComponent);
    }
    // Check the whole file first so that the error names its line, not a chunk's.
    size_t bad = unicode::find_invalid_utf8(text);
    if (bad != std::string::npos) count_words(text, total, file.string());
    auto chunks =
        split_at_safe_newlines(text, std::max<size_t>(1 << 16, text.size() / static_cast<size_t>(threads * 4) + 1));
    std::vector<WordCounts> partial(std::min<size_t>(static_cast<size_t>(threads), chunks.size()));
    std::vector<std::thread> workers;
    std::exception_ptr error;
    std::mutex error_mutex;
    for (size_t t = 0; t < partial.size(); ++t) {
      workers.emplace_back([&, t] {
        try {
          for (size_t c = t; c < chunks.size(); c += partial.size()) count_words(chunks[c], partial[t], file.string());
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
        }
      });
    }
    for (auto& w : workers) w.join();
    if (error) std::rethrow_exception(error);
    for (auto& counts : partial) {
      for (auto& [word, n] : counts) total[word] += n;
    }
  }
  return total;
}

BpeVocabulary train_bpe(const WordCounts& counts, const BpeTrainerOptions& options) {
  const auto& specials = options.special_tokens;
  const int64_t k = static_cast<int64_t>(specials.size());
  RETAIN_CHECK(!counts.empty(), kComponent, "the corpus has no words (empty input?)");
  RETAIN_CHECK(options.vocab_size >= k + 256, kComponent,
               "vocab_size {} is too small: it must hold the {} special tokens and the 256 bytes (at least {})",
               options.vocab_size, k, k + 256);
  RETAIN_CHECK(options.min_frequency >= 1, kComponent, "min_frequency must be at least 1, got {}",
               options.min_frequency);
  std::unordered_set<std::string> special_set;
  for (const auto& s : specials) {
    RETAIN_CHECK(!s.empty(), kComponent, "a special token is empty");
    RETAIN_CHECK(special_set.insert(s).second, kComponent, "special token \"{}\" is given twice", s);
  }

  BpeVocabulary out;
  out.special_tokens = specials;
  out.tokens = specials;
  std::vector<std::string> bytes_of;  // id → raw bytes (empty for specials)
  bytes_of.assign(static_cast<size_t>(k), std::string());
  for (int b = 0; b < 256; ++b) {
    out.tokens.push_back(byte_level(std::string(1, static_cast<char>(b))));
    bytes_of.push_back(std::string(1, static_cast<char>(b)));
  }
  std::unordered_set<std::string> taken(out.tokens.begin(), out.tokens.end());

  // Word types in sorted order, so that nothing depends on the hash map's order.
  std::vector<std::pair<std::string, int64_t>> types(counts.begin(), counts.end());
  std::sort(types.begin(), types.end());
  std::vector<std::vector<int32_t>> words(types.size());
  std::vector<int64_t> weight(types.size());
  std::unordered_map<uint64_t, int64_t> pair_counts;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair → words that held it (may be stale)
  for (size_t w = 0; w < types.size(); ++w) {
    weight[w] = types[w].second;
    RETAIN_CHECK(weight[w] > 0, kComponent, "word count of \"{}\" is {}, expected > 0", types[w].first, weight[w]);
    for (unsigned char c : types[w].first) words[w].push_back(static_cast<int32_t>(k + c));
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      uint64_t key = pair_key(words[w][i], words[w][i + 1]);
      pair_counts[key] += weight[w];
      auto& list = where[key];
      if (list.empty() || list.back() != static_cast<int32_t>(w)) list.push_back(static_cast<int32_t>(w));
    }
  }
  std::priority_queue<Candidate> heap;
  for (const auto& [key, n] : pair_counts) heap.push({n, key});

  std::vector<int64_t> seen_at(words.size(), -1);
  std::unordered_map<uint64_t, int64_t> changed;
  while (static_cast<int64_t>(out.tokens.size()) < options.vocab_size && !heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    auto it = pair_counts.find(top.key);
    if (it == pair_counts.end() || it->second != top.count) continue;  // stale entry
    if (top.count < options.min_frequency) break;
    const int32_t a = key_left(top.key), b = key_right(top.key);
    std::string merged_bytes = bytes_of[static_cast<size_t>(a)] + bytes_of[static_cast<size_t>(b)];
    std::string merged = byte_level(merged_bytes);
    if (taken.count(merged)) {
      // Would spell a special token: this pair is never merged.
      pair_counts.erase(it);
      continue;
    }
    const int32_t c = static_cast<int32_t>(out.tokens.size());
    out.tokens.push_back(merged);
    bytes_of.push_back(std::move(merged_bytes));
    taken.insert(out.tokens.back());
    out.merges.emplace_back(out.tokens[static_cast<size_t>(a)], out.tokens[static_cast<size_t>(b)]);

    changed.clear();
    std::vector<int32_t> holders = std::move(where[top.key]);
    where.erase(top.key);
    const int64_t stamp = c;
    for (int32_t w : holders) {
      if (seen_at[static_cast<size_t>(w)] == stamp) continue;
      seen_at[static_cast<size_t>(w)] = stamp;
      auto& word = words[static_cast<size_t>(w)];
      bool present = false;
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        if (word[i] == a && word[i + 1] == b) {
          present = true;
          break;
        }
      }
      if (!present) continue;
      const int64_t n = weight[static_cast<size_t>(w)];
      // Take the word's pairs out, merge, put them back: words are short, and this is simple to
      // get right for runs such as "a a a" merging (a, a).
      for (size_t i = 0; i + 1 < word.size(); ++i) changed[pair_key(word[i], word[i + 1])] -= n;
      std::vector<int32_t> next;
      next.reserve(word.size());
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == a && word[i + 1] == b) {
          next.push_back(c);
          ++i;
        } else {
          next.push_back(word[i]);
        }
      }
      word = std::move(next);
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        uint64_t key = pair_key(word[i], word[i + 1]);
        changed[key] += n;
        if (word[i] == c || word[i + 1] == c) {
          auto& list = where[key];
          if (list.empty() || list.back() != w) list.push_back(w);
        }
      }
    }
    for (const auto& [key, delta] : changed) {
      if (delta == 0) continue;
      int64_t& n = pair_counts[key];
      n += delta;
      if (n <= 0) {
        pair_counts.erase(key);
        where.erase(key);
      } else {
        heap.push({n, key});
      }
    }
  }
  return out;
}

nlohmann::ordered_json bpe_tokenizer_json(const BpeVocabulary& vocabulary) {
  using ojson = nlohmann::ordered_json;
  ojson doc;
  doc["version"] = "1.0";
  doc["truncation"] = nullptr;
  doc["padding"] = nullptr;
  ojson added = ojson::array();
  for (size_t i = 0; i < vocabulary.special_tokens.size(); ++i) {
    added.push_back(ojson{{"id", i},
                          {"content", vocabulary.special_tokens[i]},
                          {"single_word", false},
                          {"lstrip", false},
                          {"rstrip", false},
                          {"normalized", false},
                          {"special", true}});
  }
  doc["added_tokens"] = added;
  doc["normalizer"] = nullptr;
  doc["pre_tokenizer"] = ojson{
      {"type", "Sequence"},
      {"pretokenizers",
       ojson::array(
           {ojson{{"type", "Split"},
                  {"pattern", ojson{{"Regex", llama3_split_pattern()}}},
                  {"behavior", "Isolated"},
                  {"invert", false}},
            ojson{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}})}};
  if (vocabulary.special_tokens.empty()) {
    doc["post_processor"] = nullptr;
  } else {
    const std::string& bos = vocabulary.special_tokens.front();
    auto special = [&](const std::string& id, int type_id) {
      return ojson{{"SpecialToken", ojson{{"id", id}, {"type_id", type_id}}}};
    };
    auto sequence = [&](const std::string& id, int type_id) {
      return ojson{{"Sequence", ojson{{"id", id}, {"type_id", type_id}}}};
    };
    doc["post_processor"] =
        ojson{{"type", "TemplateProcessing"},
              {"single", ojson::array({special(bos, 0), sequence("A", 0)})},
              {"pair", ojson::array({special(bos, 0), sequence("A", 0), special(bos, 1), sequence("B", 1)})},
              {"special_tokens",
               ojson{{bos, ojson{{"id", bos}, {"ids", ojson::array({0})}, {"tokens", ojson::array({bos})}}}}}};
  }
  doc["decoder"] =
      ojson{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  ojson vocab = ojson::object();
  for (size_t id = 0; id < vocabulary.tokens.size(); ++id) vocab[vocabulary.tokens[id]] = id;
  ojson merges = ojson::array();
  for (const auto& [left, right] : vocabulary.merges) merges.push_back(left + " " + right);
  doc["model"] = ojson{{"type", "BPE"},
                       {"dropout", nullptr},
                       {"unk_token", nullptr},
                       {"continuing_subword_prefix", nullptr},
                       {"end_of_word_suffix", nullptr},
                       {"fuse_unk", false},
                       {"byte_fallback", false},
                       {"ignore_merges", false},
                       {"vocab", vocab},
                       {"merges", merges}};
  return doc;
}

void write_bpe_tokenizer(const fs::path& path, const BpeVocabulary& vocabulary) {
  const std::string text = bpe_tokenizer_json(vocabulary).dump(2) + "\n";
  write_file_atomic(path, text, kComponent);
}

}  // namespace retain
