// Reference test: retain's tokenizer against ids produced by Hugging Face `tokenizers`.
//
// Oracle: tests/fixtures/tokenizers/expected_<name>.json, written by the lead engineer's script
// with HF `tokenizers` (Python) for every text of tests/reference/tokenizer_texts.json:
//   ids = encode(text, add_special_tokens=False).ids, ids_special = with True,
//   decoded = decode(ids_special, skip_special_tokens=False), decoded_skip_special = with True.
// Every fixture file found is checked and every mismatching case is reported (text, expected,
// got). No fixture at all is a failure, not a pass. RETAIN_TOKENIZER_FIXTURES_DIR overrides the
// fixture folder (for cross-checks against other implementations).
#include "common/test_support.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/core/sha256.h"
#include "retain/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <iomanip>
#include <iostream>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using retain::json;
using retain::sha256_hex;  // checks that a fixture was generated from the tokenizer.json we load

namespace {

using namespace retain::testing;

std::string ids_string(const std::vector<int64_t>& ids) { return json(ids).dump(); }
std::string json_quoted(const std::string& text) { return json(text).dump(); }

fs::path fixtures_dir() {
  if (const char* dir = std::getenv("RETAIN_TOKENIZER_FIXTURES_DIR")) return dir;
  return fs::path(RETAIN_SOURCE_DIR) / "tests" / "fixtures" / "tokenizers";
}

fs::path tokenizer_path(const std::string& spec) {
  if (spec.rfind("npm:", 0) == 0) return fs::path(RETAIN_CACHE_DIR) / spec.substr(4) / "tokenizer.json";
  if (spec.rfind("fixture:", 0) == 0)
    return fs::path(RETAIN_SOURCE_DIR) / "tests" / "fixtures" / "tokenizers" / spec.substr(8) / "tokenizer.json";
  return {};
}

std::vector<fs::path> fixture_files() {
  std::vector<fs::path> files;
  fs::path dir = fixtures_dir();
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("expected_", 0) == 0 && entry.path().extension() == ".json")
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST(TokenizerReference, FixturesExist) {
  auto files = fixture_files();
  EXPECT_FALSE(files.empty()) << "no expected_*.json in " << fixtures_dir()
                              << ": generate them with Hugging Face `tokenizers` from "
                                 "tests/reference/tokenizer_texts.json (see the header of this test)";
}

TEST(TokenizerReference, MatchesHuggingFace) {
  auto files = fixture_files();
  ASSERT_FALSE(files.empty()) << "no reference fixtures in " << fixtures_dir();
  json texts = retain::read_json_file(fs::path(RETAIN_SOURCE_DIR) / "tests" / "reference" / "tokenizer_texts.json");
  std::set<std::string> text_set;
  for (const auto& t : texts) text_set.insert(t.get<std::string>());

  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    json fixture = retain::read_json_file(file);
    std::string name = fixture.value("name", file.stem().string());
    fs::path path = tokenizer_path(fixture.at("tokenizer").get<std::string>());
    ASSERT_TRUE(fs::exists(path)) << name << ": tokenizer file " << path << " is missing (run scripts/fetch-tokenizers.sh)";
    std::string expected_sha = fixture.value("sha256", "");
    if (!expected_sha.empty()) {
      EXPECT_EQ(sha256_hex(retain::read_file(path)), expected_sha)
          << name << ": " << path << " is not the file the fixture was generated from";
    }
    retain::Tokenizer tok = retain::Tokenizer::from_file(path);

    const json& cases = fixture.at("cases");
    EXPECT_EQ(cases.size(), texts.size()) << name << ": fixture has " << cases.size() << " cases, tokenizer_texts.json has "
                                          << texts.size() << " (regenerate the fixture)";
    size_t failures = 0;
    for (const auto& c : cases) {
      std::string text = c.at("text").get<std::string>();
      if (!text_set.count(text)) ADD_FAILURE() << name << ": fixture text " << json_quoted(text) << " is not in tokenizer_texts.json";
      auto expected_ids = c.at("ids").get<std::vector<int64_t>>();
      auto expected_special = c.at("ids_special").get<std::vector<int64_t>>();
      std::vector<int64_t> got, got_special;
      try {
        got = tok.encode(text, false);
        got_special = tok.encode(text, true);
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << ": encode(" << json_quoted(text) << ") threw: " << e.what();
        ++failures;
        continue;
      }
      bool ok = true;
      if (got != expected_ids) {
        ADD_FAILURE() << name << ": encode(" << json_quoted(text) << ", add_special_tokens=false)\n  expected "
                      << ids_string(expected_ids) << "\n  got      " << ids_string(got);
        ok = false;
      }
      if (got_special != expected_special) {
        ADD_FAILURE() << name << ": encode(" << json_quoted(text) << ", add_special_tokens=true)\n  expected "
                      << ids_string(expected_special) << "\n  got      " << ids_string(got_special);
        ok = false;
      }
      // Decode the expected ids, so that a decode mismatch is not a consequence of an encode one.
      for (bool skip : {false, true}) {
        std::string expected = c.at(skip ? "decoded_skip_special" : "decoded").get<std::string>();
        std::string decoded;
        try {
          decoded = tok.decode(expected_special, skip);
        } catch (const std::exception& e) {
          decoded = std::string("<threw: ") + e.what() + ">";
        }
        if (decoded != expected) {
          ADD_FAILURE() << name << ": decode(ids of " << json_quoted(text) << ", skip_special_tokens=" << skip
                        << ")\n  expected " << json_quoted(expected) << "\n  got      " << json_quoted(decoded);
          ok = false;
        }
      }
      if (!ok) ++failures;
    }
    std::cout << "[ reference ] " << name << ": " << cases.size() - failures << "/" << cases.size()
              << " cases match\n";
  }
}
