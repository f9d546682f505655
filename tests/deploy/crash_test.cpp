// kill -9 of the daemon at each step of a deploy, under steady load through the real proxy:
// after a restart traffic never stopped, exactly one release is live per environment (the
// one the proxy serves), no orphan instance runs, and the record says what happened.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/fs.h"
#include "common/process.h"
#include "runtime/cgroup.h"
#include "runtime/launcher.h"
#include "store/db.h"
#include "support/support.h"

namespace gravity {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using test::Subprocess;

constexpr auto kWait = 60s;

enum class KillAt { kInstancesStarted, kHealthWait, kAfterSwap, kDuringDrain };

std::string Name(KillAt k) {
  switch (k) {
    case KillAt::kInstancesStarted:
      return "InstancesStarted";
    case KillAt::kHealthWait:
      return "HealthWait";
    case KillAt::kAfterSwap:
      return "AfterSwap";
    case KillAt::kDuringDrain:
      return "DuringDrain";
  }
  return "";
}

class DaemonCrashTest : public ::testing::TestWithParam<KillAt> {
 protected:
  void SetUp() override {
    auto repo = test::GitRepo::Init(dir_.Join("app"), "staging");
    ASSERT_TRUE(repo.ok()) << repo.error();
    repo_ = std::make_unique<test::GitRepo>(std::move(*repo));
    proxy_port_ = test::FreePort();
    admin_port_ = test::FreePort();
    state_ = dir_.Join("state");
    dir_.Write("stack.yml",
               "state_dir: state\n"
               "proxy: { listen: 127.0.0.1:" +
                   std::to_string(proxy_port_) +
                   " }\n"
                   "admin: { listen: 127.0.0.1:" +
                   std::to_string(admin_port_) +
                   " }\n"
                   "apps:\n"
                   "  site:\n"
                   "    repo: " +
                   repo_->path() +
                   "\n"
                   "    poll_interval: 300ms\n"
                   "    environments:\n"
                   "      staging:\n"
                   "        branch: staging\n"
                   "        instances: 2\n"
                   "        drain_timeout: 4s\n"
                   "        keep_previous: 10m\n");
    ASSERT_TRUE(MakeDirs(state_).ok());
    auto proxy =
        Subprocess::Start({.argv = {GRAVITY_BIN, "proxy", "run", "--listen",
                                    "127.0.0.1:" + std::to_string(proxy_port_), "--control",
                                    state_ + "/proxy.sock", "--state-dir", state_ + "/proxy"},
                           .output_path = dir_.Join("proxy.log")});
    ASSERT_TRUE(proxy.ok()) << proxy.error();
    proxy_ = std::move(*proxy);
    ASSERT_TRUE(test::WaitFor([&] { return test::PortOpen(proxy_port_); }, kWait));
  }

  void TearDown() override {
    if (daemon_) daemon_->Kill();
    // A child the daemon forked just before it was killed may exec into an instance a
    // moment later: scan until three scans in a row find nothing (bounded).
    runtime::ProcessLauncher launcher(GRAVITY_BIN, state_);
    for (int quiet = 0, round = 0; quiet < 3 && round < 100; ++round) {
      auto found = launcher.FindOwned(state_);
      quiet = found.empty() ? quiet + 1 : 0;
      for (auto& ref : found) launcher.Stop(ref, 1s);
      std::this_thread::sleep_for(100ms);
    }
    if (proxy_) proxy_->Stop(5s);
  }

  // A version of the app: gravity-testapp saying "vN: Automation for the people", slow to
  // start so that the health wait is long enough to be interrupted.
  std::string Commit(const std::string& version, const std::string& start_delay) {
    std::string command = test::TestAppBinary() + " --port $PORT --name " + version +
                          "-$PORT --start-delay " + start_delay + " --body '" + version +
                          ": Automation for the people'";
    auto c = repo_->CommitFiles({{"gravity.yml", "run:\n  command: \"" + command +
                                                     "\"\nhealth:\n  body_contains: Automation "
                                                     "for the people\n  interval: 100ms\n"
                                                     "  deploy_timeout: 30s\n"}},
                                version);
    EXPECT_TRUE(c.ok()) << c.error();
    return c.ok() ? *c : "";
  }

  void StartDaemon() {
    auto d = Subprocess::Start(
        {.argv = {GRAVITY_BIN, "daemon", "-f", dir_.Join("stack.yml"), "--log-file", "-"},
         .output_path = dir_.Join("daemon-" + std::to_string(++starts_) + ".log")});
    ASSERT_TRUE(d.ok()) << d.error();
    daemon_ = std::move(*d);
    ASSERT_TRUE(daemon_->WaitForOutput("API on", kWait)) << daemon_->Output();
  }

