// Supervision, end to end through the CLI: a `gravity up --detach` stack whose proxy and
// daemon are killed with SIGKILL under load come back on their own; a proxy that cannot
// start is reported as crash-looping, with its reason, and is not restarted in a spin;
// `gravity down` stops the supervisor first so nothing comes back.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/fs.h"
#include "support/gravity_cli.h"
#include "support/git_repo.h"
#include "support/http_client.h"
#include "support/load_generator.h"
#include "support/net.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace gravity::test {
namespace {

using nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr const char* kText = "Automation for the people";

class Supervision : public ::testing::Test {
 protected:
  void SetUp() override {
    proxy_port_ = FreePort();
    admin_port_ = FreePort();
    auto work = SampleAppRepo(dir_.path());
    ASSERT_TRUE(work.ok()) << work.error();
    work_ = std::make_unique<GitRepo>(std::move(*work));
    stack_ = dir_.Write("stack.yml", StackYaml());
  }

  void TearDown() override { Gravity({"down", "-f", stack_}, dir_.path()); }

  std::string StackYaml() const {
    return "state_dir: state\n"
           "proxy: { listen: 127.0.0.1:" + std::to_string(proxy_port_) + " }\n"
           "admin: { listen: 127.0.0.1:" + std::to_string(admin_port_) + " }\n"
           "apps:\n"
           "  site:\n"
           "    repo: ./site.git\n"
           "    poll_interval: 1s\n"
           "    environments:\n"
           "      staging:\n"
           "        branch: staging\n"
           "        instances: 2\n"
           "        drain_timeout: 2s\n";
  }

  bool Serves(milliseconds timeout = seconds(2)) {
    auto r = HttpGet(proxy_port_, "/", "", timeout);
    return r.ok() && r->status == 200 && r->body.find(kText) != std::string::npos;
  }

  // supervisor.json as the supervisor wrote it last.
  json SupervisorFile() {
    auto text = ReadFile(dir_.Join("state/supervisor.json"));
    if (!text.ok()) return json::object();
    json j = json::parse(*text, nullptr, false);
    return j.is_object() ? j : json::object();
  }
  json Process(const std::string& name) {
    return SupervisorFile().value("processes", json::object()).value(name, json::object());
  }
  int PidOf(const std::string& name) { return Process(name).value("pid", 0); }
  milliseconds ProxyUptime() {
    json p = Process("proxy");
    if (p.value("pid", 0) == 0) return milliseconds(0);
    auto now = duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    return now - milliseconds(p.value("started_ms", now.count()));
  }

  json StatusJson() {
    auto r = Gravity({"status", "--json", "-f", stack_}, dir_.path());
    json j = json::parse(r.output, nullptr, false);
    return j.is_discarded() ? json() : j;
  }

  // id -> pid of the staging instances in `gravity status --json`.
  std::map<std::string, int> Instances() {
    std::map<std::string, int> out;
    json st = StatusJson();
    if (!st.is_object()) return out;
    for (const auto& a : st.value("apps", json::array())) {
      for (const auto& e : a.value("environments", json::array())) {
        for (const auto& i : e.value("instances", json::array())) {
          if (i.value("state", "") == "running") out[i.value("id", "")] = i.value("pid", 0);
        }
      }
    }
    return out;
  }

  std::string Up() {
    auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
    EXPECT_EQ(up.exit_code, 0) << up.output;
    return up.output;
  }

