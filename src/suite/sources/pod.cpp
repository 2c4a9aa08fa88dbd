#include "retain/suite/sources/pod.h"

#include "retain/suite/text_clean.h"

#include <cctype>
#include <cstdlib>
#include <sstream>

namespace retain::suite {

namespace {

std::string entity(const std::string& name) {
  if (name == "lt") return "<";
  if (name == "gt") return ">";
  if (name == "verbar") return "|";
  if (name == "sol") return "/";
  if (name == "quot") return "\"";
  if (name == "amp") return "&";
  if (name == "apos") return "'";
  if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
    const long code = std::strtol(name.c_str(), nullptr, name.rfind("0x", 0) == 0 ? 16 : 10);
    if (code > 0 && code < 128) return std::string(1, static_cast<char>(code));
  }
  return "";
}

// Reads the code starting at p[i] (an upper-case letter followed by '<'); appends its text to `out`
// and returns the index after it.
size_t read_code(const std::string& p, size_t i, std::string& out);

// Appends the text of p[i, end) with nested codes expanded.
void expand(const std::string& p, size_t i, size_t end, std::string& out) {
  while (i < end) {
    if (std::isupper(static_cast<unsigned char>(p[i])) && i + 1 < end && p[i + 1] == '<') {
      i = read_code(p, i, out);
    } else {
      out += p[i++];
    }
  }
}

size_t read_code(const std::string& p, size_t i, std::string& out) {
  const char kind = p[i];
  size_t open = 0;
  size_t j = i + 1;
  while (j < p.size() && p[j] == '<') {
    ++open;
    ++j;
  }
  size_t content_begin = j, content_end = j, after = j;
  if (open >= 2) {  // C<< text >>: ends at a whitespace then `open` '>'
    if (j < p.size() && p[j] == ' ') content_begin = ++j;
    const std::string close = " " + std::string(open, '>');
    const size_t end = p.find(close, content_begin);
    content_end = end == std::string::npos ? p.size() : end;
    after = end == std::string::npos ? p.size() : end + close.size();
  } else {  // C<text>, with nested codes and balanced brackets
    int depth = 1;
    size_t k = j;
    for (; k < p.size(); ++k) {
      if (std::isupper(static_cast<unsigned char>(p[k])) && k + 1 < p.size() && p[k + 1] == '<') {
        ++depth;
        ++k;
      } else if (p[k] == '>') {
        if (--depth == 0) break;
      }
    }
    content_end = k;
    after = k < p.size() ? k + 1 : k;
  }
  const std::string content = p.substr(content_begin, content_end - content_begin);
  if (kind == 'E') {
    out += entity(content);
  } else if (kind == 'X' || kind == 'Z') {
  } else if (kind == 'L') {
    std::string text = content;
    if (const size_t bar = content.find('|'); bar != std::string::npos) text = content.substr(0, bar);
    else if (const size_t slash = content.find('/'); slash != std::string::npos && slash + 1 < content.size())
      text = content.substr(slash + 1) + (slash > 0 ? " in " + content.substr(0, slash) : "");
    if (!text.empty() && text.front() == '"' && text.back() == '"' && text.size() >= 2)
      text = text.substr(1, text.size() - 2);
    expand(text, 0, text.size(), out);
  } else {
    expand(p, content_begin, content_end, out);
  }
  return after;
}

}  // namespace

std::string strip_pod_codes(const std::string& paragraph) {
  std::string out;
  expand(paragraph, 0, paragraph.size(), out);
  return out;
}

std::vector<std::string> pod_paragraphs(const std::string& text) {
  // Paragraphs: runs of lines separated by blank (or whitespace-only) lines.
  std::vector<std::string> blocks;
  {
    std::istringstream in(text);
    std::string line, block;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) {
        if (!block.empty()) blocks.push_back(block);
        block.clear();
      } else {
        block += line + "\n";
      }
    }
    if (!block.empty()) blocks.push_back(block);
  }
  std::vector<std::string> paragraphs;
  bool in_pod = !blocks.empty() && blocks.front()[0] == '=';  // a .pod file starts with a command
  std::string begin_block;  // format of an open =begin
  for (const auto& block : blocks) {
    if (block[0] == '=') {
      const std::string command = block.substr(1, block.find_first_of(" \t\n") - 1);
      if (command == "cut") in_pod = false;
      else in_pod = true;
      if (command == "begin") begin_block = "open";
      if (command == "end") begin_block.clear();
      continue;
    }
    if (!in_pod || !begin_block.empty()) continue;
    if (block[0] == ' ' || block[0] == '\t') continue;  // verbatim
    const std::string p = normalize_whitespace(strip_pod_codes(block));
    if (!p.empty()) paragraphs.push_back(p);
  }
  return paragraphs;
}

}  // namespace retain::suite