  std::string Served() {
    auto r = test::HttpGet(proxy_port_, "/", "", 5s);
    return r.ok() ? r->body : "";
  }

  // The newest deployment row (id, commit, status, step, error).
  json LastDeployment() {
    auto db = store::Db::Open(state_ + "/state.db");
    if (!db.ok()) return json();
    auto row = (*db)->QueryOne(
        "SELECT id, commit_id, status, step, error FROM deploy_deployments ORDER BY id DESC "
        "LIMIT 1");
    if (!row.ok() || !*row) return json();
    const auto& r = **row;
    return {{"id", r.Int(0)},
            {"commit", r.Text(1)},
            {"status", r.Text(2)},
            {"step", r.Text(3)},
            {"error", r.Text(4)}};
  }
  json Environment() {
    auto db = store::Db::Open(state_ + "/state.db");
    if (!db.ok()) return json();
    auto row = (*db)->QueryOne(
        "SELECT live_commit, live_instances, warm_commit, warm_instances FROM "
        "deploy_environments WHERE app = 'site' AND environment = 'staging'");
    if (!row.ok() || !*row) return json();
    const auto& r = **row;
    return {{"live", r.Text(0)},
            {"live_instances", json::parse(r.Text(1))},
            {"warm", r.Text(2)},
            {"warm_instances", json::parse(r.Text(3))}};
  }
  int RunningDeployments() {
    auto db = store::Db::Open(state_ + "/state.db");
    if (!db.ok()) return -1;
    auto row = (*db)->QueryOne("SELECT count(*) FROM deploy_deployments WHERE status = 'running'");
    return row.ok() && *row ? static_cast<int>((**row).Int(0)) : -1;
  }
  // Instance processes of this state dir: the wrappers' pids.
  std::set<pid_t> InstanceProcesses() {
    runtime::ProcessLauncher launcher(GRAVITY_BIN, state_);
    std::set<pid_t> out;
    for (const auto& r : launcher.FindOwned(state_)) out.insert(r.pid);
    return out;
  }
  // True once an instance of the newest deployment accepts connections: the proxy's health
  // gate can then pass, i.e. it is under way.
  bool NewInstanceListening() {
    auto db = store::Db::Open(state_ + "/state.db");
    if (!db.ok()) return false;
    auto row = (*db)->QueryOne("SELECT instances FROM deploy_deployments ORDER BY id DESC LIMIT 1");
    if (!row.ok() || !*row) return false;
    json ids = json::parse((**row).Text(0), nullptr, false);
    auto text = ReadFile(state_ + "/runtime/instances.json");
    if (!text.ok() || !ids.is_array()) return false;
    json doc = json::parse(*text, nullptr, false);
    if (!doc.is_object()) return false;
    for (const auto& i : doc["instances"]) {
      for (const auto& id : ids) {
        if (i["id"] == id && test::PortOpen(i["port"].get<int>())) return true;
      }
    }
    return false;
  }
  std::set<pid_t> RecordedPids(const json& ids) {
    std::set<pid_t> out;
    auto text = ReadFile(state_ + "/runtime/instances.json");
    if (!text.ok()) return out;
    json doc = json::parse(*text, nullptr, false);
    for (const auto& i : doc["instances"]) {
      for (const auto& id : ids) {
        if (i["id"] == id) out.insert(i["pid"].get<pid_t>());
      }
    }
    return out;
  }

