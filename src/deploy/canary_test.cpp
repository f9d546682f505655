#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/latency_bins.h"
#include "deploy/canary_judge.h"
#include "deploy/deployer.h"
#include "deploy/fake_proxy.h"
#include "runtime/fake_launcher.h"

namespace gravity::deploy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------- the verdict rule

config::CanarySpec Spec(double max_rate = 0.01, int min_requests = 20) {
  config::CanarySpec s;
  s.weight = 10;
  s.duration = seconds(60);
  s.max_error_rate = max_rate;
  s.min_requests = min_requests;
  return s;
}

CanaryCounts Counts(std::uint64_t n, std::uint64_t e, std::uint64_t main_n = 0,
                    std::uint64_t main_e = 0) {
  return CanaryCounts{n, e, main_n, main_e};
}

TEST(CanaryJudge, FailsWhenTheRateOverEnoughRequestsExceedsTheLimit) {
  auto v = JudgeCanary(Spec(), Counts(40, 5, 360, 0), false);
  EXPECT_EQ(v.kind, CanaryVerdict::kFail);
  EXPECT_EQ(v.reason,
            "canary 5xx rate 12.5% over 40 requests exceeded 1% (main pool: 0% over 360 "
            "requests)");
}

TEST(CanaryJudge, AtTheLimitIsNotOverIt) {
  EXPECT_EQ(JudgeCanary(Spec(0.05), Counts(100, 5), false).kind, CanaryVerdict::kContinue);
  EXPECT_EQ(JudgeCanary(Spec(0.05), Counts(100, 5), true).kind, CanaryVerdict::kPass);
  EXPECT_EQ(JudgeCanary(Spec(0.05), Counts(100, 6), false).kind, CanaryVerdict::kFail);
}

TEST(CanaryJudge, FewRequestsAreCountedOverTheMinimum) {
  // 1 error in 3 requests is 33%, but over the minimum of 20 it is 5%: within a 10% limit.
  EXPECT_EQ(JudgeCanary(Spec(0.10), Counts(3, 1), false).kind, CanaryVerdict::kContinue);
  auto pass = JudgeCanary(Spec(0.10), Counts(3, 1), true);
  EXPECT_EQ(pass.kind, CanaryVerdict::kPass);
  EXPECT_NE(pass.reason.find("fewer than the 20 requests needed"), std::string::npos)
      << pass.reason;
  // 3 errors are 15% of 20 even if every missing request succeeded: failed at once.
  auto fail = JudgeCanary(Spec(0.10), Counts(5, 3), false);
  EXPECT_EQ(fail.kind, CanaryVerdict::kFail);
  EXPECT_NE(fail.reason.find("canary 5xx rate 15% (3 5xx in 5 requests, counted over the "
                             "minimum of 20) exceeded 10%"),
            std::string::npos)
      << fail.reason;
  // With a 1% limit a single 5xx before the minimum is enough.
  EXPECT_EQ(JudgeCanary(Spec(0.01), Counts(1, 1), false).kind, CanaryVerdict::kFail);
}

TEST(CanaryJudge, NoTrafficPassesAtTheEndOnHealthChecksAlone) {
  EXPECT_EQ(JudgeCanary(Spec(), Counts(0, 0), false).kind, CanaryVerdict::kContinue);
  auto v = JudgeCanary(Spec(), Counts(0, 0), true);
  EXPECT_EQ(v.kind, CanaryVerdict::kPass);
  EXPECT_NE(v.reason.find("no traffic"), std::string::npos) << v.reason;
}

TEST(CanaryJudge, FormatsPercentages) {
  EXPECT_EQ(FormatPercent(0.125), "12.5%");
  EXPECT_EQ(FormatPercent(0.01), "1%");
  EXPECT_EQ(FormatPercent(0.0025), "0.25%");
  EXPECT_EQ(FormatPercent(0), "0%");
}

// ---------------------------------------------------------------- the deployer

class CanaryDeployerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-canary-test").value();
    db_ = std::move(store::Db::Open(dir_ + "/gravity.db").value());
    runtime::SupervisorOptions so;
    so.state_dir = dir_ + "/state";
    so.port_first = 61000;
    so.port_last = 64999;
    supervisor_ = std::make_unique<runtime::Supervisor>(so, launcher_, clock_);
    ASSERT_TRUE(supervisor_->Recover().ok());
    DeployerOptions options;
    options.canary_poll_interval = milliseconds(500);
    // The fake launcher's instances never listen: hand them to the (fake) proxy at once.
    options.listen_poll = milliseconds(0);
    options.sleep = [this](milliseconds d) {
      clock_.Advance(d);
      slept_ += d;
      if (on_sleep_) on_sleep_();
    };
    deployer_ = std::make_unique<Deployer>(*db_, *supervisor_, proxy_, clock_, options);
    ASSERT_TRUE(deployer_->Init().ok());
    config::StackApp app;
    app.name = "site";
    config::EnvironmentSpec env;
    env.name = "staging";
    env.branch = "staging";
    env.instances = 2;
    env.strategy = config::Strategy::kCanary;
    env.canary.weight = 25;
    env.canary.duration = seconds(30);
    env.canary.max_error_rate = 0.01;
    env.canary.min_requests = 20;
    env.drain_timeout = seconds(5);
    app.environments = {env};
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
    EXPECT_TRUE(WriteFileAtomic(r.release_dir + "/gravity.yml", "run:\n  command: serve\n").ok());
    r.spec.run.command = "serve " + commit;
    return r;
  }
  EnvironmentRecord Env() { return deployer_->records().Environment("site", "staging").value(); }
  std::vector<std::string> Addresses(const std::vector<std::string>& ids) {
    std::vector<std::string> out;
    for (const auto& id : ids) out.push_back(supervisor_->Get(id).value().address());
    return out;
  }
  DeploymentRecord Last() { return deployer_->records().Deployments("site", 1).value().at(0); }
  nlohmann::json CanaryOf(const DeploymentRecord& d) {
    EXPECT_TRUE(d.canary.has_value());
    return d.canary ? CanaryJson(*d.canary) : nlohmann::json();
  }

  std::string dir_;
  std::unique_ptr<store::Db> db_;
  runtime::FakeLauncher launcher_;
  FakeClock clock_;
  std::unique_ptr<runtime::Supervisor> supervisor_;
  FakeProxy proxy_;
  std::unique_ptr<Deployer> deployer_;
  config::StackSpec stack_;
  milliseconds slept_{0};
  std::function<void()> on_sleep_;
};

TEST_F(CanaryDeployerTest, FirstDeployHasNothingToCompareAgainstAndIsRedBlack) {
  auto out = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(proxy_.canary_deploys, 0);
  EXPECT_EQ(proxy_.served["site.staging"], Addresses(out->instances));
  EXPECT_FALSE(Last().canary.has_value());
}

TEST_F(CanaryDeployerTest, HealthyCanaryIsObservedForItsDurationThenPromoted) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  // Each check: 10 more canary requests, none 5xx; 90 more on main.
  proxy_.on_poll = [&] {
    proxy_.canary_requests.total += 10;
    proxy_.main_requests.total += 90;
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(proxy_.canary_weight, 25);
  EXPECT_EQ(proxy_.promotes, 1);
  EXPECT_EQ(proxy_.drops, 0);
  EXPECT_GE(slept_, seconds(30));  // the whole window, on the fake clock
  EXPECT_LT(slept_, seconds(32));
  auto env = Env();
  EXPECT_EQ(env.live_commit, "bbbbbbb2");
  EXPECT_EQ(env.warm_commit, "aaaaaaa1");  // kept warm exactly as red/black does
  EXPECT_EQ(env.warm_instances, first->instances);
  EXPECT_EQ(proxy_.served["site.staging"], Addresses(out->instances));
  auto d = Last();
  EXPECT_EQ(d.status, DeploymentStatus::kSucceeded);
  auto c = CanaryOf(d);
  EXPECT_EQ(c["phase"], "promoted");
  EXPECT_EQ(c["weight"], 25);
  EXPECT_GE(c["requests"].get<int>(), 600);  // only this window's requests
  EXPECT_EQ(c["errors_5xx"], 0);
  EXPECT_NE(c["verdict"].get<std::string>().find("0 5xx in"), std::string::npos) << c.dump();
  // Rollback works the same as after red/black: back to the warm instances.
  auto back = deployer_->Rollback("site", "staging", "");
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_TRUE(back->reused_warm);
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");
}