  TempDir dir_{"gravity-supervision"};
  std::unique_ptr<GitRepo> work_;
  int proxy_port_ = 0;
  int admin_port_ = 0;
  std::string stack_;
};

TEST_F(Supervision, ProxyKilledUnderLoadServesAgainWithinASecondWithTheSameRoutes) {
  Up();
  ASSERT_TRUE(Serves()) << "the stack does not serve after up";

  LoadOptions lo;
  lo.port = proxy_port_;
  lo.connections = 8;
  lo.pause_between_requests = milliseconds(2);
  lo.request_timeout = seconds(5);
  LoadGenerator load(lo);
  load.Start();
  ASSERT_TRUE(load.WaitForRequestsSince(LoadGenerator::Now(), 200, seconds(20)));

  const char* env_runs = std::getenv("GRAVITY_KILL_RUNS");
  const int runs = env_runs ? std::max(1, std::atoi(env_runs)) : 3;
  std::vector<long> gaps;
  for (int run = 0; run < runs; ++run) {
    // A proxy that served for a while was healthy: the supervisor restarts it at once
    // (quick exits in a row back off; see supervise/restart_policy.h).
    ASSERT_TRUE(WaitFor([&] { return ProxyUptime() >= milliseconds(5500); }, seconds(10),
                        milliseconds(50)));
    int pid = PidOf("proxy");
    ASSERT_GT(pid, 1);
    const auto killed = steady_clock::now();
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_TRUE(WaitFor([&] { return Serves(milliseconds(500)); }, seconds(5),
                        milliseconds(2)))
        << "not serving 5s after kill -9 of the proxy";
    const auto back = steady_clock::now();
    long gap = duration_cast<milliseconds>(back - killed).count();
    gaps.push_back(gap);
    std::printf("kill -9 of the proxy (run %d): serving again after %ldms\n", run + 1, gap);
    EXPECT_LT(gap, 1000);
    EXPECT_NE(PidOf("proxy"), pid);

    // After the restart window every request succeeds.
    const auto settled = back + milliseconds(100);
    ASSERT_TRUE(load.WaitForRequestsSince(settled, 300, seconds(20)));
    LoadStats after = load.StatsSince(settled);
    EXPECT_EQ(after.failed, 0) << after.Summary();
  }
  load.Stop();
  std::sort(gaps.begin(), gaps.end());
  std::printf("gap after kill -9 of the proxy: median %ldms of %zu runs (min %ldms, max %ldms)\n",
              gaps[gaps.size() / 2], gaps.size(), gaps.front(), gaps.back());
  std::fflush(stdout);

  json proxy = Process("proxy");
  EXPECT_EQ(proxy.value("restarts", 0), runs) << proxy.dump();
  EXPECT_NE(proxy.value("last_exit", "").find("killed by signal 9"), std::string::npos)
      << proxy.dump();
  auto status = Gravity({"status", "-f", stack_}, dir_.path());
  EXPECT_NE(status.output.find("proxy"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find(std::to_string(runs) + " restart(s)"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("killed by signal 9"), std::string::npos) << status.output;

  // `down` stops the supervisor first: nothing comes back.
  auto down = Gravity({"down", "-f", stack_}, dir_.path());
  ASSERT_EQ(down.exit_code, 0) << down.output;
  EXPECT_FALSE(PortOpen(proxy_port_));
  EXPECT_FALSE(WaitFor([&] { return PortOpen(proxy_port_); }, milliseconds(1500),
                       milliseconds(50)))
      << "something restarted the proxy after gravity down";
}

TEST_F(Supervision, DaemonKilledComesBackReadoptsItsInstancesAndDeploysTheNextCommit) {
  Up();
  ASSERT_TRUE(Serves());
  auto before = Instances();
  ASSERT_EQ(before.size(), 2u) << StatusJson().dump(2);

  LoadOptions lo;
  lo.port = proxy_port_;
  lo.connections = 4;
  lo.pause_between_requests = milliseconds(5);
  LoadGenerator load(lo);
  load.Start();

  int pid = PidOf("daemon");
  ASSERT_GT(pid, 1);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        json d = Process("daemon");
        if (d.value("pid", 0) == pid || d.value("state", "") != "running") return false;
        auto r = HttpGet(admin_port_, "/v1/health", "", seconds(1));
        return r.ok() && r->status == 200;
      },
      seconds(30), milliseconds(20)))
      << SupervisorFile().dump(2);
  EXPECT_EQ(Process("daemon").value("restarts", 0), 1);
  EXPECT_EQ(Instances(), before) << "the new daemon did not re-adopt the same instances";

  auto health = HttpGet(admin_port_, "/v1/health", "", seconds(2));
  ASSERT_TRUE(health.ok());
  json h = json::parse(health->body, nullptr, false);
  EXPECT_FALSE(h.value("version", "").empty()) << health->body;
  EXPECT_FALSE(h.value("commit", "").empty()) << health->body;

  // A commit pushed afterwards deploys.
  auto c = work_->CommitFiles(
      {{"public/index.html", "<!doctype html><html><head><title>Automation</title></head>"
                             "<body><h1>Automation for the people, after the crash</h1>"
                             "</body></html>\n"}},
      "after the crash");
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(work_->Push("origin", "staging").ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = HttpGet(proxy_port_, "/", "", seconds(2));
        return r.ok() && r->body.find("after the crash") != std::string::npos;
      },
      seconds(120), milliseconds(200)))
      << StatusJson().dump(2);

  load.Stop();
  LoadStats stats = load.Stats();
  EXPECT_GT(stats.total, 50);
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
}

