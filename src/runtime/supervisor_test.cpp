#include "runtime/supervisor.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "runtime/fake_launcher.h"

namespace gravity::runtime {
namespace {

using std::chrono::milliseconds;

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-supervisor-test").value();
    options_.state_dir = dir_;
    options_.port_first = 61000;
    options_.port_last = 64999;
    options_.backoff_initial = milliseconds(500);
    options_.backoff_max = milliseconds(4000);
    options_.crash_loop_limit = 4;
    options_.crash_loop_window = milliseconds(60000);
  }
  void TearDown() override { RemoveTree(dir_); }

  InstanceSpec Spec(const std::string& release = "abcdef0123456789") {
    InstanceSpec s;
    s.app = "site";
    s.environment = "staging";
    s.release = release;
    s.release_dir = dir_;
    s.command = "serve";
    s.env = {{"GREETING", "hi"}};
    return s;
  }

  std::string dir_;
  SupervisorOptions options_;
  FakeLauncher launcher_;
  FakeClock clock_;
};

TEST_F(SupervisorTest, StartGivesDistinctPortsAndRecordsInstances) {
  Supervisor sup(options_, launcher_, clock_);
  ASSERT_TRUE(sup.Recover().ok());
  auto a = sup.Start(Spec());
  auto b = sup.Start(Spec());
  ASSERT_TRUE(a.ok()) << a.error();
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_NE(a->port, b->port);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(a->id.rfind("site-staging-abcdef0-", 0), 0u) << a->id;
  EXPECT_EQ(a->log_path, dir_ + "/logs/site/staging/abcdef0123456789/" + a->id + ".log");
  ASSERT_EQ(launcher_.launched.size(), 2u);
  EXPECT_EQ(launcher_.launched[0].port, a->port);
  EXPECT_EQ(launcher_.launched[0].env.at("GREETING"), "hi");
  auto doc = nlohmann::json::parse(ReadFile(dir_ + "/runtime/instances.json").value());
  EXPECT_EQ(doc["instances"].size(), 2u);
  EXPECT_EQ(sup.List().size(), 2u);
}

TEST_F(SupervisorTest, CrashRestartsAfterDoublingBackoffOnTheSamePort) {
  Supervisor sup(options_, launcher_, clock_);
  ASSERT_TRUE(sup.Recover().ok());
  auto a = sup.Start(Spec()).value();
  launcher_.Kill(a.process.pid);
  sup.Tick();
  auto info = sup.Get(a.id).value();
  EXPECT_EQ(info.state, InstanceState::kBackoff);
  EXPECT_EQ(info.last_exit, "exited with status 1");
  clock_.Advance(milliseconds(499));
  sup.Tick();
  EXPECT_EQ(sup.Get(a.id)->state, InstanceState::kBackoff);
  clock_.Advance(milliseconds(1));
  sup.Tick();
  info = sup.Get(a.id).value();
  EXPECT_EQ(info.state, InstanceState::kRunning);
  EXPECT_EQ(info.restarts, 1);
  EXPECT_EQ(info.port, a.port);
  EXPECT_NE(info.process.pid, a.process.pid);
  // Second consecutive crash: 1s backoff.
  launcher_.Kill(info.process.pid);
  sup.Tick();
  clock_.Advance(milliseconds(999));
  sup.Tick();
  EXPECT_EQ(sup.Get(a.id)->state, InstanceState::kBackoff);
  clock_.Advance(milliseconds(1));
  sup.Tick();
  EXPECT_EQ(sup.Get(a.id)->state, InstanceState::kRunning);
  EXPECT_EQ(sup.Get(a.id)->restarts, 2);
}

TEST_F(SupervisorTest, CrashLoopMarksInstanceFailed) {
  Supervisor sup(options_, launcher_, clock_);
  ASSERT_TRUE(sup.Recover().ok());
  auto a = sup.Start(Spec()).value();
  for (int i = 0; i < 3; ++i) {
    launcher_.Kill(sup.Get(a.id)->process.pid);
    sup.Tick();
    ASSERT_EQ(sup.Get(a.id)->state, InstanceState::kBackoff) << i;
    clock_.Advance(milliseconds(5000));
    sup.Tick();
    ASSERT_EQ(sup.Get(a.id)->state, InstanceState::kRunning) << i;
  }
  launcher_.Kill(sup.Get(a.id)->process.pid, "killed by signal 11 (Segmentation fault)");
  sup.Tick();
  auto info = sup.Get(a.id).value();
  EXPECT_EQ(info.state, InstanceState::kFailed);
  EXPECT_EQ(info.last_exit, "killed by signal 11 (Segmentation fault)");
  clock_.Advance(milliseconds(60000));
  sup.Tick();
  EXPECT_EQ(sup.Get(a.id)->state, InstanceState::kFailed);
  EXPECT_EQ(launcher_.launched.size(), 4u);
}

