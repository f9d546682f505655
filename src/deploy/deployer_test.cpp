#include "deploy/deployer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "deploy/fake_proxy.h"
#include "runtime/fake_launcher.h"

namespace gravity::deploy {
namespace {

using std::chrono::milliseconds;

class DeployerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-deployer-test").value();
    db_ = std::move(store::Db::Open(dir_ + "/gravity.db").value());
    runtime::SupervisorOptions so;
    so.state_dir = dir_ + "/state";
    so.port_first = 61000;
    so.port_last = 64999;
    supervisor_ = std::make_unique<runtime::Supervisor>(so, launcher_, clock_);
    ASSERT_TRUE(supervisor_->Recover().ok());
    // The fake launcher's instances never listen: hand them to the (fake) proxy at once.
    deployer_ = std::make_unique<Deployer>(*db_, *supervisor_, proxy_, clock_,
                                           DeployerOptions{.listen_poll = std::chrono::milliseconds(0)});
    ASSERT_TRUE(deployer_->Init().ok());
    config::StackApp app;
    app.name = "site";
    app.keep_releases = 2;
    config::EnvironmentSpec staging;
    staging.name = "staging";
    staging.branch = "staging";
    staging.instances = 2;
    staging.keep_previous = std::chrono::minutes(10);
    staging.drain_timeout = std::chrono::seconds(30);
    staging.env = {{"GREETING", "hi"}};
    config::EnvironmentSpec production;
    production.name = "production";
    production.promote_from = "staging";
    production.host = "www.localhost";
    production.instances = 3;
    app.environments = {staging, production};
    stack_.apps = {app};
    deployer_->SetStack(stack_);
  }
  void TearDown() override { RemoveTree(dir_); }

  Release MakeRelease(const std::string& commit) {
    Release r;
    r.app = "site";
    r.commit = commit;
    r.release_dir = dir_ + "/releases/" + commit;
    EXPECT_TRUE(MakeDirs(r.release_dir).ok());
    EXPECT_TRUE(
        WriteFileAtomic(r.release_dir + "/gravity.yml",
                        "run:\n  command: serve " + commit + "\nhealth:\n  body_contains: ok\n")
            .ok());
    r.spec.run.command = "serve " + commit;
    r.spec.health.body_contains = "ok";
    return r;
  }

  EnvironmentRecord Env(const std::string& env) {
    return deployer_->records().Environment("site", env).value();
  }
  std::vector<std::string> Served(const std::string& env) { return proxy_.served["site." + env]; }
  std::vector<std::string> Addresses(const std::vector<std::string>& ids) {
    std::vector<std::string> out;
    for (const auto& id : ids) out.push_back(supervisor_->Get(id).value().address());
    return out;
  }
  size_t Running() { return supervisor_->List().size(); }
  // A staging deployment of `commit` a killed daemon left at the health wait: two
  // instances started and handed to the proxy, the record still running.
  DeploymentRecord LeftBehind(const std::string& commit) {
    runtime::InstanceSpec spec;
    spec.app = "site";
    spec.environment = "staging";
    spec.release = commit;
    spec.command = "serve";
    DeploymentRecord d;
    d.app = "site";
    d.environment = "staging";
    d.commit = commit;
    d.kind = DeploymentKind::kDeploy;
    d.status = DeploymentStatus::kRunning;
    d.step = DeploymentStep::kHealthWait;
    d.instances = {supervisor_->Start(spec).value().id, supervisor_->Start(spec).value().id};
    d.started_at_ms = 1;
    d.id = deployer_->records().InsertDeployment(d).value();
    return d;
  }

  std::string dir_;
  std::unique_ptr<store::Db> db_;
  runtime::FakeLauncher launcher_;
  FakeClock clock_;
  std::unique_ptr<runtime::Supervisor> supervisor_;
  FakeProxy proxy_;
  std::unique_ptr<Deployer> deployer_;
  config::StackSpec stack_;
};

