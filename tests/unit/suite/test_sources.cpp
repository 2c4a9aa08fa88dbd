// The readers behind `retain data build`, each on a small fixture in its real format
// (tests/fixtures/data/sources) or on bytes written from the format's spec (suite_fixtures.h).
#include "common/test_support.h"
#include "suite_fixtures.h"
#include "retain/core/sha256.h"
#include "retain/suite/sources/apt_archive.h"
#include "retain/suite/sources/debian_descriptions.h"
#include "retain/suite/sources/dictd.h"
#include "retain/suite/sources/fortunes.h"
#include "retain/suite/sources/process.h"
#include "retain/suite/sources/r_lazyload.h"
#include "retain/suite/sources/spam_assassin.h"
#include "retain/suite/sources/sword.h"
#include "retain/suite/sources/wordnet.h"
#include "retain/suite/text_clean.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
using namespace retain::suite;
using retain::sha256_hex;
using retain::testing::error_of;

fs::path src() { return retain::testing::fixtures() / "data" / "sources"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Checksum, Sha256KnownVectors) {
  // FIPS 180-4 examples.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(TextClean, Utf8WhitespaceTruncation) {
  EXPECT_EQ(to_valid_utf8("caf\xE9 \x93quoted\x94"), "caf\xC3\xA9 \xE2\x80\x9Cquoted\xE2\x80\x9D");  // Latin-1 / cp1252
  EXPECT_EQ(to_valid_utf8("ok \xC3\xA9\x01"), "ok \xC3\xA9");
  EXPECT_EQ(normalize_whitespace("  a\t\tb\n\nc \xC2\xA0 d  "), "a b c d");
  EXPECT_EQ(truncate_at_word("one two three", 9), "one two");
  EXPECT_EQ(truncate_at_word("one two", 100), "one two");
  const std::string cut = truncate_at_word("\xC3\xA9\xC3\xA9\xC3\xA9", 3);  // no space: at a character boundary
  EXPECT_EQ(cut, "\xC3\xA9");
  EXPECT_EQ(stable_hash("abc"), stable_hash("abc"));
  EXPECT_NE(stable_hash({"a", "bc"}), stable_hash({"ab", "c"}));
}

TEST(TextClean, RemoveWordsOnlyWholeNames) {
  EXPECT_EQ(remove_words("The python3-foo module wraps libfoo1. Use python3-foo.", {"python3-foo"}),
            "The module wraps libfoo1. Use .");  // the sentence's full stop is not part of the name
  EXPECT_EQ(remove_words("foobar and Foo, foo-bar", {"foo"}), "foobar and , foo-bar");
}

TEST(Process, RunsWithoutShellAndReportsFailures) {
  const auto ok = run_process({"printf", "%s|", "a b", "$(echo x)"});
  EXPECT_EQ(ok.out, "a b|$(echo x)|");  // arguments reach the program unexpanded
  const auto message = error_of([] { run_process({"sh", "-c", "echo boom >&2; exit 3"}); });
  EXPECT_MSG(message, "exit code 3");
  EXPECT_MSG(message, "boom");
  EXPECT_MSG(error_of([] { run_process({"no-such-program-retain"}); }), "exit code 127");
}

TEST(Apt, VersionFromFileName) {
  EXPECT_EQ(deb_version_from_filename("wordnet-base_1%3a3.0-37_all.deb"), "1:3.0-37");
  EXPECT_EQ(deb_version_from_filename("fortunes_1%3a1.99.1-7.3_all.deb"), "1:1.99.1-7.3");
}

