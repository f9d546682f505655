#include "supervise/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/duration.h"
#include "common/fs.h"
#include "common/process.h"
#include "daemon/pid_file.h"

namespace gravity::supervise {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

void NoOp(int) {}

}  // namespace

std::string LastLogLine(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t size = ::lseek(fd, 0, SEEK_END);
  off_t from = std::max<off_t>(0, size - 4096);
  std::string tail(static_cast<size_t>(size - from), '\0');
  ssize_t n = ::pread(fd, tail.data(), tail.size(), from);
  ::close(fd);
  tail.resize(n > 0 ? static_cast<size_t>(n) : 0);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r' || tail.back() == ' ')) {
    tail.pop_back();
  }
  size_t nl = tail.rfind('\n');
  std::string line = nl == std::string::npos ? tail : tail.substr(nl + 1);
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

Supervisor::Supervisor(SupervisorOptions options, Clock& clock)
    : status_path_(std::move(options.status_file)),
      pid_file_(std::move(options.pid_file)),
      clock_(clock),
      self_(::getpid()),
      started_ms_(clock.WallMs()) {
  for (auto& spec : options.children) {
    Child c{std::move(spec), RestartPolicy(options.policy)};  // the rest: member defaults
    c.due = clock_.Now();
    children_.push_back(std::move(c));
  }
}

void Supervisor::RefreshArgv(Child& c) {
  if (!c.spec.current_argv) return;
  std::vector<std::string> argv = c.spec.current_argv();
  if (!argv.empty()) c.spec.argv = std::move(argv);
}