TEST_F(SupervisorTest, CrashesSpreadOverTimeAreNotALoop) {
  Supervisor sup(options_, launcher_, clock_);
  ASSERT_TRUE(sup.Recover().ok());
  auto a = sup.Start(Spec()).value();
  for (int i = 0; i < 8; ++i) {
    clock_.Advance(milliseconds(61000));  // each process ran longer than the window
    launcher_.Kill(sup.Get(a.id)->process.pid);
    sup.Tick();
    ASSERT_EQ(sup.Get(a.id)->state, InstanceState::kBackoff) << i;
    clock_.Advance(milliseconds(500));  // backoff is back at its initial value
    sup.Tick();
    ASSERT_EQ(sup.Get(a.id)->state, InstanceState::kRunning) << i;
  }
}

TEST_F(SupervisorTest, StopEndsProcessesAndForgetsThem) {
  Supervisor sup(options_, launcher_, clock_);
  ASSERT_TRUE(sup.Recover().ok());
  auto a = sup.Start(Spec()).value();
  auto b = sup.Start(Spec()).value();
  auto c = sup.Start(Spec("fedcba9876543210")).value();
  sup.Stop({a.id, b.id, "no-such-id"});
  EXPECT_EQ(sup.List().size(), 1u);
  EXPECT_EQ(launcher_.AliveCount(), 1u);
  sup.StopAll("site", "");
  EXPECT_TRUE(sup.List().empty());
  EXPECT_EQ(launcher_.AliveCount(), 0u);
}

TEST_F(SupervisorTest, RecoverAdoptsLiveRestartsDeadAndStopsUnrecorded) {
  InstanceInfo live, dead;
  {
    Supervisor sup(options_, launcher_, clock_);
    ASSERT_TRUE(sup.Recover().ok());
    live = sup.Start(Spec()).value();
    dead = sup.Start(Spec()).value();
  }  // the daemon ends; instances keep running
  launcher_.Kill(dead.process.pid);
  ProcessRef stray = launcher_.AddStray();
  Supervisor sup(options_, launcher_, clock_);
  std::vector<InstanceEvent> events;
  sup.SetListener([&](const InstanceEvent& e) { events.push_back(e); });
  ASSERT_TRUE(sup.Recover().ok());
  EXPECT_EQ(sup.Get(live.id)->state, InstanceState::kRunning);
  EXPECT_EQ(sup.Get(live.id)->process.pid, live.process.pid);
  EXPECT_EQ(sup.Get(dead.id)->state, InstanceState::kBackoff);
  EXPECT_EQ(launcher_.stopped, std::vector<pid_t>{stray.pid});
  sup.Tick();
  EXPECT_EQ(sup.Get(dead.id)->state, InstanceState::kRunning);
  EXPECT_EQ(sup.Get(dead.id)->port, dead.port);
  // A new instance never takes a port a recorded instance holds, nor repeats an id.
  auto fresh = sup.Start(Spec()).value();
  EXPECT_NE(fresh.port, live.port);
  EXPECT_NE(fresh.port, dead.port);
  EXPECT_NE(fresh.id, live.id);
  EXPECT_NE(fresh.id, dead.id);
  bool adopted = false;
  for (const auto& e : events) adopted |= e.kind == InstanceEvent::kAdopted && e.id == live.id;
  EXPECT_TRUE(adopted);
}

TEST_F(SupervisorTest, ReusedPidIsNotMistakenForTheInstance) {
  InstanceInfo a;
  {
    Supervisor sup(options_, launcher_, clock_);
    ASSERT_TRUE(sup.Recover().ok());
    a = sup.Start(Spec()).value();
  }
  // Rewrite the record with another start time: same pid, different process.
  std::string path = dir_ + "/runtime/instances.json";
  auto doc = nlohmann::json::parse(ReadFile(path).value());
  doc["instances"][0]["start_time"] = 1;
  ASSERT_TRUE(WriteFileAtomic(path, doc.dump()).ok());
  Supervisor sup(options_, launcher_, clock_);
  ASSERT_TRUE(sup.Recover().ok());
  EXPECT_EQ(sup.Get(a.id)->state, InstanceState::kBackoff);
  // The live process with that pid is not ours by record: it was stopped as an orphan.
  EXPECT_EQ(launcher_.stopped, std::vector<pid_t>{a.process.pid});
}

TEST_F(SupervisorTest, CorruptRecordFileIsAClearError) {
  ASSERT_TRUE(MakeDirs(dir_ + "/runtime").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/runtime/instances.json", "{not json").ok());
  Supervisor sup(options_, launcher_, clock_);
  Status st = sup.Recover();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("instances.json"), std::string::npos) << st.message();
}

TEST_F(SupervisorTest, LaunchFailureIsReportedAndFreesThePort) {
  const int port = FreePortRun(1);
  options_.port_first = options_.port_last = port;
  Supervisor sup(options_, launcher_, clock_);
  ASSERT_TRUE(sup.Recover().ok());
  launcher_.fail_launches = 1;
  auto a = sup.Start(Spec());
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().find("site/staging"), std::string::npos) << a.error();
  auto b = sup.Start(Spec());
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b->port, port);
  auto c = sup.Start(Spec());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("no free port"), std::string::npos) << c.error();
}

TEST_F(SupervisorTest, InvalidPortRangeIsRefused) {
  options_.port_first = 30000;
  options_.port_last = 20000;
  Supervisor sup(options_, launcher_, clock_);
  EXPECT_FALSE(sup.Recover().ok());
}

}  // namespace
}  // namespace gravity::runtime