TEST(DebianDescriptions, PackagesJoinTranslationsOnMd5) {
  const auto en = read_translations(src() / "Translation-en");
  ASSERT_EQ(en.size(), 2u);
  const auto packages = read_package_descriptions({src() / "Packages"}, en);
  ASSERT_EQ(packages.size(), 3u);
  const auto& game = packages[0];
  EXPECT_EQ(game.package, "0ad");
  EXPECT_EQ(game.source, "0ad");
  EXPECT_EQ(game.section, "games");
  EXPECT_EQ(game.synopsis, "Real-time strategy game of ancient warfare");
  EXPECT_EQ(game.long_text,
            "0 A.D. (pronounced \"zero ey-dee\") is a free, open-source, cross-platform\nreal-time strategy (RTS) game of "
            "ancient warfare.\n\nIn short, it is a historically-based war/economy game.");
  EXPECT_MSG(game.tags, "use::gameplaying");
  EXPECT_EQ(packages[1].package, "libfoo1");
  EXPECT_EQ(packages[1].source, "foo");
  EXPECT_EQ(packages[1].long_text, "");  // no translation for its md5
  EXPECT_EQ(packages[2].source, "foo");  // "foo (1.2-1)": version dropped
  EXPECT_EQ(packages[2].section, "python");  // "contrib/python": area dropped
  const auto de = read_translations(src() / "Translation-de");
  EXPECT_EQ(de.at("d943033bedada21853d2ae54a2578a7b").synopsis, "Echtzeit-Strategiespiel im Stil antiker Kriegsführung");
}

TEST(DebianDescriptions, MalformedStanzaNamesFileAndLine) {
  const auto dir = retain::testing::temp_dir("deb822");
  std::ofstream(dir / "Packages") << "Package: a\n continuation\n\n continuation before field\n";
  // The first continuation belongs to Package; the one after the blank line has no field.
  const auto message = error_of([&] { read_deb822(dir / "Packages"); });
  EXPECT_MSG(message, "Packages:4: continuation line before any field");
}

TEST(WordNet, DataLines) {
  const auto synsets = read_wordnet_data(src() / "data.noun");
  ASSERT_EQ(synsets.size(), 4u);  // licence header lines skipped
  EXPECT_EQ(synsets[0].offset, "02000036");
  EXPECT_EQ(synsets[0].lex_name, "noun.animal");
  EXPECT_EQ(synsets[0].words, (std::vector<std::string>{"Peripatidae", "family Peripatidae"}));
  EXPECT_EQ(synsets[0].gloss, "a family of Onychophora");
  EXPECT_EQ(synsets[3].words, (std::vector<std::string>{"dog", "domestic dog", "Canis familiaris"}));
  EXPECT_EQ(wordnet_definition(synsets[3].gloss),
            "a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man "
            "since prehistoric times; occurs in many breeds");
  EXPECT_EQ(wordnet_lex_name(29), "verb.body");
  EXPECT_MSG(error_of([] { wordnet_lex_name(45); }), "outside 0..44");
}

TEST(Fortunes, ItemsAndAttributions) {
  const auto items = read_fortune_file(src() / "fortunes");
  ASSERT_EQ(items.size(), 4u);  // the empty item between two "%" lines is skipped
  EXPECT_EQ(strip_fortune_attribution(items[0]),
            "A computer lets you make more mistakes faster than any invention in human\nhistory, with the possible "
            "exceptions of handguns and tequila.");
  EXPECT_EQ(strip_fortune_attribution(items[1]), items[1]);
  EXPECT_EQ(strip_fortune_attribution(items[2]), "There are two ways to write error-free programs; only the third one works.");
  EXPECT_EQ(strip_fortune_attribution(items[3]), "Never trust a computer you can't throw out a window.");
}

