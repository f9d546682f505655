#include "acme/renewal.h"

#include <gtest/gtest.h>

namespace gravity::acme {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::system_clock;

TEST(AcmeRenewal, RenewsTwoThirdsIntoLifetimeWithoutJitterForZero) {
  system_clock::time_point start = system_clock::from_time_t(1767225600);
  system_clock::time_point end = start + hours(24 * 90);
  EXPECT_EQ(RenewAt(start, end, 0), start + hours(24 * 60));
}

TEST(AcmeRenewal, JitterIsAtMostOneThirtiethOfLifetime) {
  system_clock::time_point start = system_clock::from_time_t(1767225600);
  system_clock::time_point end = start + hours(24 * 90);
  seconds max_jitter = hours(24 * 3);  // 90 days / 30
  // random % (max_jitter + 1) picks the jitter: max_jitter itself is the earliest time.
  EXPECT_EQ(RenewAt(start, end, static_cast<std::uint64_t>(max_jitter.count())),
            start + hours(24 * 57));
  EXPECT_EQ(RenewAt(start, end, 3600), start + hours(24 * 60) - hours(1));
  for (std::uint64_t r : {1ull, 12345ull, 987654321ull, ~0ull}) {
    system_clock::time_point at = RenewAt(start, end, r);
    EXPECT_LE(at, start + hours(24 * 60));
    EXPECT_GE(at, start + hours(24 * 57));
  }
}

TEST(AcmeRenewal, NonsenseValidityRenewsAtOnce) {
  system_clock::time_point t = system_clock::from_time_t(1767225600);
  EXPECT_EQ(RenewAt(t, t, 7), t);
  EXPECT_EQ(RenewAt(t, t - hours(1), 7), t);
}

TEST(AcmeRenewal, BackoffDoublesFrom30sCappedAtOneHour) {
  EXPECT_EQ(Backoff(1, std::nullopt), seconds(30));
  EXPECT_EQ(Backoff(2, std::nullopt), seconds(60));
  EXPECT_EQ(Backoff(3, std::nullopt), seconds(120));
  EXPECT_EQ(Backoff(7, std::nullopt), seconds(1920));
  EXPECT_EQ(Backoff(8, std::nullopt), seconds(3600));
  EXPECT_EQ(Backoff(1000, std::nullopt), seconds(3600));
  EXPECT_EQ(Backoff(0, std::nullopt), seconds(30));
}

TEST(AcmeRenewal, BackoffNeverShorterThanRetryAfter) {
  EXPECT_EQ(Backoff(1, seconds(300)), seconds(300));
  EXPECT_EQ(Backoff(3, seconds(10)), seconds(120));
  EXPECT_EQ(Backoff(20, seconds(7200)), seconds(7200));
}

}  // namespace
}  // namespace gravity::acme
