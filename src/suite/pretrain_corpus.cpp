#include "pretrain_corpus.h"

#include "group_keys.h"
#include "overlap_index.h"
#include "retain/suite/prose_filter.h"
#include "retain/suite/prose_sources.h"
#include "source_texts.h"

#include "retain/core/files.h"
#include "retain/suite/sources/dictd.h"
#include "retain/suite/sources/fortunes.h"
#include "retain/suite/sources/r_lazyload.h"
#include "retain/suite/split.h"
#include "retain/suite/task_catalogue.h"
#include "retain/suite/text_clean.h"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>
#include <set>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";

// A pretraining document and the split group of the text it comes from ("" when no task reads it).
struct Document {
  std::string text;
  std::string group;
};
using Corpus = std::vector<std::pair<std::string, std::vector<Document>>>;  // shard name → documents

Corpus pretrain_documents(SuiteSources& sources, bool with_prose) {
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
    std::sort(files.begin(), files.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
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
  if (with_prose) {
    for (auto& [shard, texts] : prose_documents(sources)) {
      std::vector<Document> docs;
      docs.reserve(texts.size());
      for (auto& t : texts) docs.push_back({std::move(t), ""});  // no task reads these packages
      corpus.emplace_back(shard, std::move(docs));
    }
  }
  return corpus;
}

}  // namespace

json write_pretrain_corpus(SuiteSources& sources, const SuiteOptions& options, const fs::path& dir, std::ostream& log) {
  // Every test text of every suite task, so that no pretraining document contains one.
  OverlapIndex index;
  json excluded_from = json::array();
  for (const auto& name : all_task_names()) {
    const TaskDraft draft = draft_task(name, sources);
    const TaskSplits splits = split_task(draft, options, /*capped=*/false);
    // Uncapped: the whole test side of the group split, whatever --max-test a suite uses.
    for (const auto& item : splits.test) {
      index.add(item.input);
      index.add(item.output);
    }
    excluded_from.push_back({{"task", name}, {"test_examples_uncapped", splits.test.size()}});
    log << fmt::format("retain data: indexed {} test examples of {}\n", splits.test.size(), name);
  }
  fs::create_directories(dir / "text");
  json shards = json::array();
  size_t total_words = 0, total_docs = 0, total_dropped = 0;
  index.finish();
  for (auto& [shard, docs] : pretrain_documents(sources, options.suite == "pretrain-large")) {
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
    write_file_atomic(
        dir / "text" / (shard + ".txt"),
        [&](std::ostream& out) {
          for (const auto& line : lines) out << line << '\n';
        },
        kComponent);
    shards.push_back({{"file", "text/" + shard + ".txt"},
                      {"documents", kept},
                      {"words", words},
                      {"bytes", bytes},
                      {"dropped_test_group", test_group},
                      {"dropped_overlapping_test", dropped}});
    log << fmt::format(
        "retain data: text/{}.txt: {} documents, {} words (left out: {} from test groups, {} overlapping "
        "a test text)\n",
        shard, kept, words, test_group, dropped);
    total_words += words;
    total_docs += kept;
    total_dropped += dropped;
  }
  json fields;
  fields["text_format"] =
      "UTF-8, one document per line (a dictionary entry, package description, gloss, "
      "paragraph or quotation), whitespace normalised to single spaces";
  if (options.suite == "pretrain-large") {
    fields["prose_rule"] = fmt::format(
        "documentation packages (every shard after austen except brown, sotu and moby_dick): markup stripped "
        "(reStructuredText directives, literal blocks and tables; POD commands and verbatim blocks; HTML head, "
        "script, pre, table, navigation and code-listing elements), then a paragraph is kept only when it has at "
        "least {} words, at least {:.0f}% of its tokens are words, and no code marker ({{ }} => -> :: == $name "
        "#include ();), each distinct paragraph once; kept paragraphs of a file are joined into passages of at "
        "least {} words. brown, sotu and moby_dick are edited prose and kept whole, joined the same way.",
        kMinProseWords, kProseWordShare * 100, kPassageWords);
  }
  fields["shards"] = shards;
  fields["documents"] = total_docs;
  fields["words"] = total_words;
  fields["dropped_overlapping_test"] = total_dropped;
  fields["disjointness"] = {
      {"rule",
       fmt::format("with seed {}: (1) every document from a split group that is test for the tasks (a Debian source "
                   "package, an English word's WordNet/GCIDE/FOLDOC entries, a fortune-file block, an Austen "
                   "paragraph block) is left out; (2) any remaining document that holds at least half of the "
                   "distinct {}-token shingles of a test input or output (lower-cased alphanumeric tokens; "
                   "shingles shared by more than {} test texts are boilerplate and not counted), or contains the "
                   "whole token sequence of a test text of {}..{} tokens, is dropped. Test texts are the whole test "
                   "side of each task's group split, before --max-test caps, so this holds for any caps.",
                   options.seed, OverlapIndex::kShingle, OverlapIndex::kCommon, OverlapIndex::kMinTokens,
                   OverlapIndex::kShingle - 1)},
      {"tasks", excluded_from}};
  return fields;
}

}  // namespace retain::suite
