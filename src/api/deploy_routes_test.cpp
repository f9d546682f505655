#include "api/deploy_routes.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "deploy/fake_proxy.h"
#include "runtime/fake_launcher.h"

namespace gravity::api {
namespace {

constexpr const char* kToken = "t0k3n-abcdefghijklmnopqrstuvwxyz012345";

// The deploy routes over a real Deployer (fake launcher and proxy) with one app, "site",
// and two environments.
class DeployRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-deploy-routes").value();
    db_ = std::move(store::Db::Open(dir_ + "/state.db").value());
    runtime::SupervisorOptions so;
    so.state_dir = dir_ + "/state";
    supervisor_ = std::make_unique<runtime::Supervisor>(so, launcher_, clock_);
    ASSERT_TRUE(supervisor_->Recover().ok());
    deployer_ = std::make_unique<deploy::Deployer>(*db_, *supervisor_, proxy_, clock_);
    ASSERT_TRUE(deployer_->Init().ok());
    config::StackSpec stack;
    config::StackApp app;
    app.name = "site";
    config::EnvironmentSpec staging, production;
    staging.name = "staging";
    production.name = "production";
    production.promote_from = "staging";
    app.environments = {staging, production};
    stack.apps = {app};
    deployer_->SetStack(stack);
    router_.SetToken(kToken);
    AddDeployRoutes(router_, *deployer_, [this](bool stop) { shutdowns_.push_back(stop); });
  }
  void TearDown() override { RemoveTree(dir_); }

  Response Call(const std::string& method, const std::string& target,
                const std::string& body = "") {
    Request r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.headers["authorization"] = std::string("Bearer ") + kToken;
    return router_.Handle(r);
  }
  std::string ErrorOf(const Response& r) {
    return nlohmann::json::parse(r.body).value("error", std::string());
  }

  std::string dir_;
  std::unique_ptr<store::Db> db_;
  runtime::FakeLauncher launcher_;
  FakeClock clock_;
  std::unique_ptr<runtime::Supervisor> supervisor_;
  deploy::FakeProxy proxy_;
  std::unique_ptr<deploy::Deployer> deployer_;
  Router router_;
  std::vector<bool> shutdowns_;
};

TEST_F(DeployRoutesTest, StatusListsTheStacksEnvironments) {
  Response r = Call("GET", "/v1/status");
  ASSERT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["apps"][0]["name"], "site");
  EXPECT_EQ(j["apps"][0]["environments"].size(), 2u);
}

TEST_F(DeployRoutesTest, UnknownAppsAndEnvironmentsAre404) {
  EXPECT_EQ(Call("GET", "/v1/apps/nope/releases").status, 404);
  Response rollback = Call("POST", "/v1/apps/nope/rollback", "{}");
  EXPECT_EQ(rollback.status, 404);
  EXPECT_EQ(ErrorOf(rollback), "no app named 'nope' in the stack");
  Response env = Call("POST", "/v1/apps/site/rollback", R"({"env":"qa"})");
  EXPECT_EQ(env.status, 404);
  EXPECT_EQ(ErrorOf(env), "app 'site' has no environment named 'qa'");
}

TEST_F(DeployRoutesTest, MalformedBodiesAre400) {
  EXPECT_EQ(Call("POST", "/v1/apps/site/rollback", "[1]").status, 400);
  EXPECT_EQ(Call("POST", "/v1/apps/site/promote", "{}").status, 400);
  EXPECT_EQ(Call("POST", "/v1/apps/site/promote", R"({"to": 3})").status, 400);
}

TEST_F(DeployRoutesTest, RefusalsThatNameExistingThingsAre422) {
  // Two environments and none named; nothing live to promote; nothing to roll back to.
  Response ambiguous = Call("POST", "/v1/apps/site/rollback", "{}");
  EXPECT_EQ(ambiguous.status, 422);
  EXPECT_NE(ErrorOf(ambiguous).find("name one with --env"), std::string::npos);
  Response promote = Call("POST", "/v1/apps/site/promote", R"({"to":"production"})");
  EXPECT_EQ(promote.status, 422);
  EXPECT_EQ(ErrorOf(promote), "site/staging has no live release to promote");
  EXPECT_EQ(Call("POST", "/v1/apps/site/rollback", R"({"env":"staging"})").status, 422);
}

TEST_F(DeployRoutesTest, OneDeploymentWithItsCanaryAndWatch) {
  EXPECT_EQ(Call("GET", "/v1/deployments/abc").status, 400);
  EXPECT_EQ(Call("GET", "/v1/deployments/-1").status, 400);
  EXPECT_EQ(Call("GET", "/v1/deployments/1x").status, 400);
  Response missing = Call("GET", "/v1/deployments/99");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(ErrorOf(missing), "no deployment 99");
  deploy::DeploymentRecord d;
  d.app = "site";
  d.environment = "staging";
  d.commit = "abcdef1234";
  d.canary = deploy::CanaryRecord{};
  d.canary->steps.push_back({.weight = 5, .duration_ms = 1000, .decision = "pass"});
  d.watch = deploy::WatchRecord{.phase = "passed", .verdict = "no regression in 2m"};
  d.id = deployer_->records().InsertDeployment(d).value();
  ASSERT_TRUE(deployer_->records().UpdateDeployment(d).ok());
  Response r = Call("GET", "/v1/deployments/" + std::to_string(d.id));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["commit"], "abcdef1234");
  EXPECT_EQ(j["canary"]["steps"][0]["weight"], 5);
  EXPECT_EQ(j["canary"]["steps"][0]["decision"], "pass");
  EXPECT_EQ(j["watch"]["phase"], "passed");
  EXPECT_EQ(j["watch"]["verdict"], "no regression in 2m");
}

TEST_F(DeployRoutesTest, ShutdownAnswers202AndSaysWhetherInstancesStop) {
  EXPECT_EQ(Call("POST", "/v1/shutdown", R"({"stop_instances":true})").status, 202);
  EXPECT_EQ(Call("POST", "/v1/shutdown", "").status, 202);
  EXPECT_EQ(shutdowns_, (std::vector<bool>{true, false}));
}

TEST(DeployErrorStatus, OnlyNotFoundIs404) {
  EXPECT_EQ(DeployErrorStatus(Status::NotFound("x")), 404);
  EXPECT_EQ(DeployErrorStatus(Status::Conflict("x")), 422);
  EXPECT_EQ(DeployErrorStatus(Status::Error("x")), 422);
  EXPECT_EQ(DeployErrorStatus(Status::Unavailable("x")), 422);
}

}  // namespace
}  // namespace gravity::api