TEST_F(DeployerTest, ListenWaitRunsOnTheInjectedClock) {
  // Instances that never listen: the deployer waits half the deploy timeout for them, on
  // its injected sleep (here the fake clock), then hands them to the proxy with the rest.
  std::chrono::milliseconds slept{0};
  DeployerOptions options;
  options.listen_poll = milliseconds(5);
  options.sleep = [&](milliseconds d) {
    clock_.Advance(d);
    slept += d;
  };
  Deployer waiting(*db_, *supervisor_, proxy_, clock_, options);
  ASSERT_TRUE(waiting.Init().ok());
  waiting.SetStack(stack_);
  auto t0 = std::chrono::steady_clock::now();
  auto out = waiting.Deploy("staging", MakeRelease("aaaaaaaa1"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_GE(slept, std::chrono::seconds(15) - milliseconds(10));
  EXPECT_LE(slept, std::chrono::seconds(15));
  EXPECT_EQ(proxy_.routes.back().health.deploy_timeout, std::chrono::seconds(30) - slept);
}

TEST_F(DeployerTest, FirstDeployStartsInstancesAndSwitchesTraffic) {
  auto out = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(out->instances.size(), 2u);
  auto env = Env("staging");
  EXPECT_EQ(env.live_commit, "aaaaaaaa1");
  EXPECT_EQ(env.live_instances, out->instances);
  EXPECT_TRUE(env.warm_instances.empty());
  EXPECT_EQ(Served("staging"), Addresses(out->instances));
  const ProxyRoute& route = proxy_.routes.back();
  EXPECT_EQ(route.service, "site.staging");
  EXPECT_EQ(route.hosts, std::vector<std::string>{"*"});
  EXPECT_EQ(route.health.body_contains, "ok");
  EXPECT_EQ(route.drain_timeout, std::chrono::seconds(30));
  ASSERT_EQ(launcher_.launched.size(), 2u);
  EXPECT_EQ(launcher_.launched[0].command, "serve aaaaaaaa1");
  EXPECT_EQ(launcher_.launched[0].env.at("GREETING"), "hi");
  auto d = deployer_->records().Deployment(out->deployment_id).value().value();
  EXPECT_EQ(d.status, DeploymentStatus::kSucceeded);
  EXPECT_EQ(d.step, DeploymentStep::kDone);
}

TEST_F(DeployerTest, OldInstancesStayWarmUntilKeepPreviousThenStop) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  auto second = deployer_->Deploy("staging", MakeRelease("bbbbbbbb2")).value();
  auto env = Env("staging");
  EXPECT_EQ(env.live_commit, "bbbbbbbb2");
  EXPECT_EQ(env.warm_commit, "aaaaaaaa1");
  EXPECT_EQ(env.warm_instances, first.instances);
  EXPECT_EQ(Running(), 4u);
  // A third deploy retires the oldest warm set: at once when its drain is over...
  clock_.Advance(std::chrono::seconds(31));
  auto third = deployer_->Deploy("staging", MakeRelease("cccccccc3")).value();
  deployer_->Tick();
  EXPECT_EQ(Running(), 4u);
  for (const auto& id : first.instances) EXPECT_FALSE(supervisor_->Get(id));
  // ... and only after it when deploys come quicker than drain_timeout.
  auto fourth = deployer_->Deploy("staging", MakeRelease("dddddddd4")).value();
  EXPECT_EQ(Running(), 6u);  // the second set is still draining
  deployer_->Tick();
  EXPECT_EQ(Running(), 6u);
  clock_.Advance(std::chrono::seconds(31));
  deployer_->Tick();
  EXPECT_EQ(Running(), 4u);
  for (const auto& id : second.instances) EXPECT_FALSE(supervisor_->Get(id));
  // keep_previous (10m) after the drain (30s): the warm ones stop.
  clock_.Advance(std::chrono::minutes(10));
  deployer_->Tick();
  EXPECT_EQ(Running(), 2u);
  env = Env("staging");
  EXPECT_EQ(env.live_instances, fourth.instances);
  EXPECT_TRUE(env.warm_instances.empty());
  EXPECT_EQ(env.warm_commit, "cccccccc3");  // still the rollback target, relaunched from disk
}

TEST_F(DeployerTest, FailedHealthStopsNewInstancesAndLeavesLiveAlone) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  // Every port the next instances could get fails its health check.
  for (int p = 61000; p <= 64999; ++p) proxy_.unhealthy.insert("127.0.0.1:" + std::to_string(p));
  for (const auto& a : Addresses(first.instances)) proxy_.unhealthy.erase(a);
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbbb2"));
  ASSERT_FALSE(out.ok());
  const std::string& err = out.error();
  EXPECT_NE(err.find("site/staging: deploy of bbbbbbb failed, live release aaaaaaa untouched"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("connection refused"), std::string::npos) << err;
  EXPECT_NE(err.find("last log lines:"), std::string::npos) << err;
  EXPECT_NE(err.find("out fake instance site-staging-bbbbbbb-"), std::string::npos) << err;
  auto env = Env("staging");
  EXPECT_EQ(env.live_commit, "aaaaaaaa1");
  EXPECT_EQ(env.live_instances, first.instances);
  EXPECT_EQ(Served("staging"), Addresses(first.instances));
  EXPECT_EQ(Running(), 2u);
  auto history = deployer_->records().Deployments("site").value();
  EXPECT_EQ(history[0].status, DeploymentStatus::kFailed);
  EXPECT_EQ(history[0].error, err);
}

TEST_F(DeployerTest, RollbackSwapsToWarmInstancesWithoutStartingAny) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  auto second = deployer_->Deploy("staging", MakeRelease("bbbbbbbb2")).value();
  size_t launches = launcher_.launched.size();
  auto out = deployer_->Rollback("site", "staging", "");
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_TRUE(out->reused_warm);
  EXPECT_EQ(launcher_.launched.size(), launches);
  EXPECT_EQ(proxy_.routes.back().health.healthy_threshold, 1);
  auto env = Env("staging");
  EXPECT_EQ(env.live_commit, "aaaaaaaa1");
  EXPECT_EQ(env.live_instances, first.instances);
  EXPECT_EQ(env.warm_commit, "bbbbbbbb2");
  EXPECT_EQ(env.warm_instances, second.instances);
  EXPECT_EQ(Served("staging"), Addresses(first.instances));
  // And forward again, also warm.
  auto again = deployer_->Rollback("site", "staging", "bbbb");
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_TRUE(again->reused_warm);
  EXPECT_EQ(Env("staging").live_commit, "bbbbbbbb2");
}