TEST(SpamAssassin, HeadersMimeAndListMarkers) {
  const MailText ham = parse_mail(slurp(src() / "ham.eml"));
  EXPECT_EQ(ham.subject, "Re: [Exmh] New sequences window");  // folded header unfolded
  const MailText stripped = strip_list_markers(ham);
  EXPECT_EQ(stripped.subject, "New sequences window");
  EXPECT_NO_MSG(stripped.body, "mailing list");
  EXPECT_NO_MSG(stripped.body, "listinfo");
  EXPECT_NO_MSG(stripped.body, "Exmh");
  EXPECT_MSG(stripped.body, "Write to <email> if not.");
  EXPECT_EQ(thread_key(ham.subject), "new sequences window");

  const MailText spam = parse_mail(slurp(src() / "spam.eml"));
  EXPECT_EQ(spam.subject, "Gr\xC3\xA9" "at offer");  // RFC 2047 Q, Latin-1 → UTF-8
  EXPECT_EQ(normalize_whitespace(spam.body),
            "Buy now and save 50% \xC3\xA0 la carte. To unsubscribe click here.");  // text/plain part preferred
  EXPECT_NO_MSG(strip_list_markers(spam).body, "unsubscribe");
}

TEST(RLazyLoad, DecompressorsRoundTrip) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(inflate_zlib(retain::testing::deflate_bytes(text, 15), "zlib"), text);
  EXPECT_EQ(inflate_zlib(retain::testing::deflate_bytes(text, 31), "gzip"), text);
  EXPECT_EQ(decompress_xz(retain::testing::raw_lzma2(text), "raw lzma2", text.size()), text);
  EXPECT_MSG(error_of([&] { inflate_zlib(text, "junk"); }), "[data] junk: zlib/gzip data is corrupt");
}

TEST(RLazyLoad, DataFrameFromSpecWrittenBytes) {
  const auto bytes = retain::testing::RFrameWriter().serialize(
      {{"product", {"B001", "B002", "B001"}}, {"review", {"Great tea", "Stale \xC3\xA9", "Nice"}}, {"score", {"great", "other", "great"}}},
      {"score"});
  const auto frame = parse_r_serialized(bytes, "frame");
  EXPECT_EQ(frame->type, RValue::List);
  EXPECT_EQ(r_column_as_strings(*frame, "review", "frame"), (std::vector<std::string>{"Great tea", "Stale \xC3\xA9", "Nice"}));
  EXPECT_EQ(r_column_as_strings(*frame, "score", "frame"), (std::vector<std::string>{"great", "other", "great"}));
  ASSERT_NE(frame->attribute("class"), nullptr);  // read through a REFSXP to the symbol "class"
  EXPECT_EQ(frame->attribute("class")->strings, (std::vector<std::string>{"tbl_df", "tbl", "data.frame"}));
  EXPECT_EQ(frame->attribute("row.names")->ints, (std::vector<int32_t>{INT32_MIN, -3}));
  const auto missing = error_of([&] { r_column_as_strings(*frame, "stars", "frame"); });
  EXPECT_MSG(missing, "no column \"stars\" (columns: product, review, score)");
  const auto truncated = error_of([&] { parse_r_serialized(bytes.substr(0, bytes.size() - 10), "cut"); });
  EXPECT_MSG(truncated, "cut: serialised data ends early");
  EXPECT_MSG(error_of([] { parse_r_serialized("RDX2\n", "rdx"); }), "not R XDR");
}