TEST_F(CanaryDeployerTest, CanaryOverTheErrorRateIsDroppedAndMainNeverChanges) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  auto live = proxy_.served["site.staging"];
  int polls = 0;
  std::vector<std::vector<std::string>> main_seen;
  proxy_.on_poll = [&] {
    main_seen.push_back(proxy_.served["site.staging"]);
    if (++polls == 3) {  // 40 requests, 5 of them 5xx, at the third check
      proxy_.canary_requests.total += 40;
      proxy_.canary_requests.errors_5xx += 5;
      proxy_.main_requests.total += 360;
    }
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("site/staging: deploy of bbbbbbb failed, live release aaaaaaa "
                             "untouched: canary 5xx rate 12.5% over 40 requests exceeded 1% "
                             "(main pool: 0% over 360 requests)"),
            std::string::npos)
      << out.error();
  EXPECT_EQ(proxy_.drops, 1);
  EXPECT_EQ(proxy_.promotes, 0);
  EXPECT_TRUE(proxy_.canary.empty());
  for (const auto& m : main_seen) EXPECT_EQ(m, live);
  EXPECT_EQ(proxy_.served["site.staging"], live);
  EXPECT_LT(slept_, seconds(5));  // judged as soon as the errors showed, not at the end
  auto env = Env();
  EXPECT_EQ(env.live_commit, "aaaaaaa1");
  EXPECT_EQ(env.live_instances, first->instances);
  EXPECT_EQ(supervisor_->List().size(), 2u);  // the canary's instances were stopped
  auto d = Last();
  EXPECT_EQ(d.status, DeploymentStatus::kFailed);
  EXPECT_EQ(CanaryOf(d)["phase"], "dropped");
  EXPECT_EQ(CanaryOf(d)["requests"], 40);
  EXPECT_EQ(CanaryOf(d)["errors_5xx"], 5);
}

TEST_F(CanaryDeployerTest, CrashedCanaryInstanceIsDropped) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  int sleeps = 0;
  on_sleep_ = [&] {
    if (++sleeps != 4) return;
    // Kill one of the canary's instances (the newest two) and let the supervisor notice.
    auto all = supervisor_->List();
    for (const auto& i : all) {
      if (i.spec.release == "bbbbbbb2") {
        launcher_.Kill(i.process.pid, "exited with status 3");
        break;
      }
    }
    supervisor_->Tick();
  };
  proxy_.on_poll = [&] { proxy_.canary_requests.total += 10; };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find(") crashed: process exited with status 3"), std::string::npos)
      << out.error();
  EXPECT_NE(out.error().find("last log lines:"), std::string::npos) << out.error();
  EXPECT_EQ(proxy_.drops, 1);
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");
  EXPECT_EQ(proxy_.served["site.staging"], Addresses(first->instances));
}

TEST_F(CanaryDeployerTest, FiveHundredsFromADyingInstanceAreReportedAsItsCrash) {
  // The proxy counts the 5xx of a dying canary instance before the supervisor can reap
  // it: the deployer waits a moment for the exit, the precise reason, before blaming the
  // error rate.
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  bool errors_shown = false;
  int sleeps_after = 0;
  proxy_.on_poll = [&] {
    if (errors_shown) return;
    errors_shown = true;
    proxy_.canary_requests.total += 40;
    proxy_.canary_requests.errors_5xx += 5;
  };
  on_sleep_ = [&] {
    if (!errors_shown || ++sleeps_after != 2) return;
    for (const auto& i : supervisor_->List()) {
      if (i.spec.release == "bbbbbbb2") {
        launcher_.Kill(i.process.pid, "exited with status 70");
        break;
      }
    }
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find(") crashed: process exited with status 70"), std::string::npos)
      << out.error();
  EXPECT_EQ(out.error().find("5xx rate"), std::string::npos) << out.error();
  EXPECT_EQ(proxy_.drops, 1);
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");
}