TEST_F(DeployerTest, RollbackRelaunchesFromDiskWhenNothingIsWarm) {
  deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  deployer_->Deploy("staging", MakeRelease("bbbbbbbb2")).value();
  clock_.Advance(std::chrono::hours(1));
  deployer_->Tick();
  EXPECT_EQ(Running(), 2u);
  size_t launches = launcher_.launched.size();
  auto out = deployer_->Rollback("site", "staging", "");
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_FALSE(out->reused_warm);
  EXPECT_EQ(launcher_.launched.size(), launches + 2);
  EXPECT_EQ(launcher_.launched.back().command, "serve aaaaaaaa1");  // from its gravity.yml
  EXPECT_EQ(Env("staging").live_commit, "aaaaaaaa1");
  auto history = deployer_->records().Deployments("site").value();
  EXPECT_EQ(history[0].kind, DeploymentKind::kRollback);
}

TEST_F(DeployerTest, RollbackErrors) {
  EXPECT_FALSE(deployer_->Rollback("site", "staging", "").ok());
  deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  auto none = deployer_->Rollback("site", "staging", "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("no earlier release"), std::string::npos) << none.error();
  auto live = deployer_->Rollback("site", "staging", "aaaa");
  ASSERT_FALSE(live.ok());
  EXPECT_NE(live.error().find("already live"), std::string::npos) << live.error();
  auto unknown = deployer_->Rollback("site", "staging", "ffff");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("no release of 'site' matches commit 'ffff'"), std::string::npos);
  auto noenv = deployer_->Rollback("site", "", "");
  ASSERT_FALSE(noenv.ok());
  EXPECT_NE(noenv.error().find("--env"), std::string::npos) << noenv.error();
  EXPECT_FALSE(deployer_->Rollback("nope", "staging", "").ok());
}

