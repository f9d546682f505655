// gravity-bench-deploy: how long Gravity itself takes to put a release live, and to roll
// back to warm instances, measured end to end through the real pieces: a `gravity proxy run`
// process, the runtime Supervisor launching real instances (gravity-testapp behind the
// `gravity _instance` wrapper), the Deployer with its SQLite records, and steady client
// load through the proxy the whole time.
//
//   gravity-bench-deploy [--deploys N] [--rollbacks N] [--instances K]
//                        [--health-interval D] [--healthy-threshold T] [--connections C]
//                        [--sandbox strict|off]
//
// Per deploy it records: total (Deploy() called -> returned with traffic switched), launch
// (starting the instances), gate (the proxy's hand-over -> switch, health checks included)
// and the floor the health checks must wait by their own settings, (T-1) x interval.
// Overhead = total - floor. Rollback to warm: Rollback() called -> returned.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "config/spec.h"
#include "deploy/deployer.h"
#include "deploy/proxy_adapter.h"
#include "runtime/launcher.h"
#include "runtime/supervisor.h"
#include "store/db.h"
#include "support/support.h"

namespace {

using namespace std::chrono_literals;
using gravity::test::LoadGenerator;
using gravity::test::Subprocess;
using gravity::test::TempDir;

struct Options {
  int deploys = 10;
  int rollbacks = 5;
  int instances = 2;
  std::chrono::milliseconds interval{100};
  int threshold = 2;
  int connections = 16;
  gravity::SandboxMode sandbox = gravity::SandboxMode::kStrict;  // as stack.yml's default
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "gravity-bench-deploy: %s\n", what.c_str());
  std::exit(1);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--deploys")
      o.deploys = std::atoi(v.c_str());
    else if (a == "--rollbacks")
      o.rollbacks = std::atoi(v.c_str());
    else if (a == "--instances")
      o.instances = std::atoi(v.c_str());
    else if (a == "--healthy-threshold")
      o.threshold = std::atoi(v.c_str());
    else if (a == "--connections")
      o.connections = std::atoi(v.c_str());
    else if (a == "--sandbox" && (v == "strict" || v == "off"))
      o.sandbox = v == "off" ? gravity::SandboxMode::kOff : gravity::SandboxMode::kStrict;
    else if (a == "--health-interval") {
      auto d = gravity::ParseDuration(v);
      if (!d.ok()) Die(d.error());
      o.interval = *d;
    } else {
      Die("unknown argument " + a);
    }
  }
  if (o.deploys < 2 || o.instances < 1 || o.threshold < 1) Die("bad arguments");
  return o;
}

