#include "retain/tokenizer/normalizer.h"

#include "config_node.h"
#include "retain/tokenizer/pre_tokenizer.h"
#include "retain/tokenizer/regex.h"
#include "retain/tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>

namespace retain {

using tokenizer_detail::ConfigNode;

namespace {

int utf8proc_options(UnicodeForm form) {
  switch (form) {
    case UnicodeForm::NFC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    case UnicodeForm::NFD: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    case UnicodeForm::NFKC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    case UnicodeForm::NFKD: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  }
  return 0;
}

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Whether normalization can never combine `c` with what precedes it, so that a chunk may start
// there: a starter that is not a mark (marks such as U+0B3E compose as second characters) and not
// a Hangul medial vowel or final consonant jamo.
bool starts_chunk(char32_t c) {
  if (c < 0x300) return true;
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
  if (p->combining_class != 0) return false;
  if (p->category == UTF8PROC_CATEGORY_MN || p->category == UTF8PROC_CATEGORY_MC || p->category == UTF8PROC_CATEGORY_ME)
    return false;
  if ((c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2)) return false;
  return true;
}

void normalize_unicode(NormalizedString& s, UnicodeForm form) {
  if (is_ascii(s.text())) return;  // every form leaves ASCII unchanged
  std::string whole = unicode_normalize(s.text(), form);
  if (whole == s.text()) return;
  // Normalize chunk by chunk so that each output character keeps the offset of its chunk.
  const std::string& text = s.text();
  const auto& origins = s.origins();
  std::string out;
  std::vector<uint32_t> out_origins;
  out.reserve(whole.size());
  out_origins.reserve(whole.size());
  size_t chunk = 0, pos = 0;
  auto flush = [&](size_t end) {
    if (end == chunk) return;
    std::string piece = unicode_normalize(std::string_view(text).substr(chunk, end - chunk), form);
    out += piece;
    out_origins.resize(out.size(), origins[chunk]);
    chunk = end;
  };
  while (pos < text.size()) {
    size_t begin = pos;
    char32_t c = unicode::next_code_point(text, pos);
    if (begin > chunk && starts_chunk(c)) flush(begin);
  }
  flush(text.size());
  if (out != whole) {
    // Chunking changed the result (a rare cross-chunk composition): keep the exact text, and give
    // the first byte the first offset and the rest the last character's offset.
    out = whole;
    out_origins.assign(whole.size(), origins.back());
    if (!out_origins.empty()) out_origins[0] = origins[0];
  }
  s = NormalizedString(std::move(out), std::move(out_origins));
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(UnicodeForm form) : form_(form) {}
  void normalize(NormalizedString& text) const override { normalize_unicode(text, form_); }

 private:
  UnicodeForm form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.map_chars([](char32_t c, auto emit) {
      if (c < 0x80) {
        emit(c >= 'A' && c <= 'Z' ? c + 32 : c);
      } else if (c == 0x130) {  // Rust's only multi-character unconditional lowercase mapping
        emit(U'i');
        emit(0x307);
      } else {
        emit(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
      }
    });
  }
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(NormalizedString& text) const override { text.prepend(prefix_); }

 private:
  std::string prefix_;
};

class Replace : public Normalizer {
 public:
  Replace(Regex regex, std::string content) : regex_(std::move(regex)), content_(std::move(content)) {}
  void normalize(NormalizedString& text) const override {
    if (text.empty()) return;
    std::vector<std::pair<size_t, size_t>> matches;
    for (const auto& m : regex_.find_all(text.text())) matches.emplace_back(m.begin, m.end);
    text.replace(matches, content_);
  }

 private:
  Regex regex_;
  std::string content_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& text) const override {
    const std::string& s = text.text();
    size_t begin = 0, end = s.size();
    if (left_) {
      size_t pos = 0;
      while (pos < s.size()) {
        size_t at = pos;
        if (!unicode::is_whitespace(unicode::next_code_point(s, pos))) {
          pos = at;
          break;
        }
      }
      begin = pos;
    }
    if (right_) {
      while (end > begin) {
        size_t at = end - 1;
        while (at > begin && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
        size_t tmp = at;
        if (!unicode::is_whitespace(unicode::next_code_point(s, tmp))) break;
        end = at;
      }
    }
    if (begin != 0 || end != s.size()) text = text.slice(begin, end);
  }

 private:
  bool left_, right_;
};

class StripAccents : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.map_chars([](char32_t c, auto emit) {
      if (!unicode::is_combining_mark(c)) emit(c);
    });
  }
};

class Nmt : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.map_chars([](char32_t c, auto emit) {
      if ((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F || c == 0x9F)
        return;
      bool space = c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 || (c >= 0x200B && c <= 0x200F) ||
                   c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF || c == 0xFFFD;
      emit(space ? U' ' : c);
    });
  }
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override { byte_level_encode(text); }
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(NormalizedString& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};


std::unique_ptr<Normalizer> build(const ConfigNode& node) {
  std::string type = node.type();
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Prepend") return std::make_unique<Prepend>(node.get_string("prepend"));
  if (type == "Replace") return std::make_unique<Replace>(make_pattern(node.at("pattern")), node.get_string("content"));
  if (type == "Strip") return std::make_unique<Strip>(node.get_bool("strip_left"), node.get_bool("strip_right"));
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Nmt") return std::make_unique<Nmt>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Sequence") {
    return std::make_unique<SequenceNormalizer>(node.build_each("normalizers", build));
  }
  node.fail("normalizer type \"{}\" is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, "
            "Strip, StripAccents, Nmt, ByteLevel, Sequence)",
            type);
}

}  // namespace

std::string unicode_normalize(std::string_view text, UnicodeForm form) {
  if (text.empty()) return {};
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    static_cast<utf8proc_ssize_t>(text.size()), &out,
                                    static_cast<utf8proc_option_t>(utf8proc_options(form)));
  if (n < 0) fail("tokenizer", "Unicode normalization failed: {}", utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

std::unique_ptr<Normalizer> make_normalizer(const json& config, const std::string& origin, const std::string& path) {
  return build(ConfigNode(config, origin, path));
}

}  // namespace retain