void Supervisor::Start(Child& c) {
  c.due.reset();
  c.planned = false;
  c.kill_at.reset();
  RefreshArgv(c);
  int fd = ::open(c.spec.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  SpawnOptions o;
  o.argv = c.spec.argv;
  o.cwd = c.spec.cwd;
  o.stdout_fd = fd;
  o.stderr_fd = fd;
  auto pid = Spawn(o);
  if (fd >= 0) ::close(fd);
  c.status.binary = BinaryId(c.spec.argv.front());
  if (!pid.ok()) {
    // As good as an exit at once: the policy backs off and, in the end, gives up.
    spdlog::error("supervisor: cannot start {}: {}", c.spec.name, pid.error());
    c.started_at = clock_.Now();
    c.status.pid = 0;
    OnExit(c, -1);
    return;
  }
  c.status.pid = *pid;
  c.status.state = "running";
  c.started_at = clock_.Now();
  c.status.started_ms = clock_.WallMs();
  if (!c.gate_open) c.gate_deadline = clock_.Now() + c.spec.ready_timeout;
  if (!c.spec.pid_file.empty()) {
    if (Status st = daemon::WritePidFile(c.spec.pid_file, *pid); !st.ok()) {
      spdlog::error("supervisor: {}", st.message());
    }
  }
  spdlog::info("supervisor: started {} (pid {})", c.spec.name, *pid);
  WriteStatus();
}

void Supervisor::OnExit(Child& c, int wait_status) {
  const auto ran = duration_cast<milliseconds>(clock_.Now() - c.started_at);
  std::string how = wait_status < 0 ? "could not be started" : DescribeWaitStatus(wait_status);
  std::string line = LastLogLine(c.spec.log);
  std::string reason = line.empty() ? how : how + ": " + line;
  pid_t old = c.status.pid;
  c.status.pid = 0;
  c.status.last_exit = reason;
  c.status.last_exit_ms = clock_.WallMs();
  if (!c.spec.pid_file.empty()) ::unlink(c.spec.pid_file.c_str());
  if (c.planned) {
    spdlog::info("supervisor: {} (pid {}) stopped for a restart; starting it again",
                 c.spec.name, old);
    c.policy.Reset();
    c.status.state = "restarting";
    c.due = clock_.Now();
    WriteStatus();
    return;
  }
  RestartDecision d = c.policy.OnExit(ran);
  if (d.restart) {
    ++c.status.restarts;
    c.status.state = d.delay.count() == 0 ? "restarting" : "backoff";
    c.due = clock_.Now() + d.delay;
    spdlog::warn("supervisor: {} (pid {}) {} after {}; {} (restart {})", c.spec.name, old,
                 reason, FormatDuration(ran), d.Describe(), c.status.restarts);
  } else {
    c.status.state = "crash-loop";
    c.status.last_exit = reason + " (" + std::to_string(d.quick_exits) +
                         " quick exits in a row: not restarting; `gravity up` tries again)";
    spdlog::error("supervisor: {} (pid {}) {} after {}; {}: not restarting it until "
                  "`gravity up` asks again",
                  c.spec.name, old, reason, FormatDuration(ran), d.Describe());
  }
  WriteStatus();
}

// Starts argv + takeover_args beside the running process (see ChildSpec::takeover_args).
void Supervisor::StartSuccessor(Child& c) {
  RefreshArgv(c);
  int fd = ::open(c.spec.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  SpawnOptions o;
  o.argv = c.spec.argv;
  o.argv.insert(o.argv.end(), c.spec.takeover_args.begin(), c.spec.takeover_args.end());
  o.cwd = c.spec.cwd;
  o.stdout_fd = fd;
  o.stderr_fd = fd;
  auto pid = Spawn(o);
  if (fd >= 0) ::close(fd);
  if (!pid.ok()) {
    spdlog::error("supervisor: cannot start a successor for {}: {}", c.spec.name, pid.error());
    c.status.last_exit = "takeover failed: ";
    c.status.last_exit.append(pid.error());
    WriteStatus();
    return;
  }
  c.successor = *pid;
  c.successor_started_at = clock_.Now();
  c.successor_started_ms = clock_.WallMs();
  c.successor_kill_at = clock_.Now() + c.spec.ready_timeout + c.spec.stop_grace;
  c.successor_binary = BinaryId(c.spec.argv.front());
  c.status.successor_pid = *pid;
  c.status.state = "taking-over";
  spdlog::info("supervisor: started {} (pid {}) to take over from pid {}", c.spec.name, *pid,
               c.status.pid);
  WriteStatus();
}

// The successor exited while the old process still runs: the takeover failed, and the old
// process, which changes nothing until the successor is ready, keeps serving.
void Supervisor::OnSuccessorExit(Child& c, int wait_status) {
  std::string reason = "takeover by pid ";
  reason.append(std::to_string(c.successor)).append(" failed: ");
  if (c.successor_killed) {
    reason.append("it did not take over within ")
        .append(FormatDuration(c.spec.ready_timeout + c.spec.stop_grace))
        .append(" and was killed");
  } else {
    reason.append(DescribeWaitStatus(wait_status));
    std::string line = LastLogLine(c.spec.log);
    if (!line.empty()) reason.append(": ").append(line);
  }
  spdlog::error("supervisor: {} {}; pid {} keeps serving", c.spec.name, reason, c.status.pid);
  c.successor = 0;
  c.successor_kill_at.reset();
  c.successor_killed = false;
  c.status.successor_pid = 0;
  c.status.state = "running";
  c.status.last_exit = reason;
  c.status.last_exit_ms = clock_.WallMs();
  WriteStatus();
}

// The old process exited while its successor runs: the successor is the child now.
void Supervisor::OnHandedOver(Child& c, int wait_status) {
  spdlog::info("supervisor: {} (pid {}) handed over to pid {} and {}", c.spec.name,
               c.status.pid, c.successor, DescribeWaitStatus(wait_status));
  std::string how = "handed over to pid ";
  how.append(std::to_string(c.successor)).append(", then ").append(DescribeWaitStatus(wait_status));
  c.status.last_exit = how;
  c.status.last_exit_ms = clock_.WallMs();
  // After "ready" the old process exits by itself, with status 0; anything else (a crash
  // or kill -9 while the successor started) is an exit nobody asked for.
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) ++c.status.restarts;
  c.status.pid = c.successor;
  c.status.successor_pid = 0;
  c.status.started_ms = c.successor_started_ms;
  c.status.binary = c.successor_binary;
  c.status.state = "running";
  c.started_at = c.successor_started_at;
  c.successor = 0;
  c.successor_kill_at.reset();
  c.successor_killed = false;
  c.planned = false;
  c.kill_at.reset();
  c.policy.Reset();
  if (!c.spec.pid_file.empty()) {
    if (Status st = daemon::WritePidFile(c.spec.pid_file, c.status.pid); !st.ok()) {
      spdlog::error("supervisor: {}", st.message());
    }
  }
  WriteStatus();
}

void Supervisor::PlannedRestart(Child& c) {
  if (c.successor > 0) return;  // a takeover is under way already
  if (c.status.pid > 0 && !c.spec.takeover_args.empty()) {
    spdlog::info("supervisor: restarting {} (pid {}) as asked, by a takeover", c.spec.name,
                 c.status.pid);
    StartSuccessor(c);
    return;
  }
  if (c.status.pid > 0) {
    spdlog::info("supervisor: restarting {} (pid {}) as asked", c.spec.name, c.status.pid);
    c.planned = true;
    c.kill_at = clock_.Now() + c.spec.stop_grace;
    ::kill(c.status.pid, SIGTERM);
    return;
  }
  // Not running (crash loop or backoff): try again now, with a clean slate.
  spdlog::info("supervisor: starting {} again as asked", c.spec.name);
  c.policy.Reset();
  c.due = clock_.Now();
}

void Supervisor::ReapAll() {
  for (;;) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) return;
    for (auto& c : children_) {
      if (c.successor == pid) {
        OnSuccessorExit(c, st);
      } else if (c.status.pid == pid && c.successor > 0) {
        OnHandedOver(c, st);
      } else if (c.status.pid == pid) {
        OnExit(c, st);
      }
    }
  }
}

