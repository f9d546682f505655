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
  // Optional: called before every start, the argv to use from then on (the stack file may
  // have changed, e.g. proxy.listen); empty result: keep `argv`.
  std::function<std::vector<std::string>()> current_argv;
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
  // Non-empty: a planned restart while the child runs starts a successor with argv plus
  // these arguments (`--takeover` for the proxy) beside it instead: the successor takes
  // the running process's sockets over and the old one exits by itself once the successor
  // is ready. The successor becomes the child when the old process has exited; if the
  // successor exits first, the takeover failed and the old process stays the child. A
  // successor still there after ready_timeout + stop_grace while the old process runs is
  // killed (the takeover failed; the old process never stopped accepting).
  std::vector<std::string> takeover_args;
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
    pid_t successor = 0;                        // taking over from status.pid
    Clock::TimePoint successor_started_at{};
    std::int64_t successor_started_ms = 0;
    std::optional<Clock::TimePoint> successor_kill_at;  // stuck successor: SIGKILL then
    bool successor_killed = false;                      // ...and it was
    std::string successor_binary;                       // BinaryId when it was started
    bool gate_open = false;                     // ready() returned true (or timed out)
    Clock::TimePoint gate_deadline{};
  };

  void RefreshArgv(Child& c);
  void Start(Child& c);
  void OnExit(Child& c, int wait_status);
  void PlannedRestart(Child& c);
  void StartSuccessor(Child& c);
  void OnSuccessorExit(Child& c, int wait_status);
  void OnHandedOver(Child& c, int wait_status);
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
