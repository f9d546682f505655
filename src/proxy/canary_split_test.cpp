#include "proxy/canary_split.h"

#include "proxy/route_choice.h"

#include <gtest/gtest.h>

namespace gravity::proxy {
namespace {

int BucketOf(const std::string& cookie_line) {
  std::string data = "GET / HTTP/1.1\r\nHost: h\r\n" + cookie_line + "\r\n";
  http1::RequestHead head;
  EXPECT_EQ(http1::ParseRequestHead(data, http1::Limits{}, &head).status,
            http1::ParseStatus::kComplete);
  return CookieBucket(head);
}

TEST(CanarySplit, ReadsTheBucketCookie) {
  EXPECT_EQ(BucketOf("Cookie: gravity_bucket=42\r\n"), 42);
  EXPECT_EQ(BucketOf("Cookie: a=1; gravity_bucket=7; b=2\r\n"), 7);
  EXPECT_EQ(BucketOf("Cookie: a=1\r\nCookie: gravity_bucket=0\r\n"), 0);
  EXPECT_EQ(BucketOf("Cookie: xgravity_bucket=5\r\n"), -1);
  EXPECT_EQ(BucketOf("Cookie: gravity_bucket=100\r\n"), -1);
  EXPECT_EQ(BucketOf("Cookie: gravity_bucket=\r\n"), -1);
  EXPECT_EQ(BucketOf("Cookie: gravity_bucket=abc\r\n"), -1);
  EXPECT_EQ(BucketOf(""), -1);
}

ServiceSnapshot Service(int weight) {
  ServiceSnapshot s;
  s.name = "site";
  s.main = std::make_unique<PoolSnapshot>();
  if (weight >= 0) {
    s.canary = std::make_unique<PoolSnapshot>();
    s.canary_weight = weight;
  }
  return s;
}

TEST(CanarySplit, BucketsBelowTheWeightGoToTheCanary) {
  ServiceSnapshot s = Service(25);
  EXPECT_EQ(ChoosePool(s, 24, 0).pool, s.canary.get());
  EXPECT_STREQ(ChoosePool(s, 24, 0).name, "canary");
  EXPECT_EQ(ChoosePool(s, 25, 0).pool, s.main.get());
  EXPECT_EQ(ChoosePool(s, 24, 0).set_cookie_bucket, -1);  // the client has its cookie
}

TEST(CanarySplit, ClientsWithoutTheCookieAreSplitByWeightAndGetOne) {
  ServiceSnapshot s = Service(30);
  int canary = 0;
  for (std::uint64_t r = 0; r < 1000; ++r) {
    PoolChoice c = ChoosePool(s, -1, r);
    EXPECT_EQ(c.set_cookie_bucket, static_cast<int>(r % 100));
    if (c.pool == s.canary.get()) ++canary;
  }
  EXPECT_EQ(canary, 300);
}

TEST(CanarySplit, TheBaselineGetsTheNextBucketsAsManyAsTheCanary) {
  ServiceSnapshot s = Service(20);
  s.baseline = std::make_unique<PoolSnapshot>();
  EXPECT_STREQ(ChoosePool(s, 19, 0).name, "canary");
  EXPECT_EQ(ChoosePool(s, 20, 0).pool, s.baseline.get());
  EXPECT_STREQ(ChoosePool(s, 39, 0).name, "baseline");
  EXPECT_EQ(ChoosePool(s, 40, 0).pool, s.main.get());
  int canary = 0, baseline = 0, main = 0;
  for (std::uint64_t r = 0; r < 1000; ++r) {
    PoolChoice c = ChoosePool(s, -1, r);
    canary += c.pool == s.canary.get();
    baseline += c.pool == s.baseline.get();
    main += c.pool == s.main.get();
  }
  EXPECT_EQ(canary, 200);
  EXPECT_EQ(baseline, 200);
  EXPECT_EQ(main, 600);
  s.canary_weight = 50;  // the most a canary with a baseline may have: main gets nothing
  EXPECT_STREQ(ChoosePool(s, 99, 0).name, "baseline");
}

TEST(CanarySplit, NoCanaryOrZeroWeightMeansMainAndNoCookie) {
  for (int weight : {-1, 0}) {
    ServiceSnapshot s = Service(weight);
    PoolChoice c = ChoosePool(s, -1, 3);
    EXPECT_EQ(c.pool, s.main.get());
    EXPECT_EQ(c.set_cookie_bucket, -1);
  }
}


// The verify step's route: only the exact X-Gravity-Candidate token reaches the canary
// slot (whatever its weight); any other value reaches nothing, never the main pool; no
// header is split as usual.
TEST(CandidateRoute, OnlyTheExactTokenReachesTheCandidate) {
  RouteTable table;
  table.router = Router::Build({RouteKey{"site", {"*"}, "/"}}).value();
  auto svc = std::make_shared<ServiceSnapshot>(Service(0));
  svc->candidate_token = "abcdefghijklmnopqrstuvwxyz012345";
  auto healthy = [](std::uint64_t id, const char* addr) {
    auto t = std::make_shared<Target>(id, Address{addr});
    t->healthy = true;
    return t;
  };
  svc->main->targets = {healthy(1, "127.0.0.1:1")};
  svc->canary->targets = {healthy(2, "127.0.0.1:2")};
  table.services = {svc};
  RouteChoice c = ChooseRoute(table, "h", "/", -1, 7, Balance::kRoundRobin,
                              "abcdefghijklmnopqrstuvwxyz012345");
  EXPECT_EQ(c.pool, svc->canary.get());
  EXPECT_STREQ(c.pool_name, "candidate");
  ASSERT_NE(c.target, nullptr);
  EXPECT_EQ(c.target->id, 2u);
  // No header: split as usual (weight 0: main).
  RouteChoice plain = ChooseRoute(table, "h", "/", -1, 7, Balance::kRoundRobin, "");
  EXPECT_EQ(plain.pool, svc->main.get());
  ASSERT_NE(plain.target, nullptr);
  EXPECT_EQ(plain.target->id, 1u);
  // A wrong token: no target (503), never the live release.
  for (std::string_view wrong : {"abcdefghijklmnopqrstuvwxyz01234",
                                 "abcdefghijklmnopqrstuvwxyz0123456",
                                 "Abcdefghijklmnopqrstuvwxyz012345", "x"}) {
    RouteChoice m = ChooseRoute(table, "h", "/", -1, 7, Balance::kRoundRobin, wrong);
    EXPECT_EQ(m.target, nullptr) << wrong;
    EXPECT_STREQ(m.pool_name, "candidate");
  }
  // A candidate with no healthy target is a 503, not the live release.
  svc->canary->targets[0]->healthy = false;
  RouteChoice down = ChooseRoute(table, "h", "/", -1, 7, Balance::kRoundRobin,
                                 "abcdefghijklmnopqrstuvwxyz012345");
  EXPECT_EQ(down.target, nullptr);
  // A service whose token is gone (a proxy restarted during the verify): still no target.
  svc->canary->targets[0]->healthy = true;
  svc->candidate_token.clear();
  EXPECT_EQ(ChooseRoute(table, "h", "/", -1, 7, Balance::kRoundRobin,
                        "abcdefghijklmnopqrstuvwxyz012345").target,
            nullptr);
}

}  // namespace
}  // namespace gravity::proxy
