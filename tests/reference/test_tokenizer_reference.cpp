// Reference test: retain's tokenizer against ids produced by Hugging Face `tokenizers`.
//
// Oracle: tests/fixtures/tokenizers/expected_<name>.json, written by the lead engineer's script
// with HF `tokenizers` (Python) for every text of tests/reference/tokenizer_texts.json:
//   ids = encode(text, add_special_tokens=False).ids, ids_special = with True,
//   decoded = decode(ids_special, skip_special_tokens=False), decoded_skip_special = with True.
// Every fixture file found is checked and every mismatching case is reported (text, expected,
// got). No fixture at all is a failure, not a pass. RETAIN_TOKENIZER_FIXTURES_DIR overrides the
// fixture folder (for cross-checks against other implementations).
#include "retain/core/json.h"
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

namespace fs = std::filesystem;
using retain::json;

namespace {

// SHA-256 (FIPS 180-4), to check that a fixture was generated from the tokenizer.json we load.
std::string sha256_hex(const std::string& data) {
  static const uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
      0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
      0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
      0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg = data;
  uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bits >> (i * 8)) & 0xff));
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t chunk = 0; chunk < msg.size(); chunk += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(msg.data() + chunk + i * 4);
      w[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  std::ostringstream out;
  for (uint32_t v : h) out << std::hex << std::setw(8) << std::setfill('0') << v;
  return out.str();
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

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
      EXPECT_EQ(sha256_hex(read_bytes(path)), expected_sha)
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
