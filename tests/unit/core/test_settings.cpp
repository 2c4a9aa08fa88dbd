// Typed settings: reading, unknown keys with suggestions, wrong types, overrides, TOML errors.
#include "retain/core/error.h"
#include "retain/core/settings.h"
#include "retain/core/toml.h"

#include "common/test_support.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;

struct OptimizerSettings {
  double lr = 1e-4;
  int64_t epochs = 3;
  bool clip = true;
  std::string schedule = "linear";
  std::vector<std::string> targets = {"q_proj", "v_proj"};
  template <class V>
  void visit(V& v) {
    v("lr", lr, "peak learning rate");
    v("epochs", epochs, "passes over each task");
    v("clip", clip, "clip gradients");
    v("schedule", schedule, "constant | linear | cosine");
    v("targets", targets, "modules");
  }
};

TEST(Settings, ReadsPresentKeysAndKeepsDefaults) {
  OptimizerSettings s;
  retain::settings::read(s, retain::json{{"lr", 3e-4}, {"epochs", 5}, {"targets", {"o_proj"}}}, "optim");
  EXPECT_DOUBLE_EQ(s.lr, 3e-4);
  EXPECT_EQ(s.epochs, 5);
  EXPECT_EQ(s.schedule, "linear");
  EXPECT_EQ(s.targets, std::vector<std::string>{"o_proj"});
  const auto out = retain::settings::to_json(s);
  EXPECT_EQ(out["epochs"], 5);
  EXPECT_EQ(out["schedule"], "linear");
  EXPECT_EQ(out.size(), 5u);
}

TEST(Settings, UnknownKeySuggestsTheClosestName) {
  OptimizerSettings s;
  auto message = error_of([&] { retain::settings::read(s, retain::json{{"shedule", "cosine"}}, "optim"); });
  EXPECT_MSG(message, "optim: unknown setting \"shedule\" — did you mean \"schedule\"?");
  message = error_of([&] { retain::settings::read(s, retain::json{{"zzzzzzzzzz", 1}}, "optim"); });
  EXPECT_NO_MSG(message, "did you mean");
  EXPECT_MSG(message, "known: lr, epochs, clip, schedule, targets");
}

TEST(Settings, WrongTypesNameKeyAndExpectation) {
  OptimizerSettings s;
  auto message = error_of([&] { retain::settings::read(s, retain::json{{"epochs", 2.5}}, "optim"); });
  EXPECT_MSG(message, "optim.epochs = 2.5 has the wrong type: expected an integer");
  message = error_of([&] { retain::settings::read(s, retain::json{{"clip", "yes"}}, "optim"); });
  EXPECT_MSG(message, "expected true or false");
  EXPECT_TRUE(s.clip);  // unchanged by the failed read
}

TEST(Settings, OverridesParseNumbersBooleansListsAndBareStrings) {
  OptimizerSettings s;
  retain::settings::set(s, "lr", "1e-3", "optim");
  retain::settings::set(s, "clip", "false", "optim");
  retain::settings::set(s, "schedule", "cosine", "optim");
  retain::settings::set(s, "targets", "[\"q_proj\",\"k_proj\"]", "optim");
  retain::settings::set(s, "epochs", "1e1", "optim");
  EXPECT_DOUBLE_EQ(s.lr, 1e-3);
  EXPECT_FALSE(s.clip);
  EXPECT_EQ(s.schedule, "cosine");
  EXPECT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.epochs, 10);
  EXPECT_MSG(error_of([&] { retain::settings::set(s, "lrr", "1", "optim"); }), "did you mean \"lr\"");
}

TEST(Toml, ParsesTablesAndNamesTheLineOfASyntaxError) {
  const auto j = retain::parse_toml("[optim]\nlr = 2e-4\nepochs = 2\n[method.olora]\nlambda1 = 0.5\n", "run.toml");
  EXPECT_DOUBLE_EQ(j["optim"]["lr"].get<double>(), 2e-4);
  EXPECT_EQ(j["optim"]["epochs"].get<int64_t>(), 2);
  EXPECT_DOUBLE_EQ(j["method"]["olora"]["lambda1"].get<double>(), 0.5);
  auto message = error_of([] { retain::parse_toml("[optim]\nlr = \nepochs = 2\n", "run.toml"); });
  EXPECT_MSG(message, "[config] run.toml:2:");
}

// Non-ASCII is kept in strings and comments, and refused elsewhere with its line and column before
// toml++ sees it (fuzz/toml.cpp found toml++ 3.3 reaching __builtin_unreachable on "×" there).
TEST(Toml, NonAsciiOutsideStringsIsRefusedWithItsPlace) {
  const auto j = retain::parse_toml(
      "# (t + 1) \u00d7 250\n[run]\nname = \"caf\u00e9 \\\" \u00d7\"\nx = 'l\u00e9'\n"
      "y = \"\"\"\u00e9\"\"\"  # \u00e9\nz = '''\u00e9'''\n",
      "run.toml");
  EXPECT_EQ(j["run"]["name"], "caf\u00e9 \" \u00d7");
  EXPECT_EQ(j["run"]["x"], "l\u00e9");
  EXPECT_EQ(j["run"]["y"], "\u00e9");
  EXPECT_EQ(j["run"]["z"], "\u00e9");
  const auto message = error_of([] { retain::parse_toml("[optim]\nmax_e2-c\u00d7 250)\n", "run.toml"); });
  EXPECT_MSG(message, "[config] run.toml:2:9: a non-ASCII character outside a string or comment");
  // A quote inside a bare value, with non-ASCII after it (fuzz/toml.cpp's second finding): toml++
  // reads on as a bare token, so the scan refuses the quote itself.
  const std::string bare = "#opt `]\nlr = 0e:''''''''''''''''':::-VV\x07 \u01bc:::\n";
  EXPECT_MSG(error_of([&] { retain::parse_toml(bare, "run.toml"); }),
             "[config] run.toml:2:9: malformed TOML (a quote inside a bare key or value)");
  const auto ok = retain::parse_toml("a.\"b c\" = [\"x\", 'y', { k = \"\u00e9\" }]\n[\"t\"]\nv = \"\"\"\n\"\"\"\n", "ok.toml");
  EXPECT_EQ(ok["a"]["b c"][2]["k"], "\u00e9");
  EXPECT_EQ(ok["t"]["v"], "");
  // A quote after a NUL byte is inside a bare token too (the scan's third fuzz finding).
  const std::string nul = std::string("lM= 0\x05\0\0'=\"\"7&\xe2\xbb\xbf&\n", 19);
  EXPECT_MSG(error_of([&] { retain::parse_toml(nul, "run.toml"); }), "run.toml:1:9: malformed TOML (a quote inside a bare key or value)");
}

}  // namespace