TEST(RLazyLoad, DatabaseWithXzAndZlibRecords) {
  const auto dir = retain::testing::temp_dir("rdb");
  retain::testing::RFrameWriter writer;
  const auto a = writer.serialize({{"x", {"a", "b"}}});
  const auto b = writer.serialize({{"y", {"c"}}});
  retain::testing::write_lazyload_db(dir / "Rdata", {{"first", a}, {"second", b}});
  const RLazyLoadDb db(dir / "Rdata");
  EXPECT_EQ(db.names(), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(r_column_as_strings(*db.get("first"), "x", "first"), (std::vector<std::string>{"a", "b"}));  // 'Z' record
  EXPECT_EQ(r_column_as_strings(*db.get("second"), "y", "second"), (std::vector<std::string>{"c"}));  // zlib record
  EXPECT_MSG(error_of([&] { db.get("third"); }), "no object \"third\" (it has: first, second)");
}

TEST(Dictd, IndexAndEntries) {
  EXPECT_EQ(dictd_number("Fz"), 5 * 64 + 51);
  const auto dir = retain::testing::temp_dir("dictd");
  retain::testing::write_dictd(dir / "gcide", {{"Aardvark", "Aardvark \\Aard\"vark`\\ ([aum]rd\"v[aum]rk`), n. (Zool.)\n"
                                                             "   An African edentate; the ant-eater.\n   [1913 Webster]\n"},
                                                {"Abb", "Abb \\Abb\\, n.\n   Among weavers, yarn for the warp. See {Warp}.\n"}});
  const auto entries = read_dictd(dir / "gcide");
  ASSERT_EQ(entries.size(), 2u);  // the 00-database entry is skipped
  EXPECT_EQ(entries[0].headword, "Aardvark");
  EXPECT_EQ(gcide_plain_text(entries[0].text), "Aardvark , n. (Zool.) An African edentate; the ant-eater.");
  EXPECT_EQ(gcide_field_labels(entries[0].text), (std::vector<std::string>{"Zool"}));
  EXPECT_EQ(gcide_plain_text(entries[1].text), "Abb , n. Among weavers, yarn for the warp. See Warp.");
  const DictEntry foldoc{"actor", "actor\n\n   <operating system> In {Chorus}, the unit of resource allocation.\n\n   (1994-11-08)\n", 0};
  const auto [category, text] = foldoc_category_and_text(foldoc);
  EXPECT_EQ(category, "operating system");
  EXPECT_EQ(text, "In Chorus, the unit of resource allocation.");
}

TEST(Sword, ZTextSlotsToVerses) {
  const auto dir = retain::testing::temp_dir("sword");
  retain::testing::write_sword_ztext(
      dir, "nt",
      {"", "<milestone type=\"x-importer\"/>", "<div osisID=\"Matt\" type=\"book\"/><title>Matthew</title>",
       "<chapter n=\"1\" osisID=\"Matt.1\" sID=\"Matt.1\"/>",
       "The <w lemma=\"strong:G976\">book</w> of the generation<note placement=\"foot\">Or, birth</note> of Jesus Christ .",
       "",  // an empty verse slot still counts
       "<title type=\"psalm\">Heading</title>Third verse &amp; more", "<chapter n=\"2\" osisID=\"Matt.2\" sID=\"Matt.2\"/>",
       "Now when Jesus was born"});
  const auto verses = read_sword_ztext(dir);
  ASSERT_EQ(verses.size(), 3u);
  EXPECT_EQ(verses[0].book, "Matt");
  EXPECT_EQ(verses[0].chapter, 1);
  EXPECT_EQ(verses[0].verse, 1);
  EXPECT_EQ(verses[0].text, "The book of the generation of Jesus Christ.");  // note dropped, tags removed
  EXPECT_EQ(verses[1].verse, 3);
  EXPECT_EQ(verses[1].text, "Third verse &amp; more");
  EXPECT_EQ(verses[2].chapter, 2);
  EXPECT_EQ(verses[2].verse, 1);
  EXPECT_EQ(bible_genre("Matt"), "gospels");
  EXPECT_EQ(bible_genre("Tob"), "");
  EXPECT_MSG(error_of([&] { read_sword_ztext(dir / "missing"); }), "no SWORD zText module");
}

}  // namespace