void Supervisor::Tick() {
  const auto now = clock_.Now();
  for (size_t i = 0; i < children_.size(); ++i) {
    Child& c = children_[i];
    // A child starts only when everything before it is ready (at the first start).
    bool gated = false;
    for (size_t j = 0; j < i; ++j) gated = gated || !children_[j].gate_open;
    if (c.due && *c.due <= now && !gated) Start(c);
    if (!c.gate_open && c.status.pid > 0) {
      if (!c.spec.ready || c.spec.ready()) {
        c.gate_open = true;
      } else if (clock_.Now() >= c.gate_deadline) {
        spdlog::warn("supervisor: {} not ready after {}; starting the rest anyway",
                     c.spec.name, FormatDuration(c.spec.ready_timeout));
        c.gate_open = true;
      }
    }
    if (c.kill_at && *c.kill_at <= now && c.status.pid > 0) {
      spdlog::warn("supervisor: {} (pid {}) did not stop within {}: killing it", c.spec.name,
                   c.status.pid, FormatDuration(c.spec.stop_grace));
      ::kill(c.status.pid, SIGKILL);
      c.kill_at.reset();
    }
    // A successor that has not taken over by then is stuck: the old process never stopped
    // accepting (it would have exited within its drain timeout), so it keeps serving.
    if (c.successor_kill_at && *c.successor_kill_at <= now && c.successor > 0) {
      spdlog::warn("supervisor: {} successor (pid {}) did not take over within {}: killing it",
                   c.spec.name, c.successor,
                   FormatDuration(c.spec.ready_timeout + c.spec.stop_grace));
      ::kill(c.successor, SIGKILL);
      c.successor_kill_at.reset();
      c.successor_killed = true;
    }
  }
}

std::chrono::milliseconds Supervisor::NextWait() const {
  const auto now = clock_.Now();
  milliseconds wait(1000);  // the status file stays fresh; nothing else depends on it
  auto until = [&](Clock::TimePoint t) {
    return std::max(milliseconds(0), duration_cast<milliseconds>(t - now) + milliseconds(1));
  };
  for (const auto& c : children_) {
    if (c.due) wait = std::min(wait, until(*c.due));
    if (c.kill_at) wait = std::min(wait, until(*c.kill_at));
    if (c.successor_kill_at) wait = std::min(wait, until(*c.successor_kill_at));
    if (!c.gate_open && c.status.pid > 0) wait = std::min(wait, milliseconds(20));
  }
  return wait;
}

void Supervisor::WriteStatus() {
  SupervisorStatus s;
  s.pid = self_;
  s.started_ms = started_ms_;
  for (const auto& c : children_) s.processes[c.spec.name] = c.status;
  if (Status st = WriteStatusFile(status_path_, s); !st.ok()) {
    spdlog::error("supervisor: {}", st.message());
  }
}

int Supervisor::Run() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&set, s);
  for (const auto& c : children_) {
    if (c.spec.restart_signal) sigaddset(&set, c.spec.restart_signal);
  }
  // SIGCHLD must not be ignored for sigtimedwait to see it; it stays blocked.
  struct sigaction sa {};
  sa.sa_handler = NoOp;
  ::sigaction(SIGCHLD, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);

  if (!pid_file_.empty()) {
    if (Status st = daemon::TakePidFile(
            pid_file_, "gravity supervisor",
            std::filesystem::path(pid_file_).parent_path().string());
        !st.ok()) {
      spdlog::error("supervisor: {}", st.message());
      std::fprintf(stderr, "gravity supervisor: %s\n", st.message().c_str());
      return 1;
    }
  }
  spdlog::info("supervisor: started (pid {})", self_);
  WriteStatus();
  for (;;) {
    ReapAll();
    Tick();
    auto wait = NextWait();
    timespec ts{static_cast<time_t>(wait.count() / 1000),
                static_cast<long>((wait.count() % 1000) * 1'000'000)};
    int sig = ::sigtimedwait(&set, nullptr, &ts);
    if (sig < 0) {
      if (errno == EAGAIN) WriteStatus();
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) break;
    for (auto& c : children_) {
      if (c.spec.restart_signal == sig) PlannedRestart(c);
    }
  }
  spdlog::info("supervisor: stopping; the supervised processes keep running");
  for (auto& c : children_) {
    if (c.status.state == "running" || c.status.state == "taking-over") {
      c.status.state = "unsupervised";
    }
  }
  WriteStatus();
  if (!pid_file_.empty()) ::unlink(pid_file_.c_str());
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace gravity::supervise
