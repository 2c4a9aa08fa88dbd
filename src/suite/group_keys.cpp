#include "group_keys.h"

#include <cctype>

namespace retain::suite {

std::string deb_group(const std::string& source) { return "deb:" + source; }

std::string word_group(const std::string& word) {
  std::string key = "word:" + word;
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key;
}

std::string fortune_group(const std::string& file, size_t index) {
  return "fortune:" + file + "/" + std::to_string(index / 10);
}

std::string austen_group(const std::string& novel, size_t paragraph) {
  return "austen:" + novel + "/" + std::to_string(paragraph / 20);
}

std::string bible_group(const BibleVerse& verse) { return "bible:" + verse.book + "." + std::to_string(verse.chapter); }

std::string mail_group(const SpamAssassinMessage& message) {
  std::string group = thread_key(message.text.subject);
  if (group.size() < 4) group = message.folder + "/" + message.file;
  return "mail:" + group;
}

}  // namespace retain::suite
