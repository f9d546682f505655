#include "supervise/restart_policy.h"

#include <gtest/gtest.h>

namespace gravity::supervise {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RestartPolicy, ExitAfterAHealthyRunRestartsAtOnce) {
  RestartPolicy p;
  auto d = p.OnExit(std::chrono::hours(3));
  EXPECT_TRUE(d.restart);
  EXPECT_EQ(d.delay, milliseconds(0));
  EXPECT_EQ(d.Describe(), "restart now");
}

TEST(RestartPolicy, QuickExitsInARowBackOffExponentially) {
  RestartPolicyOptions o;
  o.crash_loop_limit = 100;
  o.initial_backoff = milliseconds(100);
  o.max_backoff = milliseconds(1000);
  RestartPolicy p(o);
  std::vector<long> delays;
  for (int i = 0; i < 7; ++i) delays.push_back(p.OnExit(milliseconds(50)).delay.count());
  EXPECT_EQ(delays, (std::vector<long>{0, 100, 200, 400, 800, 1000, 1000}));
}

TEST(RestartPolicy, GivesUpAtTheCrashLoopLimit) {
  RestartPolicyOptions o;
  o.crash_loop_limit = 3;
  RestartPolicy p(o);
  EXPECT_TRUE(p.OnExit(milliseconds(10)).restart);
  EXPECT_TRUE(p.OnExit(milliseconds(10)).restart);
  auto d = p.OnExit(milliseconds(10));
  EXPECT_FALSE(d.restart);
  EXPECT_EQ(d.quick_exits, 3);
  EXPECT_NE(d.Describe().find("crash loop"), std::string::npos);
}

TEST(RestartPolicy, AStableRunForgetsEarlierQuickExits) {
  RestartPolicyOptions o;
  o.crash_loop_limit = 3;
  o.stable_after = seconds(10);
  RestartPolicy p(o);
  p.OnExit(milliseconds(10));
  p.OnExit(milliseconds(10));
  auto d = p.OnExit(seconds(11));
  EXPECT_TRUE(d.restart);
  EXPECT_EQ(d.delay, milliseconds(0));
  EXPECT_EQ(d.quick_exits, 1);
}

TEST(RestartPolicy, ResetAllowsRestartsAfterACrashLoop) {
  RestartPolicyOptions o;
  o.crash_loop_limit = 2;
  RestartPolicy p(o);
  p.OnExit(milliseconds(1));
  EXPECT_FALSE(p.OnExit(milliseconds(1)).restart);
  p.Reset();
  EXPECT_TRUE(p.OnExit(milliseconds(1)).restart);
}

}  // namespace
}  // namespace gravity::supervise