TEST_F(CanaryDeployerTest, UnhealthyCanaryNeverGetsTraffic) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  proxy_.gate_fails = true;
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("status 500 (expected 200)"), std::string::npos) << out.error();
  EXPECT_TRUE(proxy_.canary.empty());
  EXPECT_EQ(slept_, milliseconds(0));
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");
  EXPECT_EQ(supervisor_->List().size(), 2u);
}

TEST_F(CanaryDeployerTest, RestartedDaemonDropsACanaryLeftMidObservation) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  // What a daemon killed while observing leaves behind: a running deployment at step
  // "canary", its instances running, the proxy's canary pool pointing at them.
  runtime::InstanceSpec spec;
  spec.app = "site";
  spec.environment = "staging";
  spec.release = "bbbbbbb2";
  spec.release_dir = MakeRelease("bbbbbbb2").release_dir;
  spec.command = "serve";
  DeploymentRecord d;
  d.app = "site";
  d.environment = "staging";
  d.commit = "bbbbbbb2";
  d.kind = DeploymentKind::kDeploy;
  d.status = DeploymentStatus::kRunning;
  d.step = DeploymentStep::kCanary;
  d.canary = CanaryRecord{.phase = CanaryPhase::kObserving, .weight = 25, .requests = 7};
  d.previous_commit = "aaaaaaa1";
  for (int k = 0; k < 2; ++k) d.instances.push_back(supervisor_->Start(spec).value().id);
  d.id = deployer_->records().InsertDeployment(d).value();
  ASSERT_TRUE(deployer_->records().UpdateDeployment(d).ok());
  proxy_.canary["site.staging"] = Addresses(d.instances);

  Deployer restarted(*db_, *supervisor_, proxy_, clock_);
  ASSERT_TRUE(restarted.Init().ok());
  restarted.SetStack(stack_);
  ASSERT_TRUE(restarted.Reconcile().ok());
  EXPECT_TRUE(proxy_.canary.empty());
  EXPECT_EQ(proxy_.served["site.staging"], Addresses(first->instances));
  EXPECT_EQ(supervisor_->List().size(), 2u);  // the canary's instances were stopped
  auto env = Env();
  EXPECT_EQ(env.live_commit, "aaaaaaa1");
  auto after = deployer_->records().Deployment(d.id).value().value();
  EXPECT_EQ(after.status, DeploymentStatus::kInterrupted);
  EXPECT_NE(after.error.find("interrupted at step 'canary'"), std::string::npos) << after.error;
  EXPECT_EQ(CanaryOf(after)["phase"], "dropped");
}

TEST_F(CanaryDeployerTest, DaemonStoppingMidStepLeavesTheCanaryForItsRestartToSettle) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  // A step far longer than a stop may wait.
  stack_.apps[0].environments[0].canary.duration = std::chrono::hours(1);
  deployer_->SetStack(stack_);
  slept_ = milliseconds(0);
  int polls = 0;
  on_sleep_ = [&] {
    if (++polls == 3) deployer_->RequestStop();
  };
  auto second = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kInterrupted) << second.error();
  EXPECT_NE(second.error().find("the daemon is stopping during the canary's step 1 of 1"),
            std::string::npos)
      << second.error();
  EXPECT_LT(slept_, seconds(5));  // ended at its next poll, not after the hour
  // Left as a kill leaves it: running, its canary in the proxy, live untouched.
  DeploymentRecord d = Last();
  EXPECT_EQ(d.status, DeploymentStatus::kRunning);
  EXPECT_FALSE(proxy_.canary["site.staging"].empty());
  EXPECT_EQ(proxy_.served["site.staging"], Addresses(first->instances));
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");

  Deployer restarted(*db_, *supervisor_, proxy_, clock_);
  ASSERT_TRUE(restarted.Init().ok());
  restarted.SetStack(stack_);
  ASSERT_TRUE(restarted.Reconcile().ok());
  EXPECT_TRUE(proxy_.canary.empty());
  EXPECT_EQ(proxy_.served["site.staging"], Addresses(first->instances));
  auto after = deployer_->records().Deployment(d.id).value().value();
  EXPECT_EQ(after.status, DeploymentStatus::kInterrupted);
  EXPECT_EQ(CanaryOf(after)["phase"], "dropped");
}

