#include "common/strings.h"

#include <gtest/gtest.h>

namespace gravity {
namespace {

using Parts = std::vector<std::string>;

TEST(Strings, JoinPutsTheSeparatorOnlyBetweenParts) {
  EXPECT_EQ(Join({}, ", "), "");
  EXPECT_EQ(Join({"a"}, ", "), "a");
  EXPECT_EQ(Join({"a", "", "b"}, ","), "a,,b");
}

TEST(Strings, SplitKeepsEmptyFields) {
  EXPECT_EQ(Split("", ','), Parts{""});
  EXPECT_EQ(Split("a", ','), Parts{"a"});
  EXPECT_EQ(Split("a,,b,", ','), (Parts{"a", "", "b", ""}));
  EXPECT_EQ(Split(",", ','), (Parts{"", ""}));
}

TEST(Strings, SplitNonEmptyDropsEmptyFields) {
  EXPECT_EQ(SplitNonEmpty("", ','), Parts{});
  EXPECT_EQ(SplitNonEmpty(",,", ','), Parts{});
  EXPECT_EQ(SplitNonEmpty("prod,,staging,", ','), (Parts{"prod", "staging"}));
}

TEST(Strings, SplitAndJoinRoundTrip) {
  for (const std::string s : {"", "a", "a,b", ",a,,b,"}) EXPECT_EQ(Join(Split(s, ','), ","), s);
}

TEST(Strings, ReplaceAllDoesNotRescanWhatItPutIn) {
  EXPECT_EQ(ReplaceAll("run {file} and {file}", "{file}", "'a b'"), "run 'a b' and 'a b'");
  EXPECT_EQ(ReplaceAll("aaa", "a", "aa"), "aaaaaa");
  EXPECT_EQ(ReplaceAll("abc", "", "x"), "abc");
  EXPECT_EQ(ReplaceAll("abc", "z", "x"), "abc");
}

}  // namespace
}  // namespace gravity
