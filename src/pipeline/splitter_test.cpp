#include "pipeline/splitter.h"

#include <gtest/gtest.h>

namespace gravity::pipeline {
namespace {

TEST(Splitter, LongestFirstOntoLeastLoaded) {
  std::map<std::string, double> h = {{"a", 10}, {"b", 7}, {"c", 5}, {"d", 4}, {"e", 3}};
  TestSplit s = SplitTests({"e", "d", "c", "b", "a"}, h, 2);
  // a(10)->w0; b(7)->w1; c(5)->w1 (12); d(4)->w0 (14); e(3)->w1 (15)
  EXPECT_EQ(s.workers[0], (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(s.workers[1], (std::vector<std::string>{"b", "c", "e"}));
  EXPECT_DOUBLE_EQ(s.expected_ms[0], 14);
  EXPECT_DOUBLE_EQ(s.expected_ms[1], 15);
}

TEST(Splitter, UnknownFilesGetTheMeanOfKnownOnes) {
  std::map<std::string, double> h = {{"a", 100}, {"b", 20}};
  // new gets 60: order a(100), new(60), b(20) -> w0 a; w1 new; w1 b (80)
  TestSplit s = SplitTests({"a", "b", "new"}, h, 2);
  EXPECT_EQ(s.workers[0], (std::vector<std::string>{"a"}));
  EXPECT_EQ(s.workers[1], (std::vector<std::string>{"new", "b"}));
  EXPECT_DOUBLE_EQ(s.expected_ms[1], 80);
}

TEST(Splitter, TiesBrokenByNameSoTheSplitIsDeterministic) {
  std::vector<std::string> files = {"t3", "t1", "t4", "t2", "t5"};
  TestSplit s1 = SplitTests(files, {}, 2);
  std::vector<std::string> reversed(files.rbegin(), files.rend());
  TestSplit s2 = SplitTests(reversed, {}, 2);
  EXPECT_EQ(s1.workers, s2.workers);
  EXPECT_EQ(s1.workers[0], (std::vector<std::string>{"t1", "t3", "t5"}));
  EXPECT_EQ(s1.workers[1], (std::vector<std::string>{"t2", "t4"}));
}

TEST(Splitter, MoreWorkersThanFilesAndDuplicates) {
  TestSplit s = SplitTests({"x", "x", "y"}, {}, 4);
  ASSERT_EQ(s.workers.size(), 4u);
  EXPECT_EQ(s.workers[0], (std::vector<std::string>{"x"}));
  EXPECT_EQ(s.workers[1], (std::vector<std::string>{"y"}));
  EXPECT_TRUE(s.workers[2].empty());
  TestSplit zero = SplitTests({"x"}, {}, 0);
  ASSERT_EQ(zero.workers.size(), 1u);
}

}  // namespace
}  // namespace gravity::pipeline