TEST_F(Supervision, ProxyRestartsAndANewBinaryTakeTheSocketsOverWithoutAFailedRequest) {
  // The stack runs from a copy of gravity, so that the test can "upgrade" it.
  const std::string bin = dir_.Join("bin/gravity");
  std::filesystem::create_directories(dir_.Join("bin"));
  std::filesystem::copy_file(GRAVITY_BIN, bin);
  auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180), bin);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(Serves());

  LoadOptions lo;
  lo.port = proxy_port_;
  lo.connections = 8;
  lo.pause_between_requests = milliseconds(1);
  LoadGenerator load(lo);
  load.Start();
  ASSERT_TRUE(load.WaitForRequestsSince(LoadGenerator::Now(), 100, seconds(20)));

  // gravity proxy restart, 10 times: each new process takes the sockets over.
  const char* env_runs = std::getenv("GRAVITY_RESTART_RUNS");
  const int runs = env_runs ? std::max(1, std::atoi(env_runs)) : 10;
  std::vector<long> took;
  for (int run = 0; run < runs; ++run) {
    int old_proxy = PidOf("proxy");
    const auto start = steady_clock::now();
    auto restart = Gravity({"proxy", "restart", "-f", stack_}, dir_.path(), seconds(60), bin);
    ASSERT_EQ(restart.exit_code, 0) << restart.output;
    took.push_back(duration_cast<milliseconds>(steady_clock::now() - start).count());
    EXPECT_NE(restart.output.find("serving after"), std::string::npos) << restart.output;
    std::printf("gravity proxy restart %d: %s", run + 1, restart.output.c_str());
    EXPECT_NE(PidOf("proxy"), old_proxy);
    EXPECT_TRUE(Serves()) << "the new proxy lost the routes";
  }
  std::sort(took.begin(), took.end());
  std::printf("gravity proxy restart, command to new process serving alone: median %ldms of %d\n",
              took[took.size() / 2], runs);

  int old_proxy = PidOf("proxy");
  // A different binary at the same path (the same build with bytes appended, which the
  // loader ignores): `up` replaces the proxy, by a takeover, and the daemon with it.
  int old_daemon = PidOf("daemon");
  std::filesystem::copy_file(GRAVITY_BIN, bin + ".new");
  {
    std::FILE* f = std::fopen((bin + ".new").c_str(), "ab");
    ASSERT_NE(f, nullptr);
    std::fputs("\ngravity test: a different binary\n", f);
    std::fclose(f);
  }
  std::filesystem::rename(bin + ".new", bin);
  auto up2 = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180), bin);
  ASSERT_EQ(up2.exit_code, 0) << up2.output;
  EXPECT_NE(up2.output.find("the gravity binary changed"), std::string::npos) << up2.output;
  EXPECT_NE(PidOf("proxy"), old_proxy);
  EXPECT_NE(PidOf("daemon"), old_daemon);
  EXPECT_TRUE(Serves());

  // An unchanged stack and binary: nothing is restarted.
  old_proxy = PidOf("proxy");
  auto up3 = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180), bin);
  ASSERT_EQ(up3.exit_code, 0) << up3.output;
  EXPECT_NE(up3.output.find("proxy   running"), std::string::npos) << up3.output;
  EXPECT_EQ(PidOf("proxy"), old_proxy);

  load.Stop();
  LoadStats stats = load.Stats();
  // Planned restarts are not failures of the process...
  EXPECT_EQ(Process("proxy").value("restarts", -1), 0) << SupervisorFile().dump(2);
  // ...and each new proxy took the listening sockets over: not one request failed.
  std::printf("requests failed across %d proxy restarts and an upgrade: %ld of %ld\n", runs,
              stats.failed, stats.total);
  std::fflush(stdout);
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
  Gravity({"down", "-f", stack_}, dir_.path(), seconds(120), bin);
}

TEST_F(Supervision, AFailedTakeoverLeavesTheOldProxyServingAndSaysWhy) {
  const std::string bin = dir_.Join("bin/gravity");
  const std::string real = dir_.Join("bin/gravity.real");
  std::filesystem::create_directories(dir_.Join("bin"));
  std::filesystem::copy_file(GRAVITY_BIN, bin);
  std::filesystem::copy_file(GRAVITY_BIN, real);
  auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180), bin);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(Serves());

  LoadOptions lo;
  lo.port = proxy_port_;
  lo.connections = 4;
  lo.pause_between_requests = milliseconds(1);
  LoadGenerator load(lo);
  load.Start();
  ASSERT_TRUE(load.WaitForRequestsSince(LoadGenerator::Now(), 100, seconds(20)));

  // The program at the supervisor's path now fails as a successor.
  dir_.Write("bin/gravity.new",
             "#!/bin/sh\n"
             "for a in \"$@\"; do\n"
             "  if [ \"$a\" = --takeover ]; then echo 'test: this proxy refuses to take over'; exit 3; fi\n"
             "done\n"
             "exec " + real + " \"$@\"\n",
             0755);
  std::filesystem::rename(bin + ".new", bin);

  const int old_proxy = PidOf("proxy");
  auto restart = Gravity({"proxy", "restart", "-f", stack_}, dir_.path(), seconds(60));
  EXPECT_NE(restart.exit_code, 0) << restart.output;
  EXPECT_NE(restart.output.find("refuses to take over"), std::string::npos) << restart.output;
  EXPECT_NE(restart.output.find("keeps serving"), std::string::npos) << restart.output;
  EXPECT_EQ(PidOf("proxy"), old_proxy);
  EXPECT_EQ(Process("proxy").value("state", ""), "running");
  EXPECT_TRUE(Serves());
  auto status = Gravity({"status", "-f", stack_}, dir_.path());
  EXPECT_NE(status.output.find("takeover by pid"), std::string::npos) << status.output;

  // A working binary again: the next restart takes over.
  std::filesystem::copy_file(GRAVITY_BIN, bin + ".new");
  std::filesystem::rename(bin + ".new", bin);
  auto again = Gravity({"proxy", "restart", "-f", stack_}, dir_.path(), seconds(60));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(PidOf("proxy"), old_proxy);

  load.Stop();
  LoadStats stats = load.Stats();
  EXPECT_EQ(Process("proxy").value("restarts", -1), 0) << SupervisorFile().dump(2);
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
  Gravity({"down", "-f", stack_}, dir_.path(), seconds(120), bin);
}

