#include "proxy/health.h"

#include <gtest/gtest.h>

namespace gravity::proxy {
namespace {

using std::chrono::seconds;

const CheckResult kOk{true, ""};
const CheckResult kRefused{false, "connection refused"};

TEST(HealthMachine, HealthyAfterThresholdPassesInARow) {
  FakeClock clock;
  HealthMachine m(2, 3);
  EXPECT_EQ(m.state(), HealthState::kUnknown);
  EXPECT_FALSE(m.Feed(kOk, clock.Now()));
  clock.Advance(seconds(1));
  auto t = m.Feed(kOk, clock.Now());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->from, HealthState::kUnknown);
  EXPECT_EQ(t->to, HealthState::kHealthy);
  EXPECT_EQ(m.since(), clock.Now());
}

TEST(HealthMachine, UnhealthyAfterThreeTimeouts) {
  FakeClock clock;
  HealthMachine m(2, 3, HealthState::kHealthy);
  const CheckResult timeout{false, TimedOutReason(std::chrono::milliseconds(2000))};
  EXPECT_FALSE(m.Feed(timeout, clock.Now()));
  EXPECT_FALSE(m.Feed(timeout, clock.Now()));
  clock.Advance(seconds(3));
  auto t = m.Feed(timeout, clock.Now());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, HealthState::kUnhealthy);
  EXPECT_EQ(t->reason, "timed out after 2s");
  EXPECT_EQ(m.last_error(), "timed out after 2s");
  EXPECT_EQ(m.since(), clock.Now());
}

TEST(HealthMachine, APassInBetweenResetsTheFailureCount) {
  FakeClock clock;
  HealthMachine m(1, 2, HealthState::kHealthy);
  EXPECT_FALSE(m.Feed(kRefused, clock.Now()));
  EXPECT_FALSE(m.Feed(kOk, clock.Now()));
  EXPECT_EQ(m.last_error(), "");
  EXPECT_FALSE(m.Feed(kRefused, clock.Now()));
  EXPECT_TRUE(m.Feed(kRefused, clock.Now()));
  EXPECT_EQ(m.state(), HealthState::kUnhealthy);
  // Back to healthy after one pass (threshold 1).
  auto t = m.Feed(kOk, clock.Now());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, HealthState::kHealthy);
}

TEST(HealthMachine, UnknownBecomesUnhealthyAfterThresholdFailures) {
  FakeClock clock;
  HealthMachine m(2, 3);
  m.Feed(kRefused, clock.Now());
  m.Feed(kRefused, clock.Now());
  EXPECT_EQ(m.state(), HealthState::kUnknown);
  EXPECT_EQ(m.last_error(), "connection refused");
  m.Feed(kRefused, clock.Now());
  EXPECT_EQ(m.state(), HealthState::kUnhealthy);
  EXPECT_EQ(m.checks(), 3);
}

TEST(HealthEvaluate, ReasonsInExactWords) {
  HealthSpec spec;
  spec.body_contains = "Automation for the people";
  EXPECT_TRUE(EvaluateResponse(spec, 200, "<h1>Automation for the people</h1>").ok);
  EXPECT_EQ(EvaluateResponse(spec, 500, "x").reason, "status 500 (expected 200)");
  EXPECT_EQ(EvaluateResponse(spec, 200, "hello").reason, "body lacks 'Automation for the people'");
  EXPECT_EQ(TimedOutReason(std::chrono::milliseconds(2000)), "timed out after 2s");
  EXPECT_EQ(TimedOutReason(std::chrono::milliseconds(500)), "timed out after 500ms");
}

}  // namespace
}  // namespace gravity::proxy