// Corrupt lengths in R's serialisation fail with the origin before anything is allocated for them
// (before: a character vector claiming 2^31 - 1 elements reserved 64 GB and threw std::length_error).
TEST(RLazyLoad, CorruptLengthsFailBeforeAllocating) {
  using retain::testing::put_int;
  const auto header = [](int version) {
    std::string s = "X\n";
    put_int(s, version);
    put_int(s, 0x040201);
    put_int(s, 0x020300);
    return s;
  };
  std::string strings = header(2);
  put_int(strings, 16);  // STRSXP
  put_int(strings, 0x7fffffff);
  EXPECT_MSG(error_of([&] { parse_r_serialized(strings, "huge"); }),
             "huge: a character vector of length 2147483647 at offset 22 cannot fit in the 0 bytes left");
  std::string long_vector = header(2);
  put_int(long_vector, 13);  // INTSXP, long-vector length form
  put_int(long_vector, -1);
  put_int(long_vector, -1);
  put_int(long_vector, -1);
  EXPECT_MSG(error_of([&] { parse_r_serialized(long_vector, "long"); }), "long: long vector length 18446744073709551615");
  std::string negative = header(2);
  put_int(negative, 9);  // CHARSXP
  put_int(negative, -5);
  EXPECT_MSG(error_of([&] { parse_r_serialized(negative, "neg"); }), "neg: string length -5 at offset 18");
  std::string encoding = header(3);
  put_int(encoding, -2);
  EXPECT_MSG(error_of([&] { parse_r_serialized(encoding, "v3"); }), "v3: native encoding name length is -2");
  std::string reals = header(2);
  put_int(reals, 14);  // REALSXP of 2^29 doubles in 8 bytes
  put_int(reals, 1 << 29);
  put_int(reals, 0);
  put_int(reals, 0);
  EXPECT_MSG(error_of([&] { parse_r_serialized(reals, "reals"); }), "reals: a double vector of length 536870912");
  // A record header claiming 4 GB after decompression is refused before the buffer is made.
  std::string record;
  put_int(record, -16);
  record += "Z....";
  EXPECT_MSG(error_of([&] { decode_rdb_record(record, "rec"); }), "rec: a record of 4294967280 bytes after decompression is over");
  // A serialised object read as a record (fuzz/r_serialized.cpp): "X\n\0\0" is a 1.5 GB length;
  // refused before the zlib stream is made (it leaked when refused after).
  EXPECT_MSG(error_of([&] { decode_rdb_record(strings, "obj"); }), "obj: a record of 1477050368 bytes");
}

// An index key outside the .rdb file fails naming the object, before its record is allocated.
TEST(RLazyLoad, IndexKeyPastTheFile) {
  const auto dir = retain::testing::temp_dir("rdb_bad");
  const auto a = retain::testing::RFrameWriter().serialize({{"x", {"a"}}});
  retain::testing::write_lazyload_db(dir / "Rdata", {{"first", a}});
  fs::resize_file(dir / "Rdata.rdb", 8);  // the record is cut
  const RLazyLoadDb db(dir / "Rdata");
  EXPECT_MSG(error_of([&] { db.get("first"); }), "object \"first\" at offset 0 length");
  EXPECT_MSG(error_of([&] { db.get("first"); }), "runs past the end of the file (8 bytes)");
}

// Number fields out of range name the file, line and field (before: std::out_of_range from stoi).
TEST(WordNet, BadNumberFieldsNameFileAndLine) {
  const auto dir = retain::testing::temp_dir("wordnet_bad");
  std::ofstream(dir / "data.noun") << "  1 licence line\n02000036 99999999999 n 01 dog 0 000 | a dog\n";
  EXPECT_MSG(error_of([&] { read_wordnet_data(dir / "data.noun"); }),
             "data.noun:2: LEXFILE is \"99999999999\" (expected a decimal number 0..44)");
  std::ofstream(dir / "data.verb") << "02000036 05 n zz dog 0 000 | a dog\n";
  EXPECT_MSG(error_of([&] { read_wordnet_data(dir / "data.verb"); }),
             "data.verb:1: WCNT is \"zz\" (expected a hexadecimal number 0..255)");
  std::ofstream(dir / "data.adj") << "02000036 45 n 01 dog 0 000 | a dog\n";
  EXPECT_MSG(error_of([&] { read_wordnet_data(dir / "data.adj"); }), "data.adj:1: LEXFILE is \"45\"");
}