TEST_F(DeployerTest, PromoteDeploysExactlyTheUpstreamLiveRelease) {
  auto p0 = deployer_->Promote("site", "production");
  ASSERT_FALSE(p0.ok());
  EXPECT_NE(p0.error().find("no live release"), std::string::npos) << p0.error();
  deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  auto out = deployer_->Promote("site", "production");
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(out->instances.size(), 3u);
  EXPECT_EQ(Env("production").live_commit, "aaaaaaaa1");
  EXPECT_EQ(proxy_.routes.back().hosts, std::vector<std::string>{"www.localhost"});
  EXPECT_EQ(launcher_.launched.back().environment, "production");
  auto again = deployer_->Promote("site", "production");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().find("already live"), std::string::npos);
  auto wrong = deployer_->Promote("site", "staging");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().find("promote_from"), std::string::npos);
}

TEST_F(DeployerTest, RetentionKeepsLastReleasesAndNeverLiveOrWarm) {
  std::vector<std::string> commits = {"aaaaaaaa1", "bbbbbbbb2", "cccccccc3", "dddddddd4"};
  for (size_t k = 0; k < commits.size(); ++k) {
    clock_.Advance(std::chrono::seconds(1));
    deployer_->Deploy("staging", MakeRelease(commits[k])).value();
  }
  // Releases with instances still draining stay until those have stopped.
  clock_.Advance(std::chrono::seconds(31));
  deployer_->Tick();
  auto releases = deployer_->records().Releases("site").value();
  std::map<std::string, bool> on_disk;
  for (const auto& r : releases) on_disk[r.commit] = !r.removed;
  EXPECT_TRUE(on_disk["dddddddd4"]);  // live
  EXPECT_TRUE(on_disk["cccccccc3"]);  // warm
  EXPECT_FALSE(on_disk["bbbbbbbb2"]);
  EXPECT_FALSE(on_disk["aaaaaaaa1"]);
  EXPECT_NE(::access((dir_ + "/releases/aaaaaaaa1").c_str(), F_OK), 0);
  EXPECT_EQ(::access((dir_ + "/releases/cccccccc3").c_str(), F_OK), 0);
  auto gone = deployer_->Rollback("site", "staging", "aaaa");
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().find("no longer kept on disk"), std::string::npos) << gone.error();
}

TEST_F(DeployerTest, ReconcileAfterCrashMidHealthWaitKeepsLiveAndStopsNew) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  // A daemon that died after starting instances and handing them to the proxy.
  DeploymentRecord d = LeftBehind("bbbbbbbb2");
  auto id = d.id;
  size_t routes = proxy_.routes.size();
  ASSERT_TRUE(deployer_->Reconcile().ok());
  auto after = deployer_->records().Deployment(id).value().value();
  EXPECT_EQ(after.status, DeploymentStatus::kInterrupted);
  EXPECT_NE(after.error.find("interrupted at step 'health_wait'"), std::string::npos);
  EXPECT_EQ(Running(), 2u);
  EXPECT_EQ(Env("staging").live_instances, first.instances);
  // The live targets were handed to the proxy again (a pending health gate loses).
  ASSERT_EQ(proxy_.routes.size(), routes + 1);
  EXPECT_EQ(proxy_.routes.back().targets, Addresses(first.instances));
}

