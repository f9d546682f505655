#include "api/traffic_routes.h"

#include <gtest/gtest.h>

#include "common/latency_bins.h"

namespace gravity::api {
namespace {

// One service, site.staging, with the main pool's counters set by the test.
class OnePoolProxy : public deploy::ProxyControl {
 public:
  Result<deploy::ProxyDeployOutcome> Deploy(const deploy::ProxyRoute&) override {
    return deploy::ProxyDeployOutcome{};
  }
  Result<std::optional<std::vector<deploy::ProxyTarget>>> Targets(const std::string&) override {
    return std::optional<std::vector<deploy::ProxyTarget>>();
  }
  Status Remove(const std::string&) override { return Status::Ok(); }
  Result<std::optional<deploy::ProxyService>> Service(const std::string& service) override {
    if (service != "site.staging") return std::optional<deploy::ProxyService>();
    deploy::ProxyService s;
    s.main_requests = main;
    return std::optional<deploy::ProxyService>(s);
  }
  deploy::PoolRequests main;  // set between samples (one thread)
};

class TrafficRoutesTest : public ::testing::Test {
 protected:
  TrafficRoutesTest() : history_(proxy_, clock_, {std::chrono::seconds(10), 360}) {
    config::StackSpec stack;
    config::StackApp app;
    app.name = "site";
    config::EnvironmentSpec env;
    env.name = "staging";
    app.environments = {env};
    stack.apps.push_back(app);
    history_.SetStack(stack);
    AddTrafficRoutes(router_, history_);
  }
  Response Get(const std::string& target) {
    Request r;
    r.method = "GET";
    r.target = target;
    r.headers["host"] = "127.0.0.1";
    return router_.Handle(r);
  }
  OnePoolProxy proxy_;
  FakeClock clock_;
  deploy::TrafficHistory history_;
  Router router_;
};

TEST_F(TrafficRoutesTest, AnswersResolutionAndPointsPerPool) {
  history_.Sample();
  proxy_.main.total = 50;
  proxy_.main.errors_5xx = 5;
  proxy_.main.latency.assign(latency::kBins, 0);
  proxy_.main.latency[latency::BinOf(3000)] = 50;
  clock_.Advance(std::chrono::seconds(10));
  history_.Sample();
  Response r = Get("/v1/traffic?app=site&env=staging");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["resolution_ms"], 10000);
  EXPECT_EQ(j["capacity"], 360);
  ASSERT_EQ(j["pools"].size(), 1u);
  EXPECT_EQ(j["pools"][0]["pool"], "main");
  ASSERT_EQ(j["pools"][0]["points"].size(), 1u);
  const auto& p = j["pools"][0]["points"][0];
  EXPECT_DOUBLE_EQ(p["requests_per_s"].get<double>(), 5);
  EXPECT_DOUBLE_EQ(p["error_rate"].get<double>(), 0.1);
  EXPECT_NEAR(p["p50_ms"].get<double>(), 3, 0.2);
  EXPECT_NEAR(p["p99_ms"].get<double>(), 3, 0.2);
  EXPECT_TRUE(p["t"].is_number_integer());
}

TEST_F(TrafficRoutesTest, NoHistoryYetIsAnEmptyList) {
  Response r = Get("/v1/traffic?app=site&env=staging");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(nlohmann::json::parse(r.body)["pools"].empty());
}

TEST_F(TrafficRoutesTest, BadOrUnknownParametersAre4xxNamingThem) {
  Response r = Get("/v1/traffic?app=shop&env=staging");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("no app 'shop'"), std::string::npos) << r.body;
  r = Get("/v1/traffic?app=site&env=qa");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("no environment 'qa'"), std::string::npos) << r.body;
  r = Get("/v1/traffic?app=site");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("env is required"), std::string::npos) << r.body;
  r = Get("/v1/traffic?env=staging");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("app is required"), std::string::npos) << r.body;
  r = Get("/v1/traffic?app=site&env=staging&pool=main");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("unknown parameter 'pool'"), std::string::npos) << r.body;
}

TEST_F(TrafficRoutesTest, NeedsTheTokenWhenReadsDo) {
  router_.SetToken("t0k3n-abcdefghijklmnopqrstuvwxyz012345");
  router_.RequireTokenForReads(true);
  EXPECT_EQ(Get("/v1/traffic?app=site&env=staging").status, 401);
  Request r;
  r.method = "GET";
  r.target = "/v1/traffic?app=site&env=staging";
  r.headers["host"] = "127.0.0.1";
  r.headers["authorization"] = "Bearer t0k3n-abcdefghijklmnopqrstuvwxyz012345";
  EXPECT_EQ(router_.Handle(r).status, 200);
}

}  // namespace
}  // namespace gravity::api
