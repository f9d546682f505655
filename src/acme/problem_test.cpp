#include "acme/problem.h"

#include <gtest/gtest.h>

namespace gravity::acme {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

TEST(AcmeProblem, ParsesTypeDetailAndSubproblems) {
  std::optional<Problem> p = ParseProblem(R"({
    "type": "urn:ietf:params:acme:error:rejectedIdentifier",
    "detail": "some names were refused",
    "subproblems": [{"type": "urn:ietf:params:acme:error:malformed", "detail": "bad name",
                     "identifier": {"type": "dns", "value": "bad..example"}}]})");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->type, "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(p->Describe(),
            "urn:ietf:params:acme:error:rejectedIdentifier: some names were refused; "
            "bad..example: urn:ietf:params:acme:error:malformed: bad name");
}

TEST(AcmeProblem, NotAProblemDocument) {
  EXPECT_FALSE(ParseProblem("").has_value());
  EXPECT_FALSE(ParseProblem("<html>").has_value());
  EXPECT_FALSE(ParseProblem(R"({"status":"valid"})").has_value());
}

TEST(AcmeProblem, RetryAfterSecondsAndHttpDate) {
  system_clock::time_point now = system_clock::from_time_t(1767225600);  // 2026-01-01
  EXPECT_EQ(ParseRetryAfter("120", now), seconds(120));
  EXPECT_EQ(ParseRetryAfter("Thu, 01 Jan 2026 00:01:00 GMT", now), seconds(60));
  EXPECT_EQ(ParseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now), seconds(0));
  EXPECT_FALSE(ParseRetryAfter("", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("soon", now).has_value());
}

}  // namespace
}  // namespace gravity::acme