TEST_F(CanaryDeployerTest, RestartedDaemonCompletesACanaryTheProxyHadPromoted) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  runtime::InstanceSpec spec;
  spec.app = "site";
  spec.environment = "staging";
  spec.release = "bbbbbbb2";
  spec.release_dir = MakeRelease("bbbbbbb2").release_dir;
  spec.command = "serve";
  DeploymentRecord d;
  d.app = "site";
  d.environment = "staging";
  d.commit = "bbbbbbb2";
  d.kind = DeploymentKind::kDeploy;
  d.status = DeploymentStatus::kRunning;
  d.step = DeploymentStep::kPromoting;
  for (int k = 0; k < 2; ++k) d.instances.push_back(supervisor_->Start(spec).value().id);
  d.id = deployer_->records().InsertDeployment(d).value();
  ASSERT_TRUE(deployer_->records().UpdateDeployment(d).ok());
  proxy_.served["site.staging"] = Addresses(d.instances);  // the promote went through

  Deployer restarted(*db_, *supervisor_, proxy_, clock_);
  ASSERT_TRUE(restarted.Init().ok());
  restarted.SetStack(stack_);
  ASSERT_TRUE(restarted.Reconcile().ok());
  EXPECT_EQ(Env().live_commit, "bbbbbbb2");
  EXPECT_EQ(deployer_->records().Deployment(d.id).value().value().status, DeploymentStatus::kSucceeded);
}

TEST_F(CanaryDeployerTest, StatusShowsACanaryInProgress) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok()) << first.error();
  nlohmann::json seen;
  int sleeps = 0;
  proxy_.on_poll = [&] { proxy_.canary_requests.total += 4; };
  on_sleep_ = [&] {
    if (++sleeps == 3) seen = deployer_->StatusJson();
  };
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("bbbbbbb2")).ok());
  const auto& e = seen["apps"][0]["environments"][0];
  ASSERT_TRUE(e.contains("canary")) << seen.dump(2);
  EXPECT_EQ(e["canary"]["phase"], "observing");
  EXPECT_EQ(e["canary"]["weight"], 25);
  EXPECT_EQ(e["canary"]["requests"], 12);
  EXPECT_EQ(e["last_deployment"]["status"], "running");
  // Once settled, status no longer shows a canary in progress.
  EXPECT_FALSE(deployer_->StatusJson()["apps"][0]["environments"][0].contains("canary"));
}


// ---------------------------------------------------------------- steps and the judge

// Adds `n` requests of about `ms` to a pool reading (latency bins included).
void AddRequests(PoolRequests& p, std::uint64_t n, double ms, std::uint64_t errors = 0) {
  p.total += n;
  p.errors_5xx += errors;
  if (p.latency.size() < latency::kBins) p.latency.resize(latency::kBins, 0);
  for (std::uint64_t k = 0; k < n; ++k) {
    // Spread over +-10% so that the samples are not all one bin.
    double f = 0.9 + 0.2 * static_cast<double>(k % 10) / 10.0;
    ++p.latency[latency::BinOf(static_cast<std::uint64_t>(ms * 1000 * f))];
  }
}

class CanaryStepsTest : public CanaryDeployerTest {
 protected:
  void UseSteps(std::vector<config::CanaryStep> steps) {
    auto& env = stack_.apps[0].environments[0];
    env.canary.steps = std::move(steps);
    deployer_->SetStack(stack_);
  }
  void SetCanary(const std::function<void(config::CanarySpec&)>& f) {
    f(stack_.apps[0].environments[0].canary);
    deployer_->SetStack(stack_);
  }
};

