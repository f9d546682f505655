// gravity up / gravity down: start, reconcile and stop the whole stack described by a
// stack file — the proxy (data plane) and the daemon (control plane) as background
// processes with pid files and logs under state_dir.

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/daemon_client.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/stack.h"
#include "cli/supervision.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/fs.h"
#include "common/net.h"
#include "common/process.h"
#include "config/config.h"
#include "runtime/launcher.h"

namespace gravity::cli {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted = true; }


// True when a daemon answers on admin.listen — and, with `pid`, when it is that process
// (another program on the same port must not pass for ours).
bool AdminAnswers(const config::StackSpec& stack, pid_t pid = 0) {
  DaemonClient client(stack.admin_listen.ToString());
  auto r = client.Request("GET", "/v1/health", "", milliseconds(1000));
  if (!r.ok() || r->status != 200) return false;
  if (pid == 0) return true;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  return j.is_object() && j.value("pid", 0) == pid;
}

std::string TailOf(const std::string& path, size_t lines) {
  auto text = ReadFile(path);
  if (!text.ok()) return "";
  std::string s = *text;
  size_t pos = s.size();
  size_t count = 0;
  while (pos > 0 && count <= lines) {
    pos = s.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
    ++count;
  }
  return s.substr(pos == 0 ? 0 : pos + 1);
}

// Starts `args` (a gravity subcommand) detached: own session, output appended to `log`.
Result<pid_t> StartDetached(const std::vector<std::string>& args, const std::string& log,
                            const std::string& cwd) {
  RETURN_IF_ERROR(MakeDirs(std::filesystem::path(log).parent_path().string()));
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error("cannot open " + log + ": " + std::strerror(errno));
  SpawnOptions o;
  o.argv = {SelfExecutable()};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.cwd = cwd;
  o.stdout_fd = fd;
  o.stderr_fd = fd;
  o.new_session = true;
  auto pid = Spawn(o);
  ::close(fd);
  return pid;
}

// The stack last applied by `up` (its path and text), parsed as it was then.
Result<config::StackSpec> LoadApplied(const StackPaths& paths) {
  ASSIGN_OR_RETURN(std::string saved, ReadFile(paths.applied));
  size_t nl = saved.find('\n');
  if (nl == std::string::npos) return Status::Error(paths.applied + ": malformed");
  return config::ParseStackSpec(std::string_view(saved).substr(nl + 1), saved.substr(0, nl));
}

Status SaveApplied(const config::StackSpec& stack, const StackPaths& paths) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(stack.file));
  return WriteFileAtomic(paths.applied, stack.file + "\n" + text);
}

void StopRecorded(const std::string& what, const std::string& pid_file, milliseconds grace);

// What the running supervisor says of `name` ("proxy", "daemon").
std::optional<supervise::ProcessStatus> Supervised(const StackPaths& paths,
                                                   const std::string& name) {
  auto s = supervise::ReadStatusFile(paths.supervisor_status);
  if (!s.ok()) return std::nullopt;
  auto it = s->processes.find(name);
  if (it == s->processes.end()) return std::nullopt;
  return it->second;
}

// Waits until the supervisor runs `name` as a process other than `old_pid` for which
// `ready(pid)` holds. Fails with the supervisor's reason when it is crash-looping (after an
// exit other than the one at `old_exit_ms`, which the supervisor is asked to retry), or
// when a takeover failed: `old_pid` still runs, alone, with an exit recorded after
// `before_exit_ms` (-1: not a restart).
Status WaitSupervised(pid_t supervisor, const StackPaths& paths, const std::string& name,
                      pid_t old_pid, const std::function<bool(pid_t)>& ready,
                      milliseconds timeout, std::int64_t old_exit_ms = 0,
                      std::int64_t before_exit_ms = -1) {
  auto deadline = steady_clock::now() + timeout;
  std::string last;
  while (steady_clock::now() < deadline) {
    TryReap(supervisor);  // when `up` started it, it is our child
    if (!ProcessAlive(supervisor)) {
      return Status::Error("the supervisor exited; last lines of " + paths.supervisor_log +
                           ":\n" + TailOf(paths.supervisor_log, 10));
    }
    auto p = Supervised(paths, name);
    if (p && p->state == "crash-loop" && p->last_exit_ms != old_exit_ms) {
      return Status::Unavailable(name + " is crash-looping: " + p->last_exit);
    }
    if (p) last = p->last_exit;
    if (p && before_exit_ms >= 0 && old_pid > 0 && p->pid == old_pid && p->state == "running" &&
        p->successor_pid == 0 && p->last_exit_ms != before_exit_ms) {
      std::string why = name;
      why.append(" was not replaced: ").append(p->last_exit).append("; pid ");
      why.append(std::to_string(old_pid)).append(" keeps serving");
      return Status::Error(why);
    }
    if (p && p->pid > 0 && p->pid != old_pid && p->state == "running" && ready(p->pid)) {
      return Status::Ok();
    }
    Clock::Real().SleepFor(milliseconds(20));
  }
  return Status::Error(name + " did not come up within " + FormatDuration(timeout) +
                       (last.empty() ? std::string() : "; last exit: " + last));
}

