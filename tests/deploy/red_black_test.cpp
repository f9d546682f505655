// Red/black deploys, failing deploys, rollback and promotion through the real proxy with
// real instances, under steady load: not one request may fail.
#include <signal.h>

#include "deploy/deploy_fixture.h"

namespace gravity::deploy {
namespace {

class RedBlackTest : public DeployFixture {};

TEST_F(RedBlackTest, TenDeploysAndThreeFailingOnesWithZeroFailedRequests) {
  auto first = deployer_->Deploy("staging", MakeRelease("r0"));
  ASSERT_TRUE(first.ok()) << first.error();
  ASSERT_NE(Served().find("release r0:"), std::string::npos);
  test::LoadGenerator load({.port = proxy_port_, .connections = 8, .max_run = 10min});
  load.Start();
  int good = 0;
  for (int k = 1; k <= 13; ++k) {
    if (k % 4 == 0) {
      // A failing release: each kind once.
      std::string live = Env("staging").live_commit;
      Release bad;
      std::string expect;
      if (k == 4) {
        bad = MakeRelease("exits", "--exit-at-start", "", 3s);
        expect = "process exited";
      } else if (k == 8) {
        bad = MakeRelease("lacks", "", "release lacks: a page without the text", 3s);
        expect = "Automation for the people";
      } else {
        bad = MakeRelease("deaf", "--never-listen", "", 3s);
        expect = "refused";
      }
      auto out = deployer_->Deploy("staging", bad);
      ASSERT_FALSE(out.ok()) << "release " << bad.commit << " went live";
      EXPECT_NE(out.error().find("failed, live release " + live.substr(0, 7) + " untouched"),
                std::string::npos)
          << out.error();
      EXPECT_NE(out.error().find(expect), std::string::npos) << out.error();
      EXPECT_NE(out.error().find("last log lines:"), std::string::npos) << out.error();
      EXPECT_EQ(Env("staging").live_commit, live);
      EXPECT_NE(Served().find("release r" + std::to_string(good) + ":"), std::string::npos);
      continue;
    }
    ++good;
    std::string name = "r" + std::to_string(good);
    auto out = deployer_->Deploy("staging", MakeRelease(name));
    ASSERT_TRUE(out.ok()) << out.error();
    EXPECT_NE(Served().find("release " + name + ":"), std::string::npos) << Served();
  }
  load.Stop();
  auto stats = load.Stats();
  EXPECT_EQ(good, 10);
  EXPECT_GT(stats.total, 100) << stats.Summary();
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
  // Live (2) and warm (2) instances run; the failing ones were stopped, older ones once
  // their drain (5s) was over.
  EXPECT_TRUE(test::WaitFor(
      [&] {
        deployer_->Tick();
        return supervisor_->List().size() == 4u;
      },
      30s));
  EXPECT_EQ(supervisor_->List().size(), 4u);
  auto env = Env("staging");
  EXPECT_EQ(env.live_commit.substr(0, 3), "r10");
  EXPECT_EQ(env.warm_commit.substr(0, 2), "r9");
  // Retention kept 5 releases on disk (live and warm among them).
  int on_disk = 0;
  auto releases = deployer_->records().Releases("site");
  ASSERT_TRUE(releases.ok());
  for (const auto& r : *releases) on_disk += !r.removed;
  EXPECT_EQ(on_disk, 5);
}

TEST_F(RedBlackTest, AReleaseThatExitsWhileAnotherProgramAnswersOnItsPortNeverStaysLive) {
  // A detached server outliving its instance needs `sandbox: off`: in the sandbox the
  // instance's PID namespace ends with it, taking such a server along.
  stack_.apps[0].environments[0].sandbox = SandboxMode::kOff;
  deployer_->SetStack(stack_);
  auto first = deployer_->Deploy("staging", MakeRelease("r0"));
  ASSERT_TRUE(first.ok()) << first.error();
  // Its instances start a detached server on $PORT (outside their process group) and then
  // exit: the port answers the health checks perfectly, but no instance of the release runs.
  Release ghost = MakeRelease("ghost");
  std::string pids = dir_.Join("ghost.pids");
  ghost.spec.run.command = "setsid " + ghost.spec.run.command + " >/dev/null 2>&1 & echo $! >> " +
                           ShellQuote(pids) + "; exit 3";
  auto out = deployer_->Deploy("staging", ghost);
  // Whatever happens, the detached servers go away with the test.
  if (auto text = ReadFile(pids); text.ok()) {
    size_t pos = 0;
    while (pos < text->size()) {
      size_t nl = text->find('\n', pos);
      if (nl == std::string::npos) nl = text->size();
      int pid = std::atoi(text->substr(pos, nl - pos).c_str());
      if (pid > 1) ::kill(pid, SIGKILL);
      pos = nl + 1;
    }
  }
  ASSERT_FALSE(out.ok()) << "the ghost release went live";
  EXPECT_NE(out.error().find("another program listens there"), std::string::npos) << out.error();
  EXPECT_EQ(Env("staging").live_commit.substr(0, 2), "r0");
  EXPECT_NE(Served().find("release r0:"), std::string::npos) << Served();
}

TEST_F(RedBlackTest, RollbackUnderLoadAndPromotionToProduction) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r1")).ok());
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r2")).ok());
  test::LoadGenerator load({.port = proxy_port_, .connections = 8, .max_run = 10min});
  load.Start();
  ASSERT_TRUE(test::WaitFor([&] { return load.Stats().total > 50; }, 30s));
  // Back to the warm r1 instances: no process started.
  auto back = deployer_->Rollback("site", "staging", "");
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_TRUE(back->reused_warm);
  EXPECT_NE(Served().find("release r1:"), std::string::npos);
  // Forward again to r2, also warm.
  auto fwd = deployer_->Rollback("site", "staging", "r2");
  ASSERT_TRUE(fwd.ok()) << fwd.error();
  EXPECT_TRUE(fwd->reused_warm);
  EXPECT_NE(Served().find("release r2:"), std::string::npos);
  // Promote staging's live release (r2) to production: its own instances, its host.
  EXPECT_NE(Served("www.localhost").find("release r2:"), std::string::npos);  // default route
  auto promoted = deployer_->Promote("site", "production");
  ASSERT_TRUE(promoted.ok()) << promoted.error();
  EXPECT_EQ(Env("production").live_commit, Env("staging").live_commit);
  std::string body = Served("www.localhost");
  EXPECT_NE(body.find("release r2:"), std::string::npos) << body;
  load.Stop();
  auto stats = load.Stats();
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
  // After keep_previous the warm ones would stop; a relaunch from disk still works:
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r3")).ok());
  supervisor_->Stop(Env("staging").warm_instances);
  auto relaunch = deployer_->Rollback("site", "staging", "r1");
  ASSERT_TRUE(relaunch.ok()) << relaunch.error();
  EXPECT_FALSE(relaunch->reused_warm);
  EXPECT_NE(Served().find("release r1:"), std::string::npos);
}

TEST_F(RedBlackTest, ProxyKilledMidDeployFailsCleanlyAndIsSettledAfterItsRestart) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r1")).ok());
  auto live = Env("staging");
  // A release that takes a while to listen, so the proxy dies during its health gate.
  Release slow = MakeRelease("slow", "--start-delay 3s");
  std::thread killer([&] {
    test::WaitFor([&] { return supervisor_->List().size() >= 4; }, 20s);
    // Killed once the new instances are handed over (recorded before the proxy is asked).
    test::WaitFor(
        [&] {
          auto running = deployer_->records().RunningDeployments();
          return running.ok() && !running->empty() &&
                 running->back().step == DeploymentStep::kHealthWait;
        },
        20s);
    proxy_->Kill();
  });
  auto out = deployer_->Deploy("staging", slow);
  killer.join();
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().find("cannot reach the proxy"), std::string::npos) << out.error();
  StartProxy();
  // The restarted proxy serves the last committed routes (r1) at once.
  ASSERT_TRUE(test::WaitFor([&] { return Served().find("release r1:") != std::string::npos; }, 10s))
      << Served();
  // The deployer settles the deploy by what the proxy serves: r1 stays, slow ones stop.
  ASSERT_TRUE(deployer_->Reconcile().ok());
  EXPECT_EQ(Env("staging").live_commit, live.live_commit);
  EXPECT_EQ(supervisor_->List().size(), 2u);
  auto history = deployer_->records().Deployments("site");
  ASSERT_TRUE(history.ok() && !history->empty());
  const DeploymentRecord& d = (*history)[0];
  EXPECT_EQ(d.status, DeploymentStatus::kFailed);
  EXPECT_NE(d.error.find("proxy"), std::string::npos) << d.error;
}

}  // namespace
}  // namespace gravity::deploy
