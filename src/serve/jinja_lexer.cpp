// jinja_lexer.cpp — text and tag tokens of a chat template (see jinja_lexer.h).
#include "jinja_lexer.h"

#include "retain/core/error.h"

#include <algorithm>
#include <cctype>

namespace retain::serve::jinja {

void fail_at(const std::string& where, const Pos& pos, const std::string& message) {
  fail("chat_template", "{}:{}:{}: {}", where, pos.line, pos.column, message);
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case Token::Kind::Text:
      return "template text";
    case Token::Kind::BlockOpen:
      return "'{%'";
    case Token::Kind::BlockClose:
      return "'%}'";
    case Token::Kind::VarOpen:
      return "'{{'";
    case Token::Kind::VarClose:
      return "'}}'";
    case Token::Kind::String:
      return "string \"" + token.text + "\"";
    case Token::Kind::End:
      return "end of template";
    default:
      return "'" + token.text + "'";
  }
}

namespace {

class Lexer {
 public:
  Lexer(const std::string& source, const std::string& where) : src_(source), where_(where) {
    // keep_trailing_newline=False: one trailing newline of the template is not output.
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t i = 0;
    bool strip_next = false;  // a -%} / -}} / -#} before: the next text loses its leading whitespace
    while (i < src_.size()) {
      if (strip_next) {
        i = skip_space(i);
        strip_next = false;
      }
      const size_t tag = find_tag(i);
      size_t text_end = tag;
      if (tag < src_.size()) {
        const char kind = src_[tag + 1];
        const bool minus = tag + 2 < src_.size() && src_[tag + 2] == '-';
        const bool plus = tag + 2 < src_.size() && src_[tag + 2] == '+';
        if (minus) {
          text_end = rstrip_end(i, tag);
        } else if ((kind == '%' || kind == '#') && !plus) {
          // lstrip_blocks: only spaces and tabs between the start of the line and the tag.
          size_t k = tag;
          while (k > 0 && (src_[k - 1] == ' ' || src_[k - 1] == '\t')) --k;
          if (k == 0 || src_[k - 1] == '\n') text_end = std::max(k, i);
        }
      }
      if (text_end > i) push(Token::Kind::Text, src_.substr(i, text_end - i), i);
      if (tag >= src_.size()) break;

      const char kind = src_[tag + 1];
      size_t j = tag + 2;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) ++j;
      bool trim = false;
      if (kind == '#') {
        const size_t close = src_.find("#}", j);
        if (close == std::string::npos) fail_at(where_, pos(tag), "unterminated comment: expected '#}' to close the '{#' here");
        strip_next = close > j && src_[close - 1] == '-';
        i = close + 2;
        trim = true;
      } else {
        push(kind == '%' ? Token::Kind::BlockOpen : Token::Kind::VarOpen, kind == '%' ? "{%" : "{{", tag);
        i = lex_tag(j, kind, tag, strip_next);
        trim = kind == '%';
      }
      // trim_blocks: the first newline after a block or comment tag is removed.
      if (trim && i < src_.size() && src_[i] == '\n') ++i;
    }
    push(Token::Kind::End, "", src_.size());
    return std::move(tokens_);
  }

 private:
  Pos pos(size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - 1;
    // Columns count code points, as an editor shows them.
    int column = 1;
    for (size_t k = *it; k < offset; ++k)
      if ((static_cast<unsigned char>(src_[k]) & 0xc0) != 0x80) ++column;
    return {static_cast<int>(it - line_starts_.begin()) + 1, column};
  }

  void push(Token::Kind kind, std::string text, size_t offset) { tokens_.push_back({kind, std::move(text), pos(offset)}); }

  size_t find_tag(size_t from) const {
    for (size_t k = src_.find('{', from); k != std::string::npos; k = src_.find('{', k + 1)) {
      if (k + 1 < src_.size() && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) return k;
    }
    return src_.size();
  }

  size_t skip_space(size_t i) const {
    const std::string rest = strip_space(src_.substr(i), true, false);
    return src_.size() - rest.size();
  }

  size_t rstrip_end(size_t begin, size_t end) const { return begin + strip_space(src_.substr(begin, end - begin), false, true).size(); }