bool ProxyReady(const StackPaths& paths) { return UnixSocketAnswers(paths.proxy_socket); }

// Starts the supervisor for `stack`, which starts the proxy, then the daemon. A proxy or
// daemon left running without a supervisor (its supervisor was killed) is stopped first:
// only a child can be supervised. The proxy comes back with its routes from its state
// file, the daemon re-adopts the instances.
Status StartSupervisor(const config::StackSpec& stack, const StackPaths& paths) {
  StopRecorded("unsupervised daemon", paths.daemon_pid, milliseconds(30000));
  StopRecorded("unsupervised proxy", paths.proxy_pid, milliseconds(15000));
  ::unlink(paths.supervisor_status.c_str());
  ASSIGN_OR_RETURN(pid_t pid, StartDetached({"supervise", "-f", stack.file},
                                            paths.supervisor_log, stack.state_dir));
  RETURN_IF_ERROR(WaitSupervised(
      pid, paths, "proxy", 0, [&](pid_t) { return ProxyReady(paths); }, milliseconds(20000)));
  RETURN_IF_ERROR(WaitSupervised(
      pid, paths, "daemon", 0, [&](pid_t p) { return AdminAnswers(stack, p); },
      milliseconds(40000)));
  return Status::Ok();
}

// Asks the supervisor to restart `name` and waits for the new process to be ready.
Status RestartSupervised(pid_t supervisor, const StackPaths& paths, const std::string& name,
                         int signal, const std::function<bool(pid_t)>& ready,
                         milliseconds timeout) {
  auto before = Supervised(paths, name);
  pid_t old = before ? before->pid : 0;
  std::int64_t old_exit = before && before->state == "crash-loop" ? before->last_exit_ms : 0;
  if (::kill(supervisor, signal) != 0) {
    return Status::Error("cannot signal the supervisor (pid " + std::to_string(supervisor) +
                         "): " + std::strerror(errno));
  }
  return WaitSupervised(supervisor, paths, name, old, ready, timeout, old_exit,
                        before ? before->last_exit_ms : 0);
}

// The proxy must be replaced when it listens elsewhere now, when the `gravity` binary on
// disk is not the one it runs, or when it is not running (crash loop).
std::string ProxyChange(const config::StackSpec& stack, const StackPaths& paths) {
  auto applied = LoadApplied(paths);
  if (applied.ok() && (applied->proxy_listen != stack.proxy_listen ||
                       applied->proxy_metrics != stack.proxy_metrics ||
                       applied->proxy_https.has_value() != stack.proxy_https.has_value() ||
                       (stack.proxy_https &&
                        (applied->proxy_https->listen != stack.proxy_https->listen ||
                         applied->proxy_https->redirect_http != stack.proxy_https->redirect_http)))) {
    return "proxy.listen/metrics/https changed";
  }
  auto p = Supervised(paths, "proxy");
  if (p && p->state == "crash-loop") return "the proxy was crash-looping";
  if (p && !p->binary.empty() && p->binary != supervise::BinaryId(SelfExecutable())) {
    return "the gravity binary changed";
  }
  return "";
}

// The proxy, under the supervisor: started with it, or restarted when ProxyChange says so.
Result<std::string> EnsureProxy(const config::StackSpec& stack, const StackPaths& paths,
                                pid_t supervisor) {
  std::string change = ProxyChange(stack, paths);
  if (change.empty() && ProxyReady(paths)) return std::string("running");
  if (change.empty()) change = "the proxy does not answer";
  // The supervisor starts the new proxy with --takeover: it receives the running proxy's
  // listening sockets and the old one stops only once the new one serves (no gap).
  std::printf("change  %s: restarting the proxy on %s\n", change.c_str(),
              stack.proxy_listen.ToString().c_str());
  std::fflush(stdout);
  RETURN_IF_ERROR(RestartSupervised(
      supervisor, paths, "proxy", kRestartProxySignal, [&](pid_t) { return ProxyReady(paths); },
      milliseconds(30000)));
  return std::string("restarted");
}