TEST_F(CanaryStepsTest, SameBehaviourGoesThroughEveryStepAndIsPromoted) {
  UseSteps({{5, seconds(10)}, {25, seconds(10)}, {50, seconds(10)}});
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  proxy_.on_poll = [&] {
    AddRequests(proxy_.canary_requests, 10, 2.0);
    AddRequests(proxy_.main_requests, 90, 2.0);
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(proxy_.weights, (std::vector<int>{25, 50}));  // the first share came with the gate
  EXPECT_EQ(proxy_.promotes, 1);
  EXPECT_GE(slept_, seconds(30));
  auto c = CanaryOf(Last());
  ASSERT_EQ(c["steps"].size(), 3u) << c.dump();
  for (const auto& st : c["steps"]) {
    EXPECT_EQ(st["decision"], "pass") << st.dump();
    EXPECT_EQ(st["analysis"]["score"], 100);
    EXPECT_EQ(st["analysis"]["metrics"][1]["name"], "latency");
    EXPECT_GT(st["analysis"]["metrics"][1]["canary_samples"].get<int>(), 20);
  }
  EXPECT_EQ(c["steps"][1]["weight"], 25);
  EXPECT_NE(c["verdict"].get<std::string>().find("step 3 of 3 (50% for 10s): pass"),
            std::string::npos)
      << c.dump();
  EXPECT_EQ(Env().live_commit, "bbbbbbb2");
}

TEST_F(CanaryStepsTest, SlowerCanaryIsDroppedAtTheFirstStepWithEnoughData) {
  UseSteps({{5, seconds(10)}, {50, seconds(10)}});
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  auto live = proxy_.served["site.staging"];
  proxy_.on_poll = [&] {
    AddRequests(proxy_.canary_requests, 10, 52.0);  // 50 ms slower, no errors
    AddRequests(proxy_.main_requests, 90, 2.0);
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("step 1 of 2 (5% for 10s): latency high: canary median"),
            std::string::npos)
      << out.error();
  EXPECT_TRUE(proxy_.weights.empty());  // never went to step 2
  EXPECT_EQ(proxy_.drops, 1);
  EXPECT_EQ(proxy_.served["site.staging"], live);
  auto c = CanaryOf(Last());
  ASSERT_EQ(c["steps"].size(), 1u);
  EXPECT_EQ(c["steps"][0]["decision"], "fail");
  EXPECT_EQ(c["steps"][0]["analysis"]["metrics"][1]["verdict"], "high");
  EXPECT_LT(c["steps"][0]["analysis"]["metrics"][1]["p_value"].get<double>(), 1e-6);
}

TEST_F(CanaryStepsTest, NoTrafficFailDropsAnInconclusiveStep) {
  SetCanary([](config::CanarySpec& c) { c.no_traffic = config::NoTraffic::kFail; });
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  proxy_.on_poll = [&] { AddRequests(proxy_.main_requests, 50, 2.0); };  // none for the canary
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("inconclusive: 5xx rate: 0 canary requests, fewer than the 20 "
                             "needed"),
            std::string::npos)
      << out.error();
  EXPECT_NE(out.error().find("(no_traffic: fail)"), std::string::npos);
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");
  EXPECT_EQ(CanaryOf(Last())["steps"][0]["decision"], "inconclusive");
}

TEST_F(CanaryStepsTest, NoTrafficPassPromotesAndSaysSo) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_NE(CanaryOf(Last())["verdict"].get<std::string>().find("(no_traffic: pass)"),
            std::string::npos);
}

TEST_F(CanaryStepsTest, NoTrafficExtendWaitsForTrafficThenJudges) {
  SetCanary([](config::CanarySpec& c) { c.no_traffic = config::NoTraffic::kExtend; });
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  // Traffic arrives only after the first window (30 s) is over.
  proxy_.on_poll = [&] {
    if (slept_ < seconds(31)) return;
    AddRequests(proxy_.canary_requests, 10, 2.0);
    AddRequests(proxy_.main_requests, 90, 2.0);
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_TRUE(out.ok()) << out.error();
  auto c = CanaryOf(Last());
  EXPECT_EQ(c["steps"][0]["extensions"], 1);
  EXPECT_EQ(c["steps"][0]["decision"], "pass");
  EXPECT_GE(slept_, seconds(60));
}

TEST_F(CanaryStepsTest, NoTrafficExtendGivesUpAfterThreeExtensions) {
  SetCanary([](config::CanarySpec& c) { c.no_traffic = config::NoTraffic::kExtend; });
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("still so after 3 extensions (no_traffic: extend)"),
            std::string::npos)
      << out.error();
  EXPECT_GE(slept_, seconds(120));
  EXPECT_EQ(CanaryOf(Last())["steps"][0]["extensions"], 3);
}

