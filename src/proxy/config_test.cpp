#include "proxy/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gravity::proxy {
namespace {

using nlohmann::json;

TEST(ProxyConfig, DeployRequestDefaults) {
  auto s = DeployRequestFromJson("site", json{{"targets", {"127.0.0.1:20001"}}});
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->hosts, std::vector<std::string>{"*"});
  EXPECT_EQ(s->path_prefix, "/");
  EXPECT_EQ(s->main.health, HealthSpec{});
  EXPECT_EQ(s->deploy_timeout.count(), 30000);
}

TEST(ProxyConfig, HostsAreLowercasedAndValidated) {
  auto s = DeployRequestFromJson(
      "site", json{{"targets", {"localhost:1"}}, {"hosts", {"WWW.Localhost", "*.Example.com"}}});
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->hosts, (std::vector<std::string>{"*.example.com", "www.localhost"}));
  EXPECT_EQ(ParseAddress("localhost:1")->host, "127.0.0.1");
}

TEST(ProxyConfig, BadRequestsSayWhatIsWrong) {
  struct Case {
    json body;
    const char* expect;
  } cases[] = {
      {json{{"targets", json::array()}}, "at least one"},
      {json{{"targets", {"127.0.0.1"}}}, "'127.0.0.1' is not HOST:PORT"},
      {json{{"targets", {"127.0.0.1:99999"}}}, "bad port"},
      {json{{"targets", {"example.com:80"}}}, "numeric IP"},
      {json{{"targets", {"127.0.0.1:1", "127.0.0.1:1"}}}, "listed twice"},
      {json{{"targets", "127.0.0.1:1"}}, "'targets' must be an array"},
      {json{{"targets", {"127.0.0.1:1"}}, {"hosts", {"a b"}}}, "host 'a b'"},
      {json{{"targets", {"127.0.0.1:1"}}, {"path_prefix", "api"}}, "'path_prefix' must start"},
      {json{{"targets", {"127.0.0.1:1"}}, {"health", {{"status", 99}}}},
       "'health.status' must be between"},
      {json{{"targets", {"127.0.0.1:1"}}, {"health", {{"path", "x"}}}}, "'health.path'"},
      {json{{"targets", {"127.0.0.1:1"}}, {"health", {{"interval_ms", "1s"}}}}, "an integer"},
      {json::array(), "JSON object"},
  };
  for (const auto& c : cases) {
    auto s = DeployRequestFromJson("site", c.body);
    ASSERT_FALSE(s.ok()) << c.body.dump();
    EXPECT_NE(s.error().find(c.expect), std::string::npos) << s.error();
  }
  EXPECT_FALSE(DeployRequestFromJson("../etc", json{{"targets", {"127.0.0.1:1"}}}).ok());
  EXPECT_FALSE(ValidateWeight(101).ok());
  EXPECT_TRUE(ValidateWeight(0).ok());
}

TEST(ProxyConfig, CanaryWithABaselinePool) {
  auto c = CanaryRequestFromJson(json{{"targets", {"127.0.0.1:20001"}},
                                      {"baseline_targets", {"127.0.0.1:20002"}},
                                      {"weight", 50}});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->baseline, std::vector<std::string>{"127.0.0.1:20002"});
  struct Case {
    json body;
    const char* expect;
  } cases[] = {
      {json{{"targets", {"127.0.0.1:1"}}, {"baseline_targets", {"127.0.0.1:2"}}, {"weight", 51}},
       "between 0 and 50, got 51 (the baseline pool gets the same share)"},
      {json{{"targets", {"127.0.0.1:1"}}, {"baseline_targets", json::array()}, {"weight", 5}},
       "baseline_targets: 'targets' must list at least one"},
      {json{{"targets", {"127.0.0.1:1"}}, {"baseline_targets", {"127.0.0.1:1"}}, {"weight", 5}},
       "'127.0.0.1:1' is in both the canary and the baseline pool"},
      {json{{"targets", {"127.0.0.1:1"}}, {"baseline_targets", "127.0.0.1:2"}, {"weight", 5}},
       "'baseline_targets' must be an array"},
  };
  for (const auto& c : cases) {
    auto r = CanaryRequestFromJson(c.body);
    ASSERT_FALSE(r.ok()) << c.body.dump();
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << r.error();
  }
  EXPECT_TRUE(ValidateWeight(100).ok());
  EXPECT_FALSE(ValidateWeight(51, true).ok());
}

// What the control client sends is what the control API reads back, field for field.
TEST(ProxyConfig, CanaryRequestSurvivesItsJsonBody) {
  CanaryRequest c;
  c.pool.targets = {"127.0.0.1:20001", "127.0.0.1:20002"};
  c.pool.health.path = "/ready";
  c.pool.health.status = 204;
  c.pool.health.body_contains = "ok";
  c.pool.health.interval = std::chrono::milliseconds(250);
  c.pool.health.timeout = std::chrono::milliseconds(100);
  c.pool.health.healthy_threshold = 3;
  c.pool.health.unhealthy_threshold = 4;
  c.weight = 25;
  c.candidate_token = "abcdefghijklmnop0123";
  c.baseline = {"127.0.0.1:20003"};
  c.deploy_timeout = std::chrono::milliseconds(7000);
  auto back = CanaryRequestFromJson(CanaryRequestToJson(c));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->pool.targets, c.pool.targets);
  EXPECT_EQ(back->pool.health, c.pool.health);
  EXPECT_EQ(back->weight, 25);
  EXPECT_EQ(back->candidate_token, c.candidate_token);
  EXPECT_EQ(back->baseline, c.baseline);
  EXPECT_EQ(back->deploy_timeout.count(), 7000);
  // Without a token or a baseline the body carries neither (the API's defaults apply).
  CanaryRequest plain;
  plain.pool.targets = {"127.0.0.1:20001"};
  plain.weight = 10;
  const json body = CanaryRequestToJson(plain);
  EXPECT_FALSE(body.contains("candidate_token"));
  EXPECT_FALSE(body.contains("baseline_targets"));
  auto plain_back = CanaryRequestFromJson(body);
  ASSERT_TRUE(plain_back.ok()) << plain_back.error();
  EXPECT_TRUE(plain_back->baseline.empty());
  EXPECT_TRUE(plain_back->candidate_token.empty());
}

}  // namespace
}  // namespace gravity::proxy