// The daemon, under the supervisor: kept when the stack and the binary are unchanged,
// restarted otherwise (instances and the proxy keep serving meanwhile; the new daemon
// re-adopts the instances and applies the difference).
Result<std::string> EnsureDaemon(const config::StackSpec& stack, const StackPaths& paths,
                                 pid_t supervisor) {
  auto applied = LoadApplied(paths);
  auto p = Supervised(paths, "daemon");
  std::vector<std::string> changes;
  if (applied.ok()) changes = config::Diff(*applied, stack).Describe();
  if (p && p->state == "crash-loop") changes.push_back("the daemon was crash-looping");
  if (p && !p->binary.empty() && p->binary != supervise::BinaryId(SelfExecutable())) {
    changes.push_back("the gravity binary changed");
  }
  if (applied.ok() && changes.empty() && p && p->pid > 0 && AdminAnswers(stack, p->pid)) {
    return std::string("running");
  }
  for (const auto& line : changes) std::printf("change  %s\n", line.c_str());
  std::fflush(stdout);
  RETURN_IF_ERROR(RestartSupervised(
      supervisor, paths, "daemon", kRestartDaemonSignal,
      [&](pid_t pid) { return AdminAnswers(stack, pid); }, milliseconds(60000)));
  return std::string("restarted");
}

// SIGTERM, then SIGKILL after `grace`; removes the pid file.
void StopRecorded(const std::string& what, const std::string& pid_file, milliseconds grace) {
  auto rec = ReadPidFile(pid_file);
  if (rec.ok() && PidRecordAlive(*rec)) {
    std::printf("stopping %s (pid %d)\n", what.c_str(), rec->pid);
    ::kill(rec->pid, SIGTERM);
    auto deadline = steady_clock::now() + grace;
    while (steady_clock::now() < deadline && PidRecordAlive(*rec)) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (PidRecordAlive(*rec)) {
      std::printf("%s did not stop within %lldms: killing it\n", what.c_str(),
                  static_cast<long long>(grace.count()));
      ::kill(rec->pid, SIGKILL);
      for (int i = 0; i < 200 && PidRecordAlive(*rec); ++i) {
        std::this_thread::sleep_for(milliseconds(10));
      }
    }
  }
  ::unlink(pid_file.c_str());
}

