#include "static/http_util.h"

#include <gtest/gtest.h>

namespace gravity::static_server {
namespace {

TEST(ParseTarget, NormalizesAndDecodes) {
  TargetPath t = ParseTarget("/a/./b//c%20d/../e?x=1&y");
  EXPECT_EQ(t.error_status, 0);
  EXPECT_EQ(t.relative, "a/b/e");
  EXPECT_FALSE(t.trailing_slash);
  EXPECT_EQ(t.query, "x=1&y");
  EXPECT_EQ(t.raw_path, "/a/./b//c%20d/../e");
  EXPECT_EQ(ParseTarget("/").relative, "");
  EXPECT_TRUE(ParseTarget("/").trailing_slash);
  EXPECT_TRUE(ParseTarget("/docs/").trailing_slash);
  EXPECT_EQ(ParseTarget("/docs/").relative, "docs");
  EXPECT_EQ(ParseTarget("/a/..").relative, "");
  EXPECT_EQ(ParseTarget("http://example.com/x/y").relative, "x/y");
  EXPECT_EQ(ParseTarget("HTTP://example.com").relative, "");
  EXPECT_EQ(ParseTarget("/%41%62").relative, "Ab");
  EXPECT_EQ(ParseTarget("/%252e%252e").relative, "%2e%2e");  // decoded once only
}

TEST(ParseTarget, RefusesTraversalAndBadEscapes) {
  for (const char* bad : {"/..", "/../x", "/a/../../x", "/%2e%2e/x", "/%2E%2e", "/a/%2e%2e/%2e%2e",
                          "/%2f", "/..%2f", "/%00", "/%", "/%4", "/%g0", "x", "", "*"}) {
    EXPECT_EQ(ParseTarget(bad).error_status, 400) << bad;
  }
}

TEST(ContentTypeFor, KnownAndUnknown) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("a/b/INDEX.HTM"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("x.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("x.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("x.webmanifest"), "application/manifest+json");
  EXPECT_EQ(ContentTypeFor("Makefile"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("dir.d/file"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("x."), "application/octet-stream");
}

TEST(HttpDate, FormatsAndParsesImfFixdate) {
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate(FormatHttpDate(1700000000)), 1700000000);
  EXPECT_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
  EXPECT_FALSE(ParseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT"));
  EXPECT_FALSE(ParseHttpDate("Sun, 36 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(ParseHttpDate(""));
}

TEST(IfNoneMatch, WeakComparisonOverLists) {
  EXPECT_TRUE(IfNoneMatchMatches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\", \"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches(" * ", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("\"a,b\", \"abc\"", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("\"abcd\"", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("abc", "\"abc\""));
}

TEST(ParseRange, SingleRanges) {
  using K = ByteRange::Kind;
  auto r = ParseRange("bytes=0-4", 10);
  EXPECT_EQ(r.kind, K::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 4u);
  r = ParseRange("bytes=5-", 10);
  EXPECT_EQ(r.first, 5u);
  EXPECT_EQ(r.last, 9u);
  r = ParseRange("bytes=-3", 10);
  EXPECT_EQ(r.first, 7u);
  EXPECT_EQ(r.last, 9u);
  r = ParseRange("bytes=-30", 10);
  EXPECT_EQ(r.first, 0u);
  r = ParseRange("bytes=8-100", 10);
  EXPECT_EQ(r.last, 9u);
  EXPECT_EQ(ParseRange("bytes=10-", 10).kind, K::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 10).kind, K::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-", 0).kind, K::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-1,3-4", 10).kind, K::kNone);
  EXPECT_EQ(ParseRange("items=0-1", 10).kind, K::kNone);
  EXPECT_EQ(ParseRange("bytes=4-2", 10).kind, K::kNone);
  EXPECT_EQ(ParseRange("bytes=a-b", 10).kind, K::kNone);
  EXPECT_EQ(ParseRange("bytes=", 10).kind, K::kNone);
  EXPECT_EQ(ParseRange("bytes=99999999999999999999-", 10).kind, K::kNone);
}

}  // namespace
}  // namespace gravity::static_server
