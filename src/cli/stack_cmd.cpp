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
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/daemon_client.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/stack.h"
#include "common/fs.h"
#include "common/process.h"
#include "config/config.h"
#include "runtime/launcher.h"

namespace gravity::cli {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted = true; }

bool UnixSocketAnswers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

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

// Polls `ready` until true, the process dies, or the deadline passes.
Status WaitReady(const std::string& what, pid_t pid, const std::string& log,
                 const std::function<bool()>& ready, milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    if (ready()) return Status::Ok();
    if (auto st = TryReap(pid); st || !ProcessAlive(pid)) {
      return Status::Error(what + " exited at start" +
                           (st ? " (" + DescribeWaitStatus(*st) + ")" : std::string()) +
                           "; last lines of " + log + ":\n" + TailOf(log, 10));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return Status::Error(what + " did not answer within " + std::to_string(timeout.count()) +
                       "ms; see " + log);
}

Result<config::StackSpec> LoadApplied(const StackPaths& paths);
void StopRecorded(const std::string& what, const std::string& pid_file, milliseconds grace);

Result<bool> EnsureProxy(const config::StackSpec& stack, const StackPaths& paths) {
  if (auto rec = ReadPidFile(paths.proxy_pid); rec.ok() && PidRecordAlive(*rec)) {
    auto applied = LoadApplied(paths);
    bool moved = applied.ok() && (applied->proxy_listen != stack.proxy_listen ||
                                  applied->proxy_metrics != stack.proxy_metrics);
    if (!moved && UnixSocketAnswers(paths.proxy_socket)) return false;  // reused
    if (moved) {
      // Listening elsewhere needs a new proxy: its routes come back from its state file at
      // once, but connections to the old address end here.
      std::printf("change  proxy.listen/metrics: restarting the proxy on %s\n",
                  stack.proxy_listen.ToString().c_str());
      StopRecorded("proxy", paths.proxy_pid, milliseconds(15000));
    }
  }
  std::vector<std::string> args = {"proxy",       "run",
                                   "--listen",    stack.proxy_listen.ToString(),
                                   "--control",   paths.proxy_socket,
                                   "--state-dir", paths.proxy_state,
                                   "--access-log", paths.access_log};
  if (stack.proxy_metrics) {
    args.push_back("--metrics");
    args.push_back(stack.proxy_metrics->ToString());
  }
  RETURN_IF_ERROR(MakeDirs(paths.proxy_state));
  ASSIGN_OR_RETURN(pid_t pid, StartDetached(args, paths.proxy_log, stack.state_dir));
  RETURN_IF_ERROR(WritePidFile(paths.proxy_pid, pid));
  RETURN_IF_ERROR(WaitReady(
      "proxy", pid, paths.proxy_log, [&] { return UnixSocketAnswers(paths.proxy_socket); },
      milliseconds(15000)));
  return true;
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

// Starts the daemon, or keeps the running one when the stack is unchanged. A changed stack
// restarts the daemon (instances and the proxy keep serving meanwhile; the new daemon
// re-adopts the instances and applies the difference). Returns what it did.
Result<std::string> EnsureDaemon(const config::StackSpec& stack, const StackPaths& paths) {
  if (auto rec = ReadPidFile(paths.daemon_pid); rec.ok() && PidRecordAlive(*rec)) {
    auto applied = LoadApplied(paths);
    config::StackDiff diff;
    if (applied.ok()) diff = config::Diff(*applied, stack);
    if (applied.ok() && diff.empty() && AdminAnswers(stack, rec->pid)) {
      return std::string("running");
    }
    if (applied.ok()) {
      for (const auto& line : diff.Describe()) std::printf("change  %s\n", line.c_str());
    }
    StopRecorded("daemon (to apply the changed stack)", paths.daemon_pid, milliseconds(30000));
  }
  ASSIGN_OR_RETURN(pid_t pid, StartDetached({"daemon", "-f", stack.file}, paths.daemon_out,
                                            stack.state_dir));
  RETURN_IF_ERROR(WaitReady(
      "daemon", pid, paths.daemon_out, [&] { return AdminAnswers(stack, pid); },
      milliseconds(30000)));
  RETURN_IF_ERROR(SaveApplied(stack, paths));
  return std::string("started");
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
  // The daemon first (instances outlive it by design), then every instance this stack's
  // daemon started, found by the owner tag on their command lines, then the proxy.
  StopRecorded("daemon", paths.daemon_pid, milliseconds(30000));
  runtime::ProcessLauncher launcher(SelfExecutable(), stack.state_dir);
  auto owned = launcher.FindOwned(stack.state_dir);
  if (!owned.empty()) std::printf("stopping %zu instance(s)\n", owned.size());
  std::vector<std::thread> stoppers;
  for (const auto& ref : owned) {
    stoppers.emplace_back([&launcher, ref] { launcher.Stop(ref, std::chrono::seconds(10)); });
  }
  for (auto& t : stoppers) t.join();
  StopRecorded("proxy", paths.proxy_pid, milliseconds(15000));
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
  auto proxy = EnsureProxy(stack, paths);
  if (!proxy.ok()) {
    std::fprintf(stderr, "gravity up: %s\n", proxy.error().c_str());
    return 1;
  }
  std::printf("proxy   %s on %s\n", *proxy ? "started" : "running",
              stack.proxy_listen.ToString().c_str());
  auto daemon = EnsureDaemon(stack, paths);
  if (!daemon.ok()) {
    std::fprintf(stderr, "gravity up: %s\n", daemon.error().c_str());
    return 1;
  }
  std::printf("daemon  %s, API on http://%s/\n", daemon->c_str(),
              stack.admin_listen.ToString().c_str());
  std::fflush(stdout);
  DaemonClient client = DaemonClient::For(stack);
  auto daemon_alive = [&paths] {
    auto rec = ReadPidFile(paths.daemon_pid);
    return rec.ok() && PidRecordAlive(*rec);
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

}  // namespace

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