int Down(const config::StackSpec& stack) {
  StackPaths paths = StackPaths::For(stack.state_dir);
  // The supervisor first, so that nothing comes back; then the daemon (instances outlive
  // it by design), then every instance this stack's daemon started, found by the owner tag
  // on their command lines, then the proxy.
  StopRecorded("supervisor", paths.supervisor_pid, milliseconds(10000));
  // A proxy that was taking over when the supervisor stopped is in no pid file yet.
  pid_t successor = 0;
  if (auto s = supervise::ReadStatusFile(paths.supervisor_status); s.ok()) {
    auto it = s->processes.find("proxy");
    if (it != s->processes.end()) successor = it->second.successor_pid;
  }
  StopRecorded("daemon", paths.daemon_pid, milliseconds(30000));
  runtime::ProcessLauncher launcher(SelfExecutable(), stack.state_dir);
  auto owned = launcher.FindOwned(stack.state_dir);
  if (!owned.empty()) std::printf("stopping %zu instance(s)\n", owned.size());
  std::vector<std::thread> stoppers;
  for (const auto& ref : owned) {
    stoppers.emplace_back([&launcher, ref] { launcher.Stop(ref, std::chrono::seconds(10)); });
  }
  for (auto& t : stoppers) t.join();
  if (successor > 0 && ProcessAlive(successor)) {
    std::printf("stopping the proxy taking over (pid %d)\n", successor);
    ::kill(successor, SIGTERM);
  }
  StopRecorded("proxy", paths.proxy_pid, milliseconds(15000));
  for (int i = 0; i < 1500 && successor > 0 && ProcessAlive(successor); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  if (successor > 0 && ProcessAlive(successor)) ::kill(successor, SIGKILL);
  ::unlink(paths.proxy_socket.c_str());
  std::printf("stack %s is down (state kept in %s)\n", stack.file.c_str(),
              stack.state_dir.c_str());
  return 0;
}

int Up(const config::StackSpec& stack, bool detach) {
  StackPaths paths = StackPaths::For(stack.state_dir);
  if (auto st = MakeDirs(stack.state_dir, 0700); !st.ok()) {
    std::fprintf(stderr, "gravity up: %s\n", st.message().c_str());
    return 1;
  }
  std::string proxy_what, daemon_what;
  if (auto sup = RunningSupervisor(paths)) {
    auto proxy = EnsureProxy(stack, paths, *sup);
    if (!proxy.ok()) {
      std::fprintf(stderr, "gravity up: %s\n", proxy.error().c_str());
      return 1;
    }
    auto daemon = EnsureDaemon(stack, paths, *sup);
    if (!daemon.ok()) {
      std::fprintf(stderr, "gravity up: %s\n", daemon.error().c_str());
      return 1;
    }
    proxy_what = *proxy;
    daemon_what = *daemon;
  } else {
    if (Status st = StartSupervisor(stack, paths); !st.ok()) {
      std::fprintf(stderr, "gravity up: %s\n", st.message().c_str());
      return 1;
    }
    proxy_what = daemon_what = "started";
  }
  if (Status st = SaveApplied(stack, paths); !st.ok()) {
    std::fprintf(stderr, "gravity up: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("proxy   %s on %s (supervised)\n", proxy_what.c_str(),
              stack.proxy_listen.ToString().c_str());
  std::printf("daemon  %s, API on http://%s/ (supervised)\n", daemon_what.c_str(),
              stack.admin_listen.ToString().c_str());
  std::fflush(stdout);
  DaemonClient client = DaemonClient::For(stack);
  // A supervised daemon that exits comes back: following ends only when it cannot.
  auto daemon_alive = [&paths] {
    auto rec = ReadPidFile(paths.daemon_pid);
    if (rec.ok() && PidRecordAlive(*rec)) return true;
    auto p = Supervised(paths, "daemon");
    return RunningSupervisor(paths).has_value() && !(p && p->state == "crash-loop");
  };
  if (detach) return WaitForFirstDeploys(client, stack, daemon_alive);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  FollowProgress(client, stack, g_interrupted, daemon_alive);
  std::printf("\ninterrupted: stopping the stack\n");
  return Down(stack);
}

// gravity proxy restart: a new proxy process for the stack, started by the supervisor.
int RestartProxy(const config::StackSpec& stack) {
  StackPaths paths = StackPaths::For(stack.state_dir);
  auto sup = RunningSupervisor(paths);
  if (!sup) {
    std::fprintf(stderr, "gravity proxy restart: no supervisor runs for %s (gravity up -f %s)\n",
                 stack.state_dir.c_str(), stack.file.c_str());
    return 1;
  }
  auto start = steady_clock::now();
  Status st = RestartSupervised(*sup, paths, "proxy", kRestartProxySignal,
                                [&](pid_t) { return ProxyReady(paths); }, milliseconds(30000));
  if (!st.ok()) {
    std::fprintf(stderr, "gravity proxy restart: %s\n", st.message().c_str());
    return 1;
  }
  auto p = Supervised(paths, "proxy");
  std::printf("proxy restarted (pid %d), serving after %lldms\n", p ? p->pid : 0,
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count()));
  return 0;
}

}  // namespace

int ProxyRestartCommand(int argc, char** argv) {
  CLI::App app{"Start a new proxy process for the stack (routes come back from its state file)",
               "gravity proxy restart"};
  std::string file = "stack.yml";
  app.add_option("-f,--file", file, "stack file")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto stack = config::LoadStackSpec(file);
  if (!stack.ok()) {
    std::fprintf(stderr, "%s\n", stack.error().c_str());
    return 2;
  }
  return RestartProxy(*stack);
}

int StackCommand(int argc, char** argv) {
  std::string name = argv[0];
  CLI::App app{name == "up" ? "Start or reconcile the stack described by a stack file"
                            : "Stop instances, daemon and proxy of a stack (state is kept)",
               "gravity " + name};
  std::string file = "stack.yml";
  bool detach = false;
  app.add_option("-f,--file", file, "stack file")->capture_default_str();
  if (name == "up") {
    app.add_flag("--detach,-d", detach,
                 "return when every environment's first deploy has finished");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto stack = config::LoadStackSpec(file);
  if (!stack.ok()) {
    std::fprintf(stderr, "%s\n", stack.error().c_str());
    return 2;
  }
  return name == "up" ? Up(*stack, detach) : Down(*stack);
}

}  // namespace gravity::cli