TEST_F(CanaryStepsTest, RefusedShareDropsTheCanary) {
  UseSteps({{5, seconds(5)}, {50, seconds(5)}});
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  proxy_.on_poll = [&] {
    AddRequests(proxy_.canary_requests, 10, 2.0);
    AddRequests(proxy_.main_requests, 90, 2.0);
    if (slept_ >= seconds(5)) proxy_.canary.clear();  // the pool vanished: weight refused
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");
}


// ---------------------------------------------------------------- the watch after going live

class WatchTest : public CanaryDeployerTest {
 protected:
  void SetUp() override {
    CanaryDeployerTest::SetUp();
    auto& env = stack_.apps[0].environments[0];
    env.strategy = config::Strategy::kRedBlack;
    env.watch = seconds(20);
    deployer_->SetStack(stack_);
  }
  // Each poll: 100 requests of `ms` on the main pool; once `broken()`, with `errors` 5xx.
  void Traffic(std::function<bool()> broken, double ok_ms, double broken_ms,
               std::uint64_t errors) {
    proxy_.on_poll = [=, this] {
      bool b = broken();
      AddRequests(proxy_.main_requests, 100, b ? broken_ms : ok_ms, b ? errors : 0);
    };
  }
  bool ServesFirst() { return proxy_.served["site.staging"] == first_live_; }
  std::vector<std::string> first_live_;
};

TEST_F(WatchTest, SameBehaviourPassesTheWatch) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  Traffic([] { return false; }, 2.0, 2.0, 0);
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_GE(slept_, seconds(20));
  auto d = Last();
  ASSERT_TRUE(d.watch.has_value());
  EXPECT_EQ(d.watch->phase, "passed");
  EXPECT_EQ(d.status, DeploymentStatus::kSucceeded);
  EXPECT_EQ(Env().live_commit, "bbbbbbb2");
  EXPECT_EQ(Env().warm_commit, "aaaaaaa1");
}

TEST_F(WatchTest, ReleaseThatStartsFailingIsRolledBackToTheWarmInstances) {
  auto first = deployer_->Deploy("staging", MakeRelease("aaaaaaa1"));
  ASSERT_TRUE(first.ok());
  first_live_ = proxy_.served["site.staging"];
  milliseconds switched_at{-1};
  // Fine for the first 8 s after the switch, then 10% 5xx.
  Traffic(
      [&] {
        if (ServesFirst()) return false;
        if (switched_at.count() < 0) switched_at = slept_;
        return slept_ - switched_at >= seconds(8);
      },
      2.0, 2.0, 10);
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("auto-rollback of bbbbbbb after "), std::string::npos) << out.error();
  EXPECT_NE(out.error().find("5xx rate high: bbbbbbb "), std::string::npos)
      << out.error();
  EXPECT_NE(out.error().find("previous release 0% over"), std::string::npos) << out.error();
  EXPECT_NE(out.error().find("(live again: aaaaaaa"), std::string::npos) << out.error();
  // Caught within a poll of the errors, long before the watch's end.
  EXPECT_LT(slept_ - switched_at, seconds(10));
  EXPECT_EQ(proxy_.served["site.staging"], first_live_);  // the warm instances again
  auto env = Env();
  EXPECT_EQ(env.live_commit, "aaaaaaa1");
  EXPECT_EQ(env.live_instances, first->instances);
  auto deployments = deployer_->records().Deployments("site", 2).value();
  ASSERT_EQ(deployments.size(), 2u);
  EXPECT_EQ(deployments[0].kind, DeploymentKind::kRollback);
  ASSERT_TRUE(deployments[1].watch.has_value());
  EXPECT_EQ(deployments[1].watch->phase, "rolled_back");
  EXPECT_NE(deployments[1].error.find("auto-rollback of bbbbbbb"), std::string::npos);
}

TEST_F(WatchTest, SlowerReleaseIsRolledBackAtTheEndOfAWindow) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  first_live_ = proxy_.served["site.staging"];
  Traffic([&] { return !ServesFirst(); }, 2.0, 30.0, 0);
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("latency high: bbbbbbb median"), std::string::npos) << out.error();
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");
}

