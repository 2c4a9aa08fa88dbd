#include "retain/tokenizer/pre_tokenizer.h"

#include "config_node.h"
#include "retain/tokenizer/regex.h"
#include "retain/tokenizer/unicode.h"

namespace retain {

using tokenizer_detail::ConfigNode;

const char* gpt2_pattern() {
  return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
}

void split_pieces(std::vector<Piece>& pieces,
                  const std::function<std::vector<NormalizedString>(NormalizedString&&)>& split) {
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (auto& piece : pieces) {
    if (piece.token_id >= 0) {
      out.push_back(std::move(piece));
      continue;
    }
    for (auto& part : split(std::move(piece.text))) {
      if (!part.empty()) out.push_back(Piece{std::move(part), -1});
    }
  }
  pieces = std::move(out);
}

void byte_level_encode(NormalizedString& text) {
  const auto& table = unicode::byte_to_code_point();
  const std::string& s = text.text();
  const auto& origins = text.origins();
  std::string out;
  std::vector<uint32_t> out_origins;
  out.reserve(s.size() * 2);
  out_origins.reserve(s.size() * 2);
  for (size_t i = 0; i < s.size(); ++i) {
    unicode::append_utf8(out, table[static_cast<unsigned char>(s[i])]);
    out_origins.resize(out.size(), origins[i]);
  }
  text = NormalizedString(std::move(out), std::move(out_origins));
}

namespace {

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    static const Regex regex(gpt2_pattern());
    split_pieces(pieces, [&](NormalizedString&& text) {
      if (add_prefix_space_ && text.text()[0] != ' ') text.prepend(" ");
      if (!use_regex_) return std::vector<NormalizedString>{std::move(text)};
      return split(text, find_matches(regex, text.text()), SplitBehavior::Isolated);
    });
    for (auto& piece : pieces) {
      if (piece.token_id < 0) byte_level_encode(piece.text);
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Regex regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](NormalizedString&& text) {
      auto ranges = find_matches(regex_, text.text());
      if (invert_) invert_matches(ranges);
      return split(text, ranges, behavior_);
    });
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { Always, First, Never };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), replacement_utf8_(unicode::to_utf8(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](NormalizedString&& text) {
      std::vector<std::pair<size_t, size_t>> spaces;
      const std::string& s = text.text();
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == ' ') spaces.emplace_back(i, i + 1);
      }
      text.replace(spaces, replacement_utf8_);
      bool starts = text.text().compare(0, replacement_utf8_.size(), replacement_utf8_) == 0;
      if (scheme_ == PrependScheme::Always && !starts) text.prepend(replacement_utf8_);
      if (scheme_ == PrependScheme::First && !starts && text.original_start() == 0) text.prepend(replacement_utf8_);
      if (!split_) return std::vector<NormalizedString>{std::move(text)};
      char32_t r = replacement_;
      auto ranges = find_char_matches(text.text(), [r](char32_t c) { return c == r; });
      return split(text, ranges, SplitBehavior::MergedWithNext);
    });
  }

 private:
  char32_t replacement_;
  std::string replacement_utf8_;
  PrependScheme scheme_;
  bool split_;
};

class CharSplit : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> predicate, SplitBehavior behavior)
      : predicate_(std::move(predicate)), behavior_(behavior) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](NormalizedString&& text) {
      return split(text, find_char_matches(text.text(), predicate_), behavior_);
    });
  }

 private:
  std::function<bool(char32_t)> predicate_;
  SplitBehavior behavior_;
};

class Whitespace : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    static const Regex regex(R"(\w+|[^\w\s]+)");
    split_pieces(pieces, [&](NormalizedString&& text) {
      auto ranges = find_matches(regex, text.text());
      invert_matches(ranges);
      return split(text, ranges, SplitBehavior::Removed);
    });
  }
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

SplitBehavior behavior_of(const ConfigNode& node, const std::string& key, std::optional<SplitBehavior> fallback) {
  if (!node.has(key)) {
    if (fallback) return *fallback;
    node.fail("missing key \"{}\"", key);
  }
  std::string name = node.get_string(key);
  SplitBehavior behavior;
  if (!parse_split_behavior(name, behavior))
    node.at(key).fail("unknown split behavior \"{}\" (expected Removed, Isolated, MergedWithPrevious, "
                      "MergedWithNext or Contiguous)",
                      name);
  return behavior;
}

char32_t single_char(const ConfigNode& node, const std::string& key) {
  std::string s = node.get_string(key);
  size_t pos = 0;
  if (s.empty()) node.at(key).fail("expected a single character, found an empty string");
  char32_t c = unicode::next_code_point(s, pos);
  if (pos != s.size()) node.at(key).fail("expected a single character, found \"{}\"", s);
  return c;
}

std::unique_ptr<PreTokenizer> build(const ConfigNode& node) {
  std::string type = node.type();
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(node.get_bool_or("add_prefix_space", true), node.get_bool_or("use_regex", true));
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(tokenizer_detail::make_pattern(node.at("pattern")),
                                               behavior_of(node, "behavior", std::nullopt), node.get_bool("invert"));
  }
  if (type == "Metaspace") {
    char32_t replacement = single_char(node, "replacement");
    PrependScheme scheme = PrependScheme::Always;
    bool declared = node.has("prepend_scheme");
    if (declared) {
      std::string name = node.get_string("prepend_scheme");
      if (name == "always") scheme = PrependScheme::Always;
      else if (name == "first") scheme = PrependScheme::First;
      else if (name == "never") scheme = PrependScheme::Never;
      else node.at("prepend_scheme").fail("unknown prepend_scheme \"{}\" (expected always, first or never)", name);
    }
    if (node.has("add_prefix_space") && !node.get_bool("add_prefix_space")) {
      if (declared && scheme != PrependScheme::Never)
        node.fail("add_prefix_space is false but prepend_scheme is \"{}\" (they must agree)", node.get_string("prepend_scheme"));
      scheme = PrependScheme::Never;
    }
    return std::make_unique<Metaspace>(replacement, scheme, node.get_bool_or("split", true));
  }
  if (type == "Whitespace") return std::make_unique<Whitespace>();
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(unicode::is_whitespace, SplitBehavior::Removed);
  if (type == "Digits") {
    bool individual = node.get_bool_or("individual_digits", false);
    return std::make_unique<CharSplit>(unicode::is_numeric,
                                       individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }
  if (type == "Punctuation")
    return std::make_unique<CharSplit>(unicode::is_punctuation, behavior_of(node, "behavior", SplitBehavior::Isolated));
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(std::make_unique<CharSplit>(unicode::is_whitespace, SplitBehavior::Removed));
    parts.push_back(std::make_unique<CharSplit>(unicode::is_punctuation, SplitBehavior::Isolated));
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "CharDelimiterSplit") {
    char32_t delimiter = single_char(node, "delimiter");
    return std::make_unique<CharSplit>([delimiter](char32_t c) { return c == delimiter; }, SplitBehavior::Removed);
  }
  if (type == "Sequence") {
    return std::make_unique<SequencePreTokenizer>(node.build_each("pretokenizers", build));
  }
  node.fail("type \"{}\" is not supported (supported: ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit, "
            "Digits, Punctuation, BertPreTokenizer, CharDelimiterSplit, Sequence)",
            type);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& config, const std::string& origin, const std::string& path) {
  return build(ConfigNode(config, origin, path));
}

}  // namespace retain