TEST_F(DeployerTest, ReconcileCompletesADeployTheProxyAlreadySwitched) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  DeploymentRecord d = LeftBehind("bbbbbbbb2");
  auto id = d.id;
  proxy_.served["site.staging"] = Addresses(d.instances);  // the swap happened, then kill -9
  ASSERT_TRUE(deployer_->Reconcile().ok());
  auto after = deployer_->records().Deployment(id).value().value();
  EXPECT_EQ(after.status, DeploymentStatus::kSucceeded);
  EXPECT_NE(after.error.find("completed after a daemon restart"), std::string::npos);
  auto env = Env("staging");
  EXPECT_EQ(env.live_commit, "bbbbbbbb2");
  EXPECT_EQ(env.live_instances, d.instances);
  EXPECT_EQ(env.warm_instances, first.instances);
}

TEST_F(DeployerTest, ReconcileWaitsWhileTheProxyIsStillDecidingTheInterruptedDeploy) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  DeploymentRecord d = LeftBehind("bbbbbbbb2");
  proxy_.deploying = {"site.staging"};  // its health gate goes on in the proxy
  size_t routes = proxy_.routes.size();
  Status st = deployer_->Reconcile();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.IsConflict()) << st.message();
  EXPECT_NE(st.message().find("still health-checking"), std::string::npos) << st.message();
  // Nothing decided, nothing stopped: the gate may still switch to the new instances.
  EXPECT_EQ(deployer_->records().Deployment(d.id).value()->status, DeploymentStatus::kRunning);
  EXPECT_EQ(Running(), 4u);
  EXPECT_EQ(proxy_.routes.size(), routes);
  deployer_->Tick();  // still deciding
  EXPECT_EQ(Running(), 4u);
  // The gate passes and the proxy switches: the next Tick completes the record.
  proxy_.served["site.staging"] = Addresses(d.instances);
  proxy_.deploying.clear();
  deployer_->Tick();
  auto after = deployer_->records().Deployment(d.id).value().value();
  EXPECT_EQ(after.status, DeploymentStatus::kSucceeded) << after.error;
  EXPECT_EQ(Env("staging").live_instances, d.instances);
  // The old ones are not kept warm after an interrupted deploy: the same Tick stopped them.
  for (const auto& id : first.instances) EXPECT_FALSE(supervisor_->Get(id)) << id;
  EXPECT_EQ(Running(), 2u);
}

TEST_F(DeployerTest, ABusyProxyRefusingTheReassertedLiveTargetsStopsNothing) {
  // The interrupted deploy's request reaches the proxy only after the restarted daemon
  // asked: its re-assertion of the live targets is refused as busy.
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  DeploymentRecord d = LeftBehind("bbbbbbbb2");
  proxy_.after_deploy_in_progress = [&] {
    std::lock_guard lock(proxy_.mutex_);
    proxy_.deploying = {"site.staging"};  // right after it answered "no"
  };
  Status st = deployer_->Reconcile();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("re-asserting the live targets"), std::string::npos) << st.message();
  EXPECT_EQ(deployer_->records().Deployment(d.id).value()->status, DeploymentStatus::kRunning);
  EXPECT_EQ(Running(), 4u);
  EXPECT_EQ(Env("staging").live_instances, first.instances);
}

TEST_F(DeployerTest, ANewDeployWaitsUntilTheProxyHasDecidedTheOneLeftBehind) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  DeploymentRecord d = LeftBehind("bbbbbbbb2");
  proxy_.deploying = {"site.staging"};
  // The left-behind gate fails after a few polls (the proxy keeps serving the live ones).
  int polls = 0;
  DeployerOptions options;
  options.listen_poll = milliseconds(0);
  options.sleep = [&](milliseconds step) {
    clock_.Advance(step);
    if (++polls == 3) {
      std::lock_guard lock(proxy_.mutex_);
      proxy_.deploying.clear();
    }
  };
  Deployer waiting(*db_, *supervisor_, proxy_, clock_, options);
  ASSERT_TRUE(waiting.Init().ok());
  waiting.SetStack(stack_);
  auto out = waiting.Deploy("staging", MakeRelease("cccccccc3"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(polls, 3);
  auto left = waiting.records().Deployment(d.id).value().value();
  EXPECT_EQ(left.status, DeploymentStatus::kInterrupted) << left.error;
  for (const auto& id : d.instances) EXPECT_FALSE(supervisor_->Get(id)) << id;
  EXPECT_EQ(Env("staging").live_commit, "cccccccc3");
  EXPECT_EQ(Env("staging").warm_instances, first.instances);
}

TEST_F(DeployerTest, ANewDeployRefusesWhenTheProxyNeverDecidesAndChangesNothing) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  DeploymentRecord d = LeftBehind("bbbbbbbb2");
  proxy_.deploying = {"site.staging"};
  size_t launched = launcher_.launched.size();
  auto out = deployer_->Deploy("staging", MakeRelease("cccccccc3"));  // the fake clock moves on
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("an earlier deployment is not settled yet"), std::string::npos)
      << out.error();
  EXPECT_EQ(launcher_.launched.size(), launched);
  EXPECT_EQ(Running(), 4u);
  EXPECT_EQ(Env("staging").live_instances, first.instances);
  EXPECT_EQ(deployer_->records().Deployment(d.id).value()->status, DeploymentStatus::kRunning);
}