TEST_F(WatchTest, RollbacksAndFirstDeploysAreNotWatched) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  EXPECT_FALSE(Last().watch.has_value());  // nothing to compare against
  Traffic([] { return false; }, 2.0, 2.0, 0);
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("bbbbbbb2")).ok());
  auto before = slept_;
  ASSERT_TRUE(deployer_->Rollback("site", "staging", "").ok());
  EXPECT_FALSE(Last().watch.has_value());
  EXPECT_LT(slept_ - before, seconds(5));
}


TEST_F(WatchTest, ARestartDuringTheWatchEndsItAndKeepsTheRelease) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  Traffic([] { return false; }, 2.0, 2.0, 0);
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("bbbbbbb2")).ok());
  // What a daemon killed mid-watch leaves: the live deployment's watch still "watching".
  DeploymentRecord d = Last();
  d.watch->phase = "watching";
  d.watch->verdict = "";
  ASSERT_TRUE(deployer_->records().UpdateDeployment(d).ok());
  Deployer restarted(*db_, *supervisor_, proxy_, clock_);
  ASSERT_TRUE(restarted.Init().ok());
  restarted.SetStack(stack_);
  ASSERT_TRUE(restarted.Reconcile().ok());
  auto settled = deployer_->records().Deployment(d.id).value().value();
  EXPECT_EQ(settled.watch->phase, "ended");
  EXPECT_NE(settled.watch->verdict.find("restarted during the watch"), std::string::npos);
  EXPECT_EQ(Env().live_commit, "bbbbbbb2");
}


TEST_F(WatchTest, ARollbackAskedForDuringTheWatchEndsItAtTheNextPoll) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  first_live_ = proxy_.served["site.staging"];
  Traffic([] { return false; }, 2.0, 2.0, 0);
  milliseconds asked{-1};
  on_sleep_ = [&] {
    // 3 s into the watch, what Rollback does before it waits for the environment's lock.
    if (asked.count() < 0 && !ServesFirst() && slept_ >= seconds(3)) {
      asked = slept_;
      deployer_->InterruptWatch("site", "staging");
    }
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_TRUE(out.ok()) << out.error();
  ASSERT_GE(asked.count(), 0);
  EXPECT_LE(slept_ - asked, milliseconds(500));  // one poll, not the rest of the 20 s
  auto d = Last();
  EXPECT_EQ(d.watch->phase, "ended");
  EXPECT_NE(d.watch->verdict.find("ended early"), std::string::npos);
  on_sleep_ = nullptr;
  ASSERT_TRUE(deployer_->Rollback("site", "staging", "").ok());
  EXPECT_EQ(Env().live_commit, "aaaaaaa1");
  // No watch runs now: asking again changes nothing for the next one.
  deployer_->InterruptWatch("site", "staging");
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("ccccccc3")).ok());
  EXPECT_EQ(Last().watch->phase, "passed");
}

TEST_F(WatchTest, DaemonStoppingDuringTheWatchEndsItAtTheNextPollWithTheReleaseLive) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("aaaaaaa1")).ok());
  first_live_ = proxy_.served["site.staging"];
  Traffic([] { return false; }, 2.0, 2.0, 0);
  milliseconds asked{-1};
  on_sleep_ = [&] {
    if (asked.count() < 0 && !ServesFirst() && slept_ >= seconds(3)) {
      asked = slept_;
      deployer_->RequestStop();
    }
  };
  auto out = deployer_->Deploy("staging", MakeRelease("bbbbbbb2"));
  ASSERT_TRUE(out.ok()) << out.error();
  ASSERT_GE(asked.count(), 0);
  EXPECT_LE(slept_ - asked, milliseconds(500));  // one poll, not the rest of the 20 s
  auto d = Last();
  EXPECT_EQ(d.status, DeploymentStatus::kSucceeded);
  EXPECT_EQ(d.watch->phase, "ended");
  EXPECT_EQ(d.watch->verdict, "ended early: the daemon stopped during the watch");
  EXPECT_EQ(Env().live_commit, "bbbbbbb2");
  EXPECT_EQ(Env().warm_commit, "aaaaaaa1");  // the warm set is still there for a rollback
}

}  // namespace
}  // namespace gravity::deploy
