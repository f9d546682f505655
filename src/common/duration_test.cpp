#include "common/duration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gravity {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(ParseDuration("500ms").value(), milliseconds(500));
  EXPECT_EQ(ParseDuration("2s").value(), milliseconds(2000));
  EXPECT_EQ(ParseDuration("10m").value(), milliseconds(600000));
  EXPECT_EQ(ParseDuration("1h").value(), milliseconds(3600000));
  EXPECT_EQ(ParseDuration("1m30s").value(), milliseconds(90000));
  EXPECT_EQ(ParseDuration("2d").value(), milliseconds(2 * 86400000LL));
  EXPECT_EQ(ParseDuration("0s").value(), milliseconds(0));
}

TEST(Duration, RejectsMalformedInputWithTheInputNamed) {
  for (const char* bad : {"", "5", "s", "-1s", "1.5s", "3w", "1s ", "99999999999999999999h"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find(std::string("'") + bad + "'"), std::string::npos) << r.error();
  }
}

TEST(Duration, SaysWhatIsWrong) {
  auto reason = [](const char* text) { return ParseDuration(text).error(); };
  EXPECT_THAT(reason(""), HasSubstr(": empty"));
  EXPECT_THAT(reason("5"), HasSubstr(": missing unit"));
  EXPECT_THAT(reason("1.5s"), HasSubstr(": fractions are not supported"));
  EXPECT_THAT(reason("5 s"), HasSubstr(": unexpected space"));
  EXPECT_THAT(reason("-1s"), HasSubstr(": must not be negative"));
  EXPECT_THAT(reason("2S"), HasSubstr(": unknown unit 'S'"));
  EXPECT_THAT(reason("3w"), HasSubstr(": unknown unit 'w'"));
  EXPECT_THAT(reason("5sec"), HasSubstr(": unknown unit 'sec'"));
  EXPECT_THAT(reason("1s+2s"), HasSubstr(": expected a number"));
  EXPECT_THAT(reason("5%"), HasSubstr(": missing unit before '%'"));
  EXPECT_THAT(reason("99999999999999999999h"), HasSubstr(": too large"));
  EXPECT_THAT(reason("9999999999999h"), HasSubstr(": too large"));
}

TEST(Duration, FormatsShortestExactForm) {
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatDuration(milliseconds(120000)), "2m");
  EXPECT_EQ(FormatDuration(milliseconds(3600000)), "1h");
  EXPECT_EQ(FormatDuration(milliseconds(1050)), "1.05s");
}

}  // namespace
}  // namespace gravity
