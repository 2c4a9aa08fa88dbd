// closest_match: the "did you mean" behind every unknown-name error of the data loaders.
#include "retain/core/suggest.h"

#include <gtest/gtest.h>

namespace {

TEST(EditDistance, KnownValues) {
  EXPECT_EQ(retain::edit_distance("", ""), 0u);
  EXPECT_EQ(retain::edit_distance("abc", ""), 3u);
  EXPECT_EQ(retain::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(retain::edit_distance("labels", "lables"), 2u);  // a transposition costs two edits
  EXPECT_EQ(retain::edit_distance("flaw", "lawn"), 2u);
}

TEST(ClosestMatch, PicksTheNearestPlausibleCandidate) {
  const std::vector<std::string> keys = {"name", "type", "labels", "instruction", "metric"};
  EXPECT_EQ(retain::closest_match("lables", keys), "labels");
  EXPECT_EQ(retain::closest_match("metrc", keys), "metric");
  EXPECT_EQ(retain::closest_match("Instruction", keys), "instruction");  // ASCII case ignored
  EXPECT_EQ(retain::closest_match("zzzzzzzz", keys), std::nullopt);      // nothing close: no wrong guess
  EXPECT_EQ(retain::closest_match("x", {}), std::nullopt);
  EXPECT_EQ(retain::did_you_mean("typ", keys), " (did you mean \"type\"?)");
  EXPECT_EQ(retain::did_you_mean("qqqqqqqq", keys), "");
}

TEST(ClosestMatch, TiesGoToTheEarlierCandidate) {
  EXPECT_EQ(retain::closest_match("ab", {"ax", "ay"}), "ax");
  EXPECT_EQ(retain::closest_match("ab", {"ay", "ax"}), "ay");
}

}  // namespace
