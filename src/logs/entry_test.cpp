#include "logs/entry.h"

#include <gtest/gtest.h>

namespace gravity::logs {
namespace {

TEST(CleanText, KeepsUtf8AndEscapesReplacesInvalidBytesAndNul) {
  EXPECT_EQ(CleanText("plain"), "plain");
  EXPECT_EQ(CleanText("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_EQ(CleanText("\x1b[31mred\x1b[0m"), "\x1b[31mred\x1b[0m");
  EXPECT_EQ(CleanText(std::string("a\0b", 3)), "a\xef\xbf\xbd" "b");
  EXPECT_EQ(CleanText("x\xff\xfey"), "x\xef\xbf\xbd\xef\xbf\xbdy");
  EXPECT_EQ(CleanText("\xc3"), "\xef\xbf\xbd");          // truncated sequence
  EXPECT_EQ(CleanText("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(CleanText("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong
}

TEST(CleanText, CutsLongLinesWithAMarker) {
  std::string big(1 << 20, 'a');
  std::string out = CleanText(big);
  EXPECT_EQ(out.size(), kMaxText + kCutMarker.size());
  EXPECT_EQ(out.substr(kMaxText), kCutMarker);
  // Never in the middle of a character.
  std::string wide;
  while (wide.size() < kMaxText + 10) wide += "\xe2\x82\xac";
  out = CleanText(wide);
  ASSERT_GT(out.size(), kCutMarker.size());
  std::string head = out.substr(0, out.size() - kCutMarker.size());
  EXPECT_EQ(head.size() % 3, 0u);
}

TEST(Rfc3339, ParsesZonesAndFractions) {
  std::int64_t ns = 0;
  ASSERT_TRUE(ParseRfc3339("1970-01-01T00:00:01Z", &ns));
  EXPECT_EQ(ns, 1000000000);
  ASSERT_TRUE(ParseRfc3339("1970-01-01T01:00:00.5+01:00", &ns));
  EXPECT_EQ(ns, 500000000);
  ASSERT_TRUE(ParseRfc3339("2026-01-31T12:00:00.123456789Z", &ns));
  EXPECT_EQ(FormatRfc3339Ms(ns), "2026-01-31T12:00:00.123Z");
  EXPECT_FALSE(ParseRfc3339("2026-01-31T12:00:00", &ns));  // no zone
  EXPECT_FALSE(ParseRfc3339("2026-13-31T12:00:00Z", &ns));
  EXPECT_FALSE(ParseRfc3339("yesterday", &ns));
  EXPECT_FALSE(ParseRfc3339("2026-01-31T12:00:00Zjunk", &ns));
}

}  // namespace
}  // namespace gravity::logs
