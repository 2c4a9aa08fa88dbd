#include "retain/tokenizer/decoder.h"

#include "config_node.h"
#include "retain/tokenizer/regex.h"
#include "retain/tokenizer/unicode.h"

namespace retain {

using tokenizer_detail::ConfigNode;

std::string Decoder::decode(std::vector<std::string> tokens) const {
  std::string out;
  for (const auto& t : decode_chain(std::move(tokens))) out += t;
  return out;
}

namespace {

const char* kReplacementChar = "\xEF\xBF\xBD";

class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      std::string mapped;
      bool all = true;
      size_t pos = 0;
      while (pos < t.size()) {
        int b = unicode::code_point_to_byte(unicode::next_code_point(t, pos));
        if (b < 0) {
          all = false;
          break;
        }
        mapped.push_back(static_cast<char>(b));
      }
      bytes += all ? mapped : t;  // a token outside the alphabet is kept as its own bytes
    }
    return {unicode::from_utf8_lossy(bytes)};
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool prepend) : replacement_(replacement), prepend_(prepend) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      size_t pos = 0;
      while (pos < t.size()) {
        size_t begin = pos;
        char32_t c = unicode::next_code_point(t, pos);
        if (c == replacement_) {
          if (!(i == 0 && prepend_)) out += ' ';
        } else {
          out.append(t, begin, pos - begin);
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool prepend_;  // prepend_scheme != never: the first token loses its replacement characters
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Regex regex, std::string content) : regex_(std::move(regex)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::string out;
      size_t last = 0;
      for (const auto& m : regex_.find_all(t)) {
        out.append(t, last, m.begin - last);
        out += content_;
        last = m.end;
      }
      out.append(t, last, std::string::npos);
      t = std::move(out);
    }
    return tokens;
  }

 private:
  Regex regex_;
  std::string content_;
};

// Rust's u8::from_str_radix(s, 16) for a two-character string (accepts a leading '+').
bool parse_hex_byte(const std::string& s, unsigned& value) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (s.size() != 2) return false;
  if (s[0] == '+') {
    int d = digit(s[1]);
    if (d < 0) return false;
    value = static_cast<unsigned>(d);
    return true;
  }
  int hi = digit(s[0]), lo = digit(s[1]);
  if (hi < 0 || lo < 0) return false;
  value = static_cast<unsigned>(hi * 16 + lo);
  return true;
}

class ByteFallbackDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::find_invalid_utf8(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back(kReplacementChar);
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      unsigned value = 0;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && parse_hex_byte(t.substr(3, 2), value)) {
        pending.push_back(static_cast<char>(value));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }
};

class FuseDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {all};
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::vector<std::pair<size_t, char32_t>> chars;  // (byte offset, code point)
      size_t pos = 0;
      while (pos < t.size()) {
        size_t begin = pos;
        chars.emplace_back(begin, unicode::next_code_point(t, pos));
      }
      size_t start_cut = 0;
      for (size_t i = 0; i < start_ && i < chars.size(); ++i) {
        if (chars[i].second != content_) break;
        start_cut = i + 1;
      }
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < stop_ && i < chars.size(); ++i) {
        size_t index = chars.size() - i - 1;
        if (chars[index].second != content_) break;
        stop_cut = index;
      }
      if (stop_cut <= start_cut) {
        t.clear();
        continue;
      }
      size_t b = start_cut < chars.size() ? chars[start_cut].first : t.size();
      size_t e = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
      t = t.substr(b, e - b);
    }
    return tokens;
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0) t = t.substr(prefix_.size());
        else t = " " + t;
      }
      if (cleanup_) t = cleanup(t);
    }
    return tokens;
  }

 private:
  static void replace_all(std::string& s, const std::string& from, const std::string& to) {
    std::string out;
    size_t last = 0, at;
    while ((at = s.find(from, last)) != std::string::npos) {
      out.append(s, last, at - last);
      out += to;
      last = at + from.size();
    }
    out.append(s, last, std::string::npos);
    s = std::move(out);
  }
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> rules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : rules) replace_all(s, from, to);
    return s;
  }
  std::string prefix_;
  bool cleanup_;
};

class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (suffix_.empty()) continue;
      std::string replacement = i + 1 == tokens.size() ? "" : " ";
      std::string out;
      size_t last = 0, at;
      const std::string& t = tokens[i];
      while ((at = t.find(suffix_, last)) != std::string::npos) {
        out.append(t, last, at - last);
        out += replacement;
        last = at + suffix_.size();
      }
      out.append(t, last, std::string::npos);
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  std::string suffix_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& p : parts_) tokens = p->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

char32_t single_char(const ConfigNode& node, const std::string& key) {
  std::string s = node.get_string(key);
  size_t pos = 0;
  if (s.empty()) node.at(key).fail("expected a single character, found an empty string");
  char32_t c = unicode::next_code_point(s, pos);
  if (pos != s.size()) node.at(key).fail("expected a single character, found \"{}\"", s);
  return c;
}

std::unique_ptr<Decoder> build(const ConfigNode& node) {
  std::string type = node.type();
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    bool prepend = true;
    if (node.has("prepend_scheme")) prepend = node.get_string("prepend_scheme") != "never";
    if (node.has("add_prefix_space") && !node.get_bool("add_prefix_space")) prepend = false;
    return std::make_unique<MetaspaceDecoder>(single_char(node, "replacement"), prepend);
  }
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(tokenizer_detail::make_pattern(node.at("pattern")), node.get_string("content"));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    int64_t start = node.get_int("start"), stop = node.get_int("stop");
    if (start < 0 || stop < 0) node.fail("start and stop must be non-negative");
    return std::make_unique<StripDecoder>(single_char(node, "content"), static_cast<size_t>(start),
                                          static_cast<size_t>(stop));
  }
  if (type == "WordPiece")
    return std::make_unique<WordPieceDecoder>(node.get_string_or("prefix", "##"), node.get_bool_or("cleanup", true));
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(node.get_string_or("suffix", "</w>"));
  if (type == "Sequence") {
    return std::make_unique<SequenceDecoder>(node.build_each("decoders", build));
  }
  node.fail("decoder type \"{}\" is not supported (supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, "
            "Strip, WordPiece, BPEDecoder, Sequence)",
            type);
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& config, const std::string& origin, const std::string& path) {
  return build(ConfigNode(config, origin, path));
}

}  // namespace retain
