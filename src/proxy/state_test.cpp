#include "proxy/state.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace gravity::proxy {
namespace {

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = *MakeTempDir("proxy-state"); }
  void TearDown() override { RemoveTree(dir_); }
  std::string dir_;
};

ServiceSpec Site(const std::string& target) {
  ServiceSpec s;
  s.name = "site";
  s.hosts = {"www.localhost"};
  s.path_prefix = "/app";
  s.main.targets = {target};
  s.main.health.body_contains = "Automation for the people";
  s.main.health.interval = std::chrono::milliseconds(250);
  s.drain_timeout = std::chrono::milliseconds(5000);
  s.canary = CanarySpec{PoolSpec{{"127.0.0.1:20009"}, {}}, 10, {"127.0.0.1:20010"}};
  return s;
}

TEST_F(StateTest, SaveThenLoadRoundTrips) {
  const std::string path = dir_ + "/routes.json";
  ASSERT_TRUE(SaveState(path, {Site("127.0.0.1:20001")}).ok());
  auto loaded = LoadState(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded->warning, "");
  ASSERT_EQ(loaded->services.size(), 1u);
  const auto& s = loaded->services[0];
  EXPECT_EQ(s.name, "site");
  EXPECT_EQ(s.hosts, std::vector<std::string>{"www.localhost"});
  EXPECT_EQ(s.path_prefix, "/app");
  EXPECT_EQ(s.main.targets, std::vector<std::string>{"127.0.0.1:20001"});
  EXPECT_EQ(s.main.health, Site("x").main.health);
  EXPECT_EQ(s.drain_timeout.count(), 5000);
  ASSERT_TRUE(s.canary);
  EXPECT_EQ(s.canary->weight, 10);
  EXPECT_EQ(s.canary->pool.targets, std::vector<std::string>{"127.0.0.1:20009"});
  EXPECT_EQ(s.canary->baseline, std::vector<std::string>{"127.0.0.1:20010"});
}

TEST_F(StateTest, MissingFileIsEmptyState) {
  auto loaded = LoadState(dir_ + "/routes.json");
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->services.empty());
}

TEST_F(StateTest, CorruptFileIsReportedAndTheLastGoodCopyUsed) {
  const std::string path = dir_ + "/routes.json";
  ASSERT_TRUE(SaveState(path, {Site("127.0.0.1:20001")}).ok());
  ASSERT_TRUE(SaveState(path, {Site("127.0.0.1:20002")}).ok());  // .bak now holds 20001
  ASSERT_TRUE(WriteFileAtomic(path, "{\"version\":1,\"services\":[{\"name\":").ok());
  auto loaded = LoadState(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_NE(loaded->warning.find("corrupt"), std::string::npos) << loaded->warning;
  EXPECT_NE(loaded->warning.find(path), std::string::npos) << loaded->warning;
  EXPECT_NE(loaded->warning.find(".bak"), std::string::npos) << loaded->warning;
  ASSERT_EQ(loaded->services.size(), 1u);
  EXPECT_EQ(loaded->services[0].main.targets[0], "127.0.0.1:20001");
}

TEST_F(StateTest, InvalidEntryNamesWhereItIs) {
  auto r = ParseState(R"({"version":1,"services":[{"name":"ok","targets":["127.0.0.1:1"]},
                                                   {"name":"bad","targets":["nope"]}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("services[1]"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("'nope'"), std::string::npos) << r.error();
}

TEST_F(StateTest, BothCopiesCorruptIsAnErrorNamingBoth) {
  const std::string path = dir_ + "/routes.json";
  ASSERT_TRUE(WriteFileAtomic(path, "garbage").ok());
  ASSERT_TRUE(WriteFileAtomic(path + ".bak", "also garbage").ok());
  auto loaded = LoadState(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().find(path + " is corrupt"), std::string::npos) << loaded.error();
  EXPECT_NE(loaded.error().find(".bak is corrupt too"), std::string::npos) << loaded.error();
}

}  // namespace
}  // namespace gravity::proxy