TEST_F(Supervision, AChangedProxyListenAddressIsTakenByTheNextUp) {
  Up();
  ASSERT_TRUE(Serves());
  const int old_port = proxy_port_;
  proxy_port_ = FreePort();
  dir_.Write("stack.yml", StackYaml());
  auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
  ASSERT_EQ(up.exit_code, 0) << up.output;
  EXPECT_NE(up.output.find("proxy.listen/metrics/https changed"), std::string::npos) << up.output;
  EXPECT_TRUE(Serves()) << "nothing serves on the new address";
  auto old = HttpGet(old_port, "/", "", seconds(2));
  EXPECT_FALSE(old.ok() && old->status == 200) << "the old address still serves";
}

// Takes 127.0.0.1:port with a listening socket (another program's, as far as the proxy
// can tell).
int TakePort(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class CrashLoop : public Supervision {
 protected:
  std::string Log() {
    auto text = ReadFile(dir_.Join("state/supervisor.log"));
    return text.ok() ? *text : "";
  }
  // `up` fails with the proxy's reason, status reports it, and the restarts stop.
  void ExpectReportedAndNotSpinning(const std::string& reason) {
    auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(60));
    EXPECT_NE(up.exit_code, 0) << up.output;
    EXPECT_NE(up.output.find("crash-looping"), std::string::npos) << up.output;
    EXPECT_NE(up.output.find(reason), std::string::npos) << up.output;

    json proxy = Process("proxy");
    EXPECT_EQ(proxy.value("state", ""), "crash-loop") << proxy.dump();
    int restarts = proxy.value("restarts", 0);
    EXPECT_GE(restarts, 1);
    EXPECT_LE(restarts, 5) << proxy.dump();

    auto status = Gravity({"status", "-f", stack_}, dir_.path());
    EXPECT_NE(status.output.find("crash-loop"), std::string::npos) << status.output;
    EXPECT_NE(status.output.find(reason), std::string::npos) << status.output;

    // It stays down: no more starts while nothing changes.
    auto log_before = Log();
    EXPECT_FALSE(WaitFor([&] { return Process("proxy").value("restarts", 0) != restarts; },
                         seconds(2), milliseconds(50)));
    auto log_after = Log();
    auto starts = [](const std::string& log) {
      size_t n = 0;
      for (size_t p = log.find("started proxy"); p != std::string::npos;
           p = log.find("started proxy", p + 1)) {
        ++n;
      }
      return n;
    };
    EXPECT_EQ(starts(log_after), starts(log_before));
    EXPECT_LE(starts(log_after), 5u) << log_after;
    EXPECT_NE(log_after.find("crash loop"), std::string::npos) << log_after;
  }
};

TEST_F(CrashLoop, PortTakenByAnotherProgramIsReportedAndDoesNotSpin) {
  int fd = TakePort(proxy_port_);
  ASSERT_GE(fd, 0);
  ExpectReportedAndNotSpinning("in use");
  ::close(fd);
  // Once the port is free, `gravity up` tries again and the stack comes up.
  auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
  EXPECT_EQ(up.exit_code, 0) << up.output;
  EXPECT_TRUE(Serves()) << up.output;
}

TEST_F(CrashLoop, UnusableStateDirIsReportedAndDoesNotSpin) {
  // The proxy's state dir is a file: the proxy cannot keep its routes and exits.
  dir_.Write("state/proxy", "not a directory\n");
  ExpectReportedAndNotSpinning("state/proxy");
}

}  // namespace
}  // namespace gravity::test
