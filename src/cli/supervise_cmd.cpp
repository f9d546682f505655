// gravity supervise -f stack.yml: keeps the stack's proxy and daemon running (what
// `gravity up` leaves behind, and what the systemd unit of `gravity install-service` runs).
// Also what `gravity status` shows of it.

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "cli/commands.h"
#include "cli/supervision.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/net.h"
#include "common/process.h"
#include "config/config.h"

namespace gravity::cli {

namespace {

using std::chrono::milliseconds;
using nlohmann::json;

std::int64_t NowMs() { return Clock::Real().WallMs(); }

std::vector<std::string> ProxyArgv(const std::string& self, const config::StackSpec& stack,
                                   const StackPaths& paths) {
  std::vector<std::string> argv = {self,          "proxy",      "run",
                                   "--listen",    stack.proxy_listen.ToString(),
                                   "--control",   paths.proxy_socket,
                                   "--state-dir", paths.proxy_state,
                                   "--access-log", paths.access_log};
  if (stack.proxy_metrics) {
    argv.push_back("--metrics");
    argv.push_back(stack.proxy_metrics->ToString());
  }
  if (stack.proxy_https) {
    argv.push_back("--https-listen");
    argv.push_back(stack.proxy_https->listen.ToString());
    if (stack.proxy_https->redirect_http) argv.push_back("--redirect-http");
  }
  return argv;
}

}  // namespace

supervise::SupervisorOptions SupervisorFor(const config::StackSpec& stack,
                                           const StackPaths& paths) {
  const std::string self = SelfExecutable();
  supervise::SupervisorOptions o;
  o.status_file = paths.supervisor_status;
  o.pid_file = paths.supervisor_pid;

  supervise::ChildSpec proxy;
  proxy.name = "proxy";
  proxy.argv = ProxyArgv(self, stack, paths);
  // proxy.* as the stack file says now: `gravity up` restarts the proxy when they changed.
  proxy.current_argv = [self, file = stack.file, paths]() -> std::vector<std::string> {
    auto now = config::LoadStackSpec(file);
    if (!now.ok()) {
      spdlog::warn("supervisor: {}; the proxy keeps its arguments", now.error());
      return {};
    }
    return ProxyArgv(self, *now, paths);
  };
  proxy.cwd = stack.state_dir;
  proxy.log = paths.proxy_log;
  proxy.pid_file = paths.proxy_pid;
  proxy.restart_signal = kRestartProxySignal;
  proxy.ready = [sock = paths.proxy_socket] { return UnixSocketAnswers(sock); };
  proxy.stop_grace = milliseconds(15'000);
  // A planned restart (`gravity proxy restart`, a new binary or proxy.* settings under
  // `gravity up`) hands the listening sockets to the new process: no gap.
  proxy.takeover_args = {"--takeover"};
  o.children.push_back(std::move(proxy));

  supervise::ChildSpec daemon;
  daemon.name = "daemon";
  daemon.argv = {self, "daemon", "-f", stack.file};
  daemon.cwd = stack.state_dir;
  daemon.log = paths.daemon_out;
  daemon.restart_signal = kRestartDaemonSignal;
  daemon.stop_grace = milliseconds(30'000);
  o.children.push_back(std::move(daemon));
  return o;
}

std::optional<pid_t> RunningSupervisor(const StackPaths& paths) {
  auto rec = ReadPidFile(paths.supervisor_pid);
  if (rec.ok() && PidRecordAlive(*rec)) return rec->pid;
  return std::nullopt;
}

json SupervisionJson(const StackPaths& paths) {
  auto s = supervise::ReadStatusFile(paths.supervisor_status);
  if (!s.ok()) return nullptr;
  auto running = RunningSupervisor(paths);
  const std::int64_t now = NowMs();
  json procs = json::object();
  for (const auto& [name, p] : s->processes) {
    bool live = p.pid > 0 && ProcessAlive(p.pid);
    procs[name] = {{"state", live || p.pid == 0 ? p.state : std::string("gone")},
                   {"pid", live ? p.pid : 0},
                   {"uptime_ms", live ? now - p.started_ms : 0},
                   {"restarts", p.restarts},
                   {"last_exit", p.last_exit},
                   {"last_exit_ms", p.last_exit_ms},
                   {"successor_pid",
                    p.successor_pid > 0 && ProcessAlive(p.successor_pid) ? p.successor_pid : 0}};
  }
  return {{"supervisor",
           {{"running", running.has_value()},
            {"pid", running ? *running : 0},
            {"uptime_ms", running ? now - s->started_ms : 0}}},
          {"processes", procs}};
}

std::string DescribeSupervision(const StackPaths& paths) {
  json j = SupervisionJson(paths);
  if (j.is_null()) return "";
  std::string out;
  const json& sup = j["supervisor"];
  if (sup["running"].get<bool>()) {
    out += "supervisor  pid " + std::to_string(sup["pid"].get<int>()) + ", up " +
           FormatDuration(milliseconds(sup["uptime_ms"].get<std::int64_t>())) + "\n";
  } else {
    out += "supervisor  not running: nothing restarts the proxy or the daemon (gravity up)\n";
  }
  for (const auto& [name, p] : j["processes"].items()) {
    char line[512];
    int pid = p["pid"].get<int>();
    std::snprintf(line, sizeof line, "%-11s %-12s %-10s up %-8s %d restart(s)", name.c_str(),
                  p["state"].get<std::string>().c_str(),
                  pid ? ("pid " + std::to_string(pid)).c_str() : "-",
                  pid ? FormatDuration(milliseconds(p["uptime_ms"].get<std::int64_t>())).c_str()
                      : "-",
                  p["restarts"].get<int>());
    out += line;
    if (int next = p["successor_pid"].get<int>(); next > 0) {
      out.append(", pid ").append(std::to_string(next)).append(" taking over");
    }
    std::string last = p["last_exit"].get<std::string>();
    if (!last.empty()) out += ", last exit: " + last;
    out += "\n";
  }
  return out;
}

// gravity supervise [-f stack.yml] [--log-level L]: runs in the foreground until SIGTERM;
// the proxy and the daemon keep running after it stops (`gravity down` stops them).
int SuperviseCommand(int argc, char** argv) {
  CLI::App app{"Keep the stack's proxy and daemon running (what `gravity up` leaves behind)",
               "gravity supervise"};
  std::string file = "stack.yml";
  std::string level = "info";
  app.add_option("-f,--file", file, "stack file")->capture_default_str();
  app.add_option("--log-level", level, "trace|debug|info|warn|error")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto stack = config::LoadStackSpec(file);
  if (!stack.ok()) {
    std::fprintf(stderr, "gravity supervise: %s\n", stack.error().c_str());
    return 2;
  }
  if (Status st = MakeDirs(stack->state_dir, 0700); !st.ok()) {
    std::fprintf(stderr, "gravity supervise: %s\n", st.message().c_str());
    return 1;
  }
  StackPaths paths = StackPaths::For(stack->state_dir);
  SetupLogging(level, paths.supervisor_log);
  if (Status st = MakeDirs(paths.proxy_state); !st.ok()) {
    std::fprintf(stderr, "gravity supervise: %s\n", st.message().c_str());
  }
  supervise::Supervisor supervisor(SupervisorFor(*stack, paths), Clock::Real());
  return supervisor.Run();
}

}  // namespace gravity::cli