  // Lexes the inside of a {% %} or {{ }} from `i`; returns the offset after the closing tag.
  size_t lex_tag(size_t i, char kind, size_t open, bool& strip_next) {
    const std::string close = kind == '%' ? "%}" : "}}";
    int braces = 0;
    while (true) {
      while (i < src_.size() && std::isspace(static_cast<unsigned char>(src_[i]))) ++i;
      if (i >= src_.size()) {
        fail_at(where_, pos(open),
                fmt::format("unterminated '{{{}' tag: expected '{}' before the end of the template", kind, close));
      }
      if (braces == 0 || kind == '%') {
        if (src_[i] == '-' && src_.compare(i + 1, 2, close) == 0) {
          push(kind == '%' ? Token::Kind::BlockClose : Token::Kind::VarClose, close, i);
          strip_next = true;
          return i + 3;
        }
        if (src_.compare(i, 2, close) == 0) {
          push(kind == '%' ? Token::Kind::BlockClose : Token::Kind::VarClose, close, i);
          return i + 2;
        }
      }
      if (src_.compare(i, 2, "{%") == 0 || src_.compare(i, 2, "{{") == 0) {
        fail_at(where_, pos(open), fmt::format("unterminated '{{{}' tag: expected '{}' before the '{}' at {}:{}", kind, close,
                                               src_.substr(i, 2), pos(i).line, pos(i).column));
      }
      const char c = src_[i];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t j = i;
        while (j < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[j])) || src_[j] == '_')) ++j;
        push(Token::Kind::Name, src_.substr(i, j - i), i);
        i = j;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t j = i;
        while (j < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[j])) || src_[j] == '_')) ++j;
        const bool after_dot = !tokens_.empty() && tokens_.back().kind == Token::Kind::Op && tokens_.back().text == ".";
        bool is_float = false;
        if (!after_dot && j + 1 < src_.size() && src_[j] == '.' && std::isdigit(static_cast<unsigned char>(src_[j + 1]))) {
          is_float = true;
          ++j;
          while (j < src_.size() && std::isdigit(static_cast<unsigned char>(src_[j]))) ++j;
        }
        if (!after_dot && j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
          size_t k = j + 1;
          if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
          if (k < src_.size() && std::isdigit(static_cast<unsigned char>(src_[k]))) {
            is_float = true;
            j = k;
            while (j < src_.size() && std::isdigit(static_cast<unsigned char>(src_[j]))) ++j;
          }
        }
        std::string number = src_.substr(i, j - i);
        number.erase(std::remove(number.begin(), number.end(), '_'), number.end());
        push(is_float ? Token::Kind::Float : Token::Kind::Int, number, i);
        i = j;
      } else if (c == '\'' || c == '"') {
        i = lex_string(i);
      } else {
        static const char* const kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                           "=",  "(",  ")",  "[",  "]",  "{",  "}", ",", ".", ":", "|"};
        const char* match = nullptr;
        for (const char* op : kOps) {
          if (src_.compare(i, std::char_traits<char>::length(op), op) == 0) {
            match = op;
            break;
          }
        }
        if (!match) fail_at(where_, pos(i), fmt::format("unexpected character '{}' inside a tag", c));
        if (match[0] == '{' && match[1] == 0) ++braces;
        if (match[0] == '}' && match[1] == 0) --braces;
        push(Token::Kind::Op, match, i);
        i += std::char_traits<char>::length(match);
      }
    }
  }

  // A Python string literal: \n \t \r \\ \' \" \xHH \uHHHH \UHHHHHHHH; other escapes stay as written.
  size_t lex_string(size_t start) {
    const char quote = src_[start];
    std::string value;
    size_t i = start + 1;
    while (true) {
      if (i >= src_.size()) fail_at(where_, pos(start), fmt::format("unterminated string: expected a closing {}", quote));
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\' || i + 1 >= src_.size()) {
        value += c;
        ++i;
        continue;
      }
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case 'a': value += '\a'; break;
        case '0': value += '\0'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (i + n > src_.size() || !std::all_of(src_.begin() + i, src_.begin() + i + n, ::isxdigit))
            fail_at(where_, pos(i - 2), fmt::format("invalid \\{} escape in a string", e));
          append_utf8(value, static_cast<uint32_t>(std::stoul(src_.substr(i, n), nullptr, 16)));
          i += n;
          break;
        }
        default:
          value += '\\';
          value += e;
      }
    }
    push(Token::Kind::String, value, start);
    return i + 1;
  }

  static void append_utf8(std::string& out, uint32_t c) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xe0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (c & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }

  std::string src_;
  const std::string& where_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& where) { return Lexer(source, where).run(); }

}  // namespace retain::serve::jinja
