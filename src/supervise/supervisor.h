#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "supervise/restart_policy.h"
#include "supervise/status_file.h"

namespace gravity::supervise {

// One process the supervisor keeps running.
struct ChildSpec {
  std::string name;               // "proxy", "daemon": in logs and the status file
  std::vector<std::string> argv;  // argv[0]: the program (an absolute path)
  std::string cwd;
  std::string log;       // stdout and stderr are appended here; its last line explains exits
  std::string pid_file;  // written after every start ("" = none; the daemon writes its own)
  // The supervisor sends this signal to ask for a planned restart of this child (a new
  // process at once, not counted as a failure, and a crash loop forgiven). 0 = none.
  int restart_signal = 0;
  // At the first start, the next child is started only once this returns true (polled),
  // or after ready_timeout. Empty: ready as soon as started. A child that crash-loops
  // before it was ever ready holds the next one back (a daemon without its proxy could
  // only fail its deploys).
  std::function<bool()> ready;
  std::chrono::milliseconds ready_timeout{15'000};
  // A planned restart sends SIGTERM, then SIGKILL after this.
  std::chrono::milliseconds stop_grace{30'000};
};

struct SupervisorOptions {
  std::vector<ChildSpec> children;  // started in this order
  std::string status_file;          // supervisor.json: rewritten on every change
  std::string pid_file;             // supervisor.pid: taken at start (Conflict when held)
  RestartPolicyOptions policy;
};

// Keeps the stack's long-lived processes (proxy, daemon) running: they are its children,
// so an exit is seen at once (SIGCHLD), whatever caused it. Each exit is fed to the child's
// RestartPolicy: back at once after a healthy run, with backoff after quick exits, and left
// stopped — reported in the status file and the log — once it is crash-looping.
//
// Signals: SIGTERM/SIGINT end Run() and leave the children running (`gravity down` stops
// them in order: daemon, instances, proxy); a child's restart_signal restarts that child.
//
// Single-threaded: Run() owns everything; time comes from the injected Clock (decisions)
// while waiting is sigtimedwait (signals or the next due restart, whichever is first).
class Supervisor {
 public:
  Supervisor(SupervisorOptions options, Clock& clock);
  // Blocks the signals it handles, takes the pid file and runs until SIGTERM/SIGINT.
  // Returns the process exit code.
  int Run();

 private:
  struct Child {
    ChildSpec spec;
    RestartPolicy policy;
    ProcessStatus status;
    Clock::TimePoint started_at{};
    std::optional<Clock::TimePoint> due;        // start at this time
    std::optional<Clock::TimePoint> kill_at;    // planned restart: SIGKILL then
    bool planned = false;                       // the running process was asked to stop
    bool gate_open = false;                     // ready() returned true (or timed out)
    Clock::TimePoint gate_deadline{};
  };

  void Start(Child& c);
  void OnExit(Child& c, int wait_status);
  void PlannedRestart(Child& c);
  void ReapAll();
  void Tick();  // due starts, ready gates, overdue kills
  std::chrono::milliseconds NextWait() const;
  void WriteStatus();

  const std::string status_path_;
  const std::string pid_file_;
  Clock& clock_;
  std::vector<Child> children_;
  const pid_t self_;
  const std::int64_t started_ms_;
};

// The last non-empty line of the file `path` (at most ~300 bytes of it), "" if none.
std::string LastLogLine(const std::string& path);

}  // namespace gravity::supervise
