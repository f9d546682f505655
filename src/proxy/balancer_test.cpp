#include "proxy/balancer.h"

#include <gtest/gtest.h>

#include <map>

namespace gravity::proxy {
namespace {

std::vector<std::shared_ptr<Target>> Targets(int n) {
  std::vector<std::shared_ptr<Target>> v;
  for (int i = 0; i < n; ++i) {
    auto a = ParseAddress("127.0.0.1:" + std::to_string(20000 + i));
    v.push_back(std::make_shared<Target>(i + 1, *a));
    v.back()->healthy = true;
  }
  return v;
}

TEST(Balancer, RoundRobinVisitsEveryHealthyTargetEvenly) {
  auto t = Targets(3);
  std::atomic<std::uint32_t> cursor{0};
  std::map<Target*, int> seen;
  for (int i = 0; i < 300; ++i) seen[Pick(t, Balance::kRoundRobin, &cursor)]++;
  ASSERT_EQ(seen.size(), 3u);
  for (auto& [target, n] : seen) EXPECT_EQ(n, 100);
}

TEST(Balancer, SkipsUnhealthyAndDrainingTargets) {
  auto t = Targets(3);
  t[0]->healthy = false;
  t[1]->draining = true;
  std::atomic<std::uint32_t> cursor{0};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Pick(t, Balance::kRoundRobin, &cursor), t[2].get());
  t[2]->healthy = false;
  EXPECT_EQ(Pick(t, Balance::kRoundRobin, &cursor), nullptr);
  EXPECT_EQ(Pick({}, Balance::kRoundRobin, &cursor), nullptr);
}

TEST(Balancer, ExcludeGivesAnotherTargetForRetries) {
  auto t = Targets(2);
  std::atomic<std::uint32_t> cursor{0};
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Pick(t, Balance::kRoundRobin, &cursor, t[0].get()), t[1].get());
    EXPECT_EQ(Pick(t, Balance::kLeastOutstanding, &cursor, t[1].get()), t[0].get());
  }
  auto one = Targets(1);
  EXPECT_EQ(Pick(one, Balance::kRoundRobin, &cursor, one[0].get()), nullptr);
}

TEST(Balancer, LeastOutstandingPrefersTheIdlestTarget) {
  auto t = Targets(3);
  t[0]->inflight = 5;
  t[1]->inflight = 1;
  t[2]->inflight = 3;
  std::atomic<std::uint32_t> cursor{0};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Pick(t, Balance::kLeastOutstanding, &cursor), t[1].get());
  t[1]->healthy = false;
  EXPECT_EQ(Pick(t, Balance::kLeastOutstanding, &cursor), t[2].get());
}

}  // namespace
}  // namespace gravity::proxy