struct Stats {
  double median, min, max;
};
Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {0, 0, 0};
  return {v[v.size() / 2], v.front(), v.back()};
}

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = Parse(argc, argv);
  spdlog::set_level(spdlog::level::warn);  // the figures, not the progress lines
  TempDir dir("gravity-bench-deploy");
  const std::string state = dir.path();
  const int proxy_port = gravity::test::FreePort();
  const std::string sock = state + "/proxy/proxy.sock";

  auto proxy = Subprocess::Start(
      {.argv = {GRAVITY_BIN, "proxy", "run", "--listen", "127.0.0.1:" + std::to_string(proxy_port),
                "--control", sock, "--state-dir", state + "/proxy"},
       .output_path = state + "/proxy.log"});
  if (!proxy.ok()) Die(proxy.error());
  if (!gravity::test::WaitFor(
          [&] { return gravity::test::PortOpen(proxy_port) && ::access(sock.c_str(), F_OK) == 0; },
          30s)) {
    Die("proxy did not start: " + (*proxy)->Output());
  }

  auto db = gravity::store::Db::Open(state + "/gravity.db");
  if (!db.ok()) Die(db.error());
  gravity::runtime::ProcessLauncher launcher(GRAVITY_BIN, state);
  gravity::runtime::SupervisorOptions sopt;
  sopt.state_dir = state;
  sopt.stop_grace = 5s;
  gravity::runtime::Supervisor supervisor(sopt, launcher, gravity::Clock::Real());
  if (auto st = supervisor.Recover(); !st.ok()) Die(st.message());
  supervisor.StartThread();
  auto control = gravity::deploy::MakeProxyControl(sock);
  gravity::deploy::Deployer deployer(**db, supervisor, *control, gravity::Clock::Real());
  if (auto st = deployer.Init(); !st.ok()) Die(st.message());

  gravity::config::StackSpec stack;
  stack.file = state + "/stack.yml";
  stack.state_dir = state;
  gravity::config::StackApp app;
  app.name = "bench";
  app.repo = state + "/repo.git";
  gravity::config::EnvironmentSpec env;
  env.name = "prod";
  env.branch = "main";
  env.instances = opt.instances;
  env.drain_timeout = 2s;
  env.keep_previous = 10min;
  env.sandbox = opt.sandbox;
  app.environments.push_back(env);
  stack.apps.push_back(app);
  deployer.SetStack(stack);

  // Two releases, deployed alternately.
  std::vector<gravity::deploy::Release> releases;
  for (std::string name : {"a", "b"}) {
    gravity::deploy::Release r;
    r.app = "bench";
    r.commit = std::string(40, name[0]);
    r.release_dir = state + "/releases/" + name;
    dir.Write("releases/" + name + "/README", "release " + name + "\n");
    r.spec.run.command = std::string("exec ") + GRAVITY_TESTAPP_BIN + " --port $PORT --name " +
                         name + "-$PORT --body 'release " + name + "'";
    r.spec.health.interval = opt.interval;
    r.spec.health.timeout = 2s;
    r.spec.health.healthy_threshold = opt.threshold;
    r.spec.health.deploy_timeout = 30s;
    releases.push_back(r);
  }

  // The first deploy brings the service up; load starts once it serves.
  if (auto first = deployer.Deploy("prod", releases[1]); !first.ok()) Die(first.error());
  LoadGenerator load({.port = proxy_port, .connections = opt.connections, .max_run = 30min});
  load.Start();

  std::vector<double> total, launch, gate, overhead, deployer_part;
  const double floor = Ms(opt.interval) * (opt.threshold - 1);
  for (int i = 0; i < opt.deploys; ++i) {
    const auto& rel = releases[static_cast<size_t>(i % 2)];
    auto t0 = std::chrono::steady_clock::now();
    auto out = deployer.Deploy("prod", rel);
    double wall = Ms(std::chrono::steady_clock::now() - t0);
    if (!out.ok()) Die("deploy " + std::to_string(i) + ": " + out.error());
    total.push_back(wall);
    launch.push_back(static_cast<double>(out->start_ms));
    gate.push_back(static_cast<double>(out->switched_after_ms));
    overhead.push_back(wall - floor);
    deployer_part.push_back(wall - static_cast<double>(out->switched_after_ms));
  }
  std::vector<double> rollback;
  int reused = 0;
  for (int i = 0; i < opt.rollbacks; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto out = deployer.Rollback("bench", "prod", "");
    double wall = Ms(std::chrono::steady_clock::now() - t0);
    if (!out.ok()) Die("rollback " + std::to_string(i) + ": " + out.error());
    if (out->reused_warm) ++reused;
    rollback.push_back(wall);
  }
  load.Stop();
  auto ls = load.Stats();

  auto row = [](const char* name, const std::vector<double>& v, const char* note) {
    Stats s = Summarize(v);
    std::printf("%-34s %9.1f %9.1f %9.1f   %s\n", name, s.median, s.min, s.max, note);
  };
  double la[3] = {0, 0, 0};
  if (::getloadavg(la, 3) < 0) la[0] = la[1] = la[2] = -1;
  std::printf(
      "# red/black deploys: %d x %d instance(s) of gravity-testapp, health interval %s, "
      "healthy_threshold %d; %d rollbacks; %d client connections of steady load; sandbox %s\n",
      opt.deploys, opt.instances, gravity::FormatDuration(opt.interval).c_str(), opt.threshold,
      opt.rollbacks, opt.connections, opt.sandbox == gravity::SandboxMode::kOff ? "off" : "strict");
  std::printf("%-34s %9s %9s %9s\n", "figure (ms)", "median", "min", "max");
  row("deploy total (call -> switched)", total, "");
  row("  launching instances", launch, "");
  row("  proxy gate (hand-over -> switch)", gate, "includes health checks");
  row("  outside the gate", deployer_part, "launch, records, control API");
  std::printf("%-34s %9.1f %9s %9s   %s\n", "health-check floor", floor, "", "",
              "(healthy_threshold - 1) x interval");
  row("deploy overhead (total - floor)", overhead, "goal < 100 ms");
  row("rollback to warm (call -> switched)", rollback, "goal < 50 ms");
  std::printf("rollbacks that reused warm instances: %d of %d\n", reused, opt.rollbacks);
  std::printf("load during the deploys: %s\n", ls.Summary().c_str());
  std::printf("load average: %.2f %.2f %.2f\n", la[0], la[1], la[2]);

  (void)deployer.RemoveEnvironment("bench", "prod");
  supervisor.StopThread();
  (*proxy)->Stop(10s);
  return ls.failed == 0 ? 0 : 3;
}