TEST_F(DeployerTest, ReconcileStopsInstancesNoDeploymentOwns) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  runtime::InstanceSpec spec;
  spec.app = "site";
  spec.environment = "staging";
  spec.release = "bbbbbbbb2";
  spec.command = "serve";
  auto stray = supervisor_->Start(spec).value();
  ASSERT_TRUE(deployer_->Reconcile().ok());
  EXPECT_FALSE(supervisor_->Get(stray.id));
  EXPECT_EQ(Running(), 2u);
}

TEST_F(DeployerTest, ProxyLostMidDeployFailsAndIsSettledLater) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  proxy_.down = true;
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("cannot reach the proxy"), std::string::npos) << out.error();
  deployer_->Tick();  // proxy still down: nothing decided, nothing stopped
  EXPECT_EQ(Running(), 4u);
  proxy_.down = false;
  deployer_->Tick();
  EXPECT_EQ(Running(), 2u);
  EXPECT_EQ(Env("staging").live_instances, first.instances);
  auto history = deployer_->records().Deployments("site").value();
  EXPECT_EQ(history[0].status, DeploymentStatus::kFailed);
}

TEST_F(DeployerTest, RestoreLiveRelaunchesAfterInstancesWereStopped) {
  deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  supervisor_->StopAll("site", "");  // gravity down
  ASSERT_TRUE(deployer_->RestoreLive().ok());
  auto env = Env("staging");
  EXPECT_EQ(env.live_commit, "aaaaaaaa1");
  EXPECT_EQ(env.live_instances.size(), 2u);
  EXPECT_TRUE(env.warm_instances.empty());  // the stopped ones are not "warm"
  EXPECT_EQ(Served("staging"), Addresses(env.live_instances));
}

TEST_F(DeployerTest, StatusAndReleasesJson) {
  deployer_->Deploy("staging", MakeRelease("aaaaaaaa1")).value();
  deployer_->Deploy("staging", MakeRelease("bbbbbbbb2")).value();
  auto status = deployer_->StatusJson();
  auto staging = status["apps"][0]["environments"][0];
  EXPECT_EQ(staging["name"], "staging");
  EXPECT_EQ(staging["live_release"], "bbbbbbbb2");
  EXPECT_EQ(staging["instances"].size(), 2u);
  EXPECT_EQ(staging["instances"][0]["health"], "healthy");
  EXPECT_EQ(staging["warm"]["commit"], "aaaaaaaa1");
  EXPECT_EQ(status["apps"][0]["environments"][1]["live_release"], nullptr);
  auto releases = deployer_->ReleasesJson("site").value();
  EXPECT_EQ(releases["releases"][0]["commit"], "bbbbbbbb2");
  EXPECT_EQ(releases["releases"][0]["live_on"][0], "staging");
  EXPECT_EQ(releases["releases"][1]["warm_on"][0], "staging");
  EXPECT_EQ(releases["deployments"].size(), 2u);
  EXPECT_FALSE(deployer_->ReleasesJson("nope").ok());
}

}  // namespace
}  // namespace gravity::deploy
