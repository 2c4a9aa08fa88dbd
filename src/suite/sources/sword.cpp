#include "retain/suite/sources/sword.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/suite/sources/r_lazyload.h"
#include "retain/suite/text_clean.h"

#include <map>
#include <set>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

uint32_t le32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<size_t>(k)]);
  return v;
}

// Removes <name ...>...</name> (with content) for each listed element; nesting of the same name is
// not expected in SWORD modules.
std::string drop_elements(std::string text, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    size_t at;
    size_t from = 0;
    while ((at = text.find("<" + name, from)) != std::string::npos) {
      const size_t tag_end = text.find('>', at);
      if (tag_end == std::string::npos) break;
      if (text[tag_end - 1] == '/') {  // self-closing: no content
        from = tag_end;
        continue;
      }
      const size_t close = text.find("</" + name + ">", tag_end);
      if (close == std::string::npos) break;
      text.erase(at, close + name.size() + 3 - at);
      from = at;
    }
  }
  return text;
}

}  // namespace

std::string osis_plain_text(const std::string& osis) {
  const std::string kept = drop_elements(osis, {"note", "title"});
  std::string out;
  bool in_tag = false;
  for (const char c : kept) {
    if (c == '<') {
      in_tag = true;
      out += ' ';
    } else if (c == '>') {
      in_tag = false;
    } else if (!in_tag) {
      out += c;
    }
  }
  // Words split by a removed tag ("word <w>x</w>,") leave a space before punctuation.
  std::string text = normalize_whitespace(out), cleaned;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ' ' && i + 1 < text.size() && std::string(",.;:?!").find(text[i + 1]) != std::string::npos) continue;
    cleaned += text[i];
  }
  return cleaned;
}

std::vector<BibleVerse> read_sword_ztext(const fs::path& dir) {
  std::vector<BibleVerse> verses;
  bool any = false;
  for (const char* testament : {"ot", "nt"}) {
    const fs::path stem = dir / testament;
    if (!fs::exists(stem.string() + ".bzv")) continue;
    any = true;
    const std::string bzs = read_file(stem.string() + ".bzs", "data");
    const std::string bzv = read_file(stem.string() + ".bzv", "data");
    const std::string bzz = read_file(stem.string() + ".bzz", "data");
    std::map<uint32_t, std::string> blocks;
    const auto block = [&](uint32_t index) -> const std::string& {
      auto it = blocks.find(index);
      if (it != blocks.end()) return it->second;
      if (12 * (static_cast<size_t>(index) + 1) > bzs.size())
        fail("data", "{}.bzv: block {} outside {}.bzs ({} blocks)", stem.string(), index, stem.string(), bzs.size() / 12);
      const uint32_t offset = le32(bzs, 12 * index), size = le32(bzs, 12 * index + 4);
      if (static_cast<size_t>(offset) + size > bzz.size())
        fail("data", "{}.bzs: block {} at {}+{} runs past the end of {}.bzz", stem.string(), index, offset, size, stem.string());
      return blocks[index] = inflate_zlib(bzz.substr(offset, size), stem.string() + ".bzz");
    };
    std::string book;
    int chapter = 0, verse = 0;
    for (size_t e = 0; e + 10 <= bzv.size(); e += 10) {
      const uint32_t b = le32(bzv, e), offset = le32(bzv, e + 4);
      const uint32_t size = static_cast<uint32_t>(static_cast<unsigned char>(bzv[e + 8]) | (static_cast<unsigned char>(bzv[e + 9]) << 8));
      std::string raw;
      if (size > 0) {
        const std::string& data = block(b);
        if (static_cast<size_t>(offset) + size > data.size())
          fail("data", "{}.bzv: entry {} at {}+{} outside its block of {} bytes", stem.string(), e / 10, offset, size, data.size());
        raw = data.substr(offset, size);
      }
      const size_t chapter_tag = raw.find("<chapter");
      const size_t id = chapter_tag == std::string::npos ? std::string::npos : raw.find("osisID=\"", chapter_tag);
      if (id != std::string::npos) {
        const size_t end = raw.find('"', id + 8);
        const std::string osis_id = raw.substr(id + 8, end - id - 8);  // "Gen.1"
        const size_t dot = osis_id.rfind('.');
        if (dot != std::string::npos) {
          book = osis_id.substr(0, dot);
          chapter = std::atoi(osis_id.c_str() + dot + 1);
          verse = 0;
          continue;
        }
      }
      // Book headings and introductions are not verses.
      if (book.empty() || raw.find("type=\"book\"") != std::string::npos || raw.find("type=\"front\"") != std::string::npos ||
          raw.find("type=\"introduction\"") != std::string::npos)
        continue;
      ++verse;
      const std::string text = osis_plain_text(raw);
      if (!text.empty()) verses.push_back({book, chapter, verse, text});
    }
  }
  if (!any) fail("data", "{}: no SWORD zText module (expected ot.bzv or nt.bzv)", dir.string());
  return verses;
}

std::string bible_genre(const std::string& book) {
  static const std::map<std::string, std::string> genres = [] {
    std::map<std::string, std::string> m;
    const auto add = [&](const std::string& genre, std::initializer_list<const char*> books) {
      for (const char* b : books) m[b] = genre;
    };
    add("law", {"Gen", "Exod", "Lev", "Num", "Deut"});
    add("history", {"Josh", "Judg", "Ruth", "1Sam", "2Sam", "1Kgs", "2Kgs", "1Chr", "2Chr", "Ezra", "Neh", "Esth", "Acts"});
    add("poetry", {"Job", "Ps", "Prov", "Eccl", "Song"});
    add("prophets", {"Isa", "Jer", "Lam", "Ezek", "Dan", "Hos", "Joel", "Amos", "Obad", "Jonah", "Mic", "Nah", "Hab", "Zeph",
                     "Hag", "Zech", "Mal", "Rev"});
    add("gospels", {"Matt", "Mark", "Luke", "John"});
    add("epistles", {"Rom", "1Cor", "2Cor", "Gal", "Eph", "Phil", "Col", "1Thess", "2Thess", "1Tim", "2Tim", "Titus", "Phlm",
                     "Heb", "Jas", "1Pet", "2Pet", "1John", "2John", "3John", "Jude"});
    return m;
  }();
  auto it = genres.find(book);
  return it == genres.end() ? "" : it->second;
}

}  // namespace retain::suite
