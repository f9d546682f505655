// Real instance processes through ProcessLauncher + Supervisor: environment, logs with
// timestamps, stop, crash restart, crash loop, re-adoption and orphan cleanup.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "common/fs.h"
#include "common/process.h"
#include "runtime/launcher.h"
#include "runtime/logs.h"
#include "runtime/supervisor.h"

namespace gravity::runtime {
namespace {

using std::chrono::milliseconds;

// Polls `pred` every 20ms until it holds or `timeout` passes.
template <typename Pred>
bool Eventually(Pred pred, milliseconds timeout = milliseconds(20000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred();
}

std::string DirName(const std::string& p) { return p.substr(0, p.rfind('/')); }

class InstancesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-instances-test").value();
    release_ = dir_ + "/release";
    ASSERT_TRUE(MakeDirs(release_).ok());
    ASSERT_TRUE(WriteFileAtomic(release_ + "/marker", "in release\n").ok());
    options_.state_dir = dir_ + "/state";
    // A range away from other tests' ports; the allocator checks each port by binding.
    int base = FreePortRun(40);
    options_.port_first = base;
    options_.port_last = base + 39;
    options_.stop_grace = milliseconds(3000);
    options_.backoff_initial = milliseconds(50);
    options_.backoff_max = milliseconds(200);
    options_.crash_loop_limit = 3;
    launcher_ = std::make_unique<ProcessLauncher>(GRAVITY_BIN, options_.state_dir);
  }
  void TearDown() override {
    for (auto& ref : launcher_->FindOwned(options_.state_dir))
      launcher_->Stop(ref, milliseconds(500));
    RemoveTree(dir_);
  }

  InstanceSpec Spec(const std::string& command) {
    InstanceSpec s;
    s.app = "site";
    s.environment = "staging";
    s.release = "0123456789abcdef";
    s.release_dir = release_;
    s.command = command;
    s.env = {{"GREETING", "hello there"}};
    return s;
  }

  std::string LogText(const InstanceInfo& i) {
    auto text = ReadFile(i.log_path);
    return text.ok() ? *text : "";
  }

  std::string dir_, release_;
  SupervisorOptions options_;
  std::unique_ptr<ProcessLauncher> launcher_;
};

TEST_F(InstancesTest, InstanceSeesItsEnvironmentAndLogsTimestampedLines) {
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  auto i =
      sup.Start(Spec("cat marker; echo \"port=$PORT app=$GRAVITY_APP env=$GRAVITY_ENV "
                     "release=$GRAVITY_RELEASE greeting=$GREETING\"; echo to-stderr >&2; "
                     "command -v gravity; printf 'no newline'; exec sleep 60"));
  ASSERT_TRUE(i.ok()) << i.error();
  ASSERT_TRUE(Eventually([&] { return LogText(*i).find("/gravity\n") != std::string::npos; }))
      << LogText(*i);
  std::string log = LogText(*i);
  EXPECT_NE(log.find(" out in release\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" out port=" + std::to_string(i->port) +
                     " app=site env=staging release=0123456789abcdef greeting=hello there\n"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(" err to-stderr\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" out " + DirName(GRAVITY_BIN) + "/gravity\n"), std::string::npos) << log;
  auto lines = TailLines(i->log_path, 100).value();
  for (const auto& l : lines) EXPECT_TRUE(ParseLogLine(l)) << l;
  // It leads its own session and group.
  EXPECT_EQ(::getsid(i->process.pid), i->process.pid);
  EXPECT_EQ(::getpgid(i->process.pid), i->process.pid);

  sup.Stop({i->id});
  EXPECT_FALSE(GroupAlive(i->process.pid));
  log = LogText(*i);
  EXPECT_NE(log.find("gravity received Terminated"), std::string::npos) << log;
  EXPECT_NE(log.find(" out no newline\n"), std::string::npos) << log;  // flushed at the end
  EXPECT_NE(log.find("gravity killed by signal 15"), std::string::npos) << log;
  EXPECT_TRUE(sup.List().empty());
}

TEST_F(InstancesTest, StopKillsAnInstanceThatIgnoresTerm) {
  options_.stop_grace = milliseconds(300);
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  auto i = sup.Start(Spec("trap '' TERM; echo ready; while :; do sleep 1; done"));
  ASSERT_TRUE(i.ok()) << i.error();
  ASSERT_TRUE(Eventually([&] { return LogText(*i).find("out ready") != std::string::npos; }));
  sup.Stop({i->id});
  EXPECT_FALSE(GroupAlive(i->process.pid));
}

TEST_F(InstancesTest, CrashIsRestartedAndCrashLoopFails) {
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  auto i = sup.Start(Spec("echo starting; exit 3"));
  ASSERT_TRUE(i.ok()) << i.error();
  ASSERT_TRUE(Eventually([&] {
    sup.Tick();
    return sup.Get(i->id)->state == InstanceState::kFailed;
  }));
  auto info = sup.Get(i->id).value();
  EXPECT_EQ(info.last_exit, "exited with status 3");
  EXPECT_EQ(info.restarts, 2);
  std::string log = LogText(info);
  size_t starts = 0;
  for (size_t p = 0; (p = log.find("out starting", p)) != std::string::npos; ++p) ++starts;
  EXPECT_EQ(starts, 3u) << log;
}

TEST_F(InstancesTest, InstancesOutliveTheSupervisorAndAreReadopted) {
  InstanceInfo kept;
  {
    Supervisor sup(options_, *launcher_, Clock::Real());
    ASSERT_TRUE(sup.Recover().ok());
    kept = sup.Start(Spec("echo up; exec sleep 60")).value();
  }
  EXPECT_TRUE(ProcessAlive(kept.process.pid));
  // An instance process of this owner that no record names (a daemon died before
  // recording it).
  LaunchSpec stray;
  stray.id = "stray";
  stray.app = "site";
  stray.environment = "staging";
  stray.release = "x";
  stray.release_dir = release_;
  stray.command = "exec sleep 60";
  stray.port = options_.port_last;
  stray.log_path = dir_ + "/stray.log";
  auto stray_ref = launcher_->Launch(stray);
  ASSERT_TRUE(stray_ref.ok()) << stray_ref.error();
  // An instance of another owner is left alone.
  ProcessLauncher other(GRAVITY_BIN, dir_ + "/other-state");
  auto other_ref = other.Launch(stray);
  ASSERT_TRUE(other_ref.ok()) << other_ref.error();

  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  auto info = sup.Get(kept.id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, InstanceState::kRunning);
  EXPECT_EQ(info->process.pid, kept.process.pid);
  EXPECT_FALSE(GroupAlive(stray_ref->pid));
  EXPECT_TRUE(ProcessAlive(other_ref->pid));
  other.Stop(*other_ref, milliseconds(1000));
  sup.Stop({kept.id});
  EXPECT_FALSE(GroupAlive(kept.process.pid));
}

TEST_F(InstancesTest, BrokenReleaseDirIsALaunchError) {
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  auto spec = Spec("echo hi");
  spec.release_dir = dir_ + "/missing";
  auto i = sup.Start(spec);
  ASSERT_FALSE(i.ok());
  EXPECT_NE(i.error().find("missing"), std::string::npos) << i.error();
}

}  // namespace
}  // namespace gravity::runtime