// A dictd offset too long for 64 bits names the index file, line and headword (before: a signed
// overflow, then an unrelated "runs past the end").
TEST(Dictd, OverflowingOffsetNamesIndexLine) {
  EXPECT_MSG(error_of([] { dictd_number("//////////////"); }), "dictd number \"//////////////\" overflows 64 bits");
  EXPECT_MSG(error_of([] { dictd_number(""); }), "an empty dictd number");
  const auto dir = retain::testing::temp_dir("dictd_bad");
  retain::testing::write_dictd(dir / "gcide", {{"Abb", "Abb, n. yarn.\n"}});
  std::ofstream(dir / "gcide.index", std::ios::app) << "Zebra\t//////////////\tB\n";
  EXPECT_MSG(error_of([&] { read_dictd(dir / "gcide"); }), "gcide.index:3: entry \"Zebra\": dictd number");
  std::ofstream(dir / "gcide.index", std::ios::trunc) << "Zebra\tA\t/////////\n";  // length past the end, no overflow
  EXPECT_MSG(error_of([&] { read_dictd(dir / "gcide"); }), "gcide.index:1: entry \"Zebra\" at 0+");
}

// A header continuation line of only blanks adds nothing (before: std::out_of_range from substr).
TEST(SpamAssassin, BlankContinuationLine) {
  const MailText mail = parse_mail("Subject: hello\n \t\nFrom: a@b.c\n\nthe body\n");
  EXPECT_EQ(mail.subject, "hello");
  EXPECT_EQ(mail.body, "the body\n");
}

// Package "foo" takes foo-1.2.0.tgz, never the cached file of package "foo-bar" (before: the
// prefix "foo-" matched "foo-bar-1.0.0.tgz", the last in name order).
TEST(Npm, CacheMatchesTheWholePackageName) {
  const auto root = retain::testing::temp_dir("npm_cache");
  const fs::path tgz = root / "npm" / "tgz";
  fs::create_directories(root / "pkg" / "package");
  std::ofstream(root / "pkg" / "package" / "package.json") << "{}";
  fs::create_directories(tgz);
  for (const std::string name : {"foo-1.2.0.tgz", "foo-bar-1.0.0.tgz", "foo-2d-1.0.0.tgz"})
    run_process({"tar", "-czf", (tgz / name).string(), "-C", (root / "pkg").string(), "package"});
  const auto got = NpmPackages(root).fetch("foo");
  EXPECT_EQ(got.source.version, "1.2.0");
  EXPECT_EQ(got.source.file, "foo-1.2.0.tgz");
  EXPECT_TRUE(fs::is_regular_file(got.root / "package" / "package.json"));
  EXPECT_EQ(NpmPackages(root).fetch("foo-bar").source.version, "1.0.0");
}

// run_process's pipes are close-on-exec: a program started while another run_process is running
// holds no more pipes than one started alone (whatever this test itself inherited is in both).
TEST(Process, PipesAreNotInheritedByOtherChildren) {
  const auto pipes_held = [] {  // the glob's own descriptor is gone by the time readlink runs: hence "true"
    const auto listing = run_process({"sh", "-c", "for f in /proc/$$/fd/*; do readlink \"$f\"; done; true"}).out;
    size_t pipes = 0;
    for (size_t at = listing.find("pipe:"); at != std::string::npos; at = listing.find("pipe:", at + 1)) ++pipes;
    return pipes;
  };
  const size_t alone = pipes_held();
  EXPECT_GE(alone, 2u);  // its own stdout and stderr at least
  std::thread slow([] { run_process({"sleep", "1"}); });
  size_t beside = 0;
  try {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    beside = pipes_held();
  } catch (...) {
    slow.join();
    throw;
  }
  slow.join();
  EXPECT_EQ(beside, alone);
}