  test::TempDir dir_{"gravity-crash-it"};
  std::unique_ptr<test::GitRepo> repo_;
  std::unique_ptr<Subprocess> proxy_, daemon_;
  std::string state_;
  int proxy_port_ = 0, admin_port_ = 0, starts_ = 0;
};

TEST_P(DaemonCrashTest, RestartAfterKillSettlesOnExactlyOneLiveRelease) {
  const KillAt at = GetParam();
  std::string v1 = Commit("v1", "0s");
  StartDaemon();
  ASSERT_TRUE(test::WaitFor([&] { return Served().find("v1:") != std::string::npos; }, kWait))
      << daemon_->Output();
  test::LoadGenerator load({.port = proxy_port_, .connections = 6, .max_run = 10min});
  load.Start();

  std::string v2 = Commit("v2", "2s");
  // Wait for the step to kill at.
  bool reached = test::WaitFor(
      [&] {
        json d = LastDeployment();
        if (!d.is_object() || d["commit"] != v2) return false;
        switch (at) {
          case KillAt::kInstancesStarted:
            return d["step"] == "health_wait";
          case KillAt::kHealthWait:
            return d["step"] == "health_wait";
          case KillAt::kAfterSwap:
            return Served().find("v2:") != std::string::npos;
          case KillAt::kDuringDrain:
            return d["status"] == "succeeded";
        }
        return false;
      },
      kWait, 5ms);
  ASSERT_TRUE(reached) << LastDeployment().dump() << daemon_->Output();
  if (at == KillAt::kHealthWait) {
    ASSERT_TRUE(test::WaitFor([&] { return NewInstanceListening(); }, kWait, 5ms))
        << LastDeployment().dump() << daemon_->Output();
  }
  json before = LastDeployment();
  ::kill(daemon_->pid(), SIGKILL);
  daemon_->Kill();
  // Instances keep running without the daemon, and traffic keeps flowing.
  EXPECT_FALSE(InstanceProcesses().empty());
  // The new daemon binds the same API port: start it once the old one's is free.
  ASSERT_TRUE(test::WaitFor([&] { return !test::PortOpen(admin_port_); }, kWait));
  StartDaemon();

  // Settled: no deployment running, the proxy serves the recorded live release, and the
  // only instance processes are the live and warm ones.
  json env;
  bool settled = test::WaitFor(
      [&] {
        if (RunningDeployments() != 0) return false;
        env = Environment();
        if (!env.is_object()) return false;
        std::string live = env["live"];
        std::string served = Served();
        bool serves_live = served.find((live == v2 ? "v2:" : "v1:")) != std::string::npos;
        std::set<pid_t> expected = RecordedPids(env["live_instances"]);
        for (pid_t p : RecordedPids(env["warm_instances"])) expected.insert(p);
        return serves_live && InstanceProcesses() == expected;
      },
      kWait, 50ms);
  ASSERT_TRUE(settled) << "env " << env.dump() << "\nlast " << LastDeployment().dump()
                       << "\nserved " << Served() << "\n"
                       << daemon_->Output();
  load.Stop();
  auto stats = load.Stats();
  EXPECT_GT(stats.total, 0);
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
  // The re-adopted live instances still run sandboxed in their own cgroups.
  if (runtime::HostCgroups().version != runtime::CgroupVersion::kNone) {
    // Only the recorded live and warm ones: the resumed run may be starting new instances
    // (whose wrappers make their cgroups a moment after they are recorded).
    std::set<std::string> kept;
    for (const auto& id : env["live_instances"]) kept.insert(id.get<std::string>());
    for (const auto& id : env["warm_instances"]) kept.insert(id.get<std::string>());
    json doc = json::parse(ReadFile(state_ + "/runtime/instances.json").value(), nullptr, false);
    for (const auto& i : doc["instances"]) {
      if (i.value("state", "") != "running") continue;  // old ones may still be stopping
      if (!kept.count(i.value("id", ""))) continue;
      std::string cgroup = i.value("cgroup", "");
      EXPECT_FALSE(cgroup.empty()) << i.dump();
      runtime::Cgroup cg(runtime::HostCgroups(), cgroup);
      EXPECT_TRUE(cg.Exists() && !cg.Pids().empty())
          << cgroup << " " << cg.MainDir() << " exists " << cg.Exists() << " " << i.dump();
    }
  }
  // The interrupted deployment's record says what happened.
  auto db = store::Db::Open(state_ + "/state.db");
  ASSERT_TRUE(db.ok());
  auto row = (*db)->QueryOne("SELECT status, error FROM deploy_deployments WHERE id = ?",
                             {before["id"].get<std::int64_t>()});
  ASSERT_TRUE(row.ok() && *row);
  std::string status = (**row).Text(0), error = (**row).Text(1);
  std::printf("killed at %s: deployment %s: %s %s\n", Name(at).c_str(), before.dump().c_str(),
              status.c_str(), error.c_str());
  if (at == KillAt::kAfterSwap) {
    // completed on restart (or just before the kill)
    EXPECT_EQ(status, "succeeded") << error << "\n" << daemon_->Output();
  } else if (at == KillAt::kDuringDrain) {
    EXPECT_EQ(status, "succeeded");
  } else {
    EXPECT_TRUE(status == "interrupted" || status == "succeeded") << status << ": " << error;
    if (status == "interrupted") {
      EXPECT_NE(error.find("interrupted at step"), std::string::npos) << error;
    }
  }
  EXPECT_EQ(Environment()["live"].get<std::string>().empty(), false);
}

INSTANTIATE_TEST_SUITE_P(EachStep, DaemonCrashTest,
                         ::testing::Values(KillAt::kInstancesStarted, KillAt::kHealthWait,
                                           KillAt::kAfterSwap, KillAt::kDuringDrain),
                         [](const auto& info) { return Name(info.param); });

}  // namespace
}  // namespace gravity
