#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "common/status.h"
#include "runtime/launcher.h"
#include "runtime/ports.h"

namespace gravity::runtime {

// What a caller asks for: one instance of a release in an environment.
struct InstanceSpec {
  std::string app;
  std::string environment;
  std::string release;      // commit
  std::string release_dir;  // working directory
  std::string command;      // run.command
  std::map<std::string, std::string> env;
  SandboxMode sandbox = SandboxMode::kStrict;
  ResourceLimits limits;
  std::vector<std::string> data;  // data directory names (LaunchSpec::data)
};

enum class InstanceState {
  kRunning,   // the process runs (whether it is healthy is the proxy's business)
  kBackoff,   // crashed; restarts at restart_at
  kFailed,    // crashed too often (crash loop): not restarted, keeps its port until stopped
  kStopping,  // being stopped by Stop()
};
const char* InstanceStateName(InstanceState s);

struct InstanceInfo {
  std::string id;
  InstanceSpec spec;
  int port = 0;
  std::string log_path;
  ProcessRef process;
  InstanceState state = InstanceState::kRunning;
  int restarts = 0;       // restarts after crashes, over the instance's life
  std::string last_exit;  // how the last process ended ("exited with status 1"), if it did
  std::chrono::system_clock::time_point started_at{};  // wall time the current process started
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

struct InstanceEvent {
  enum Kind { kStarted, kCrashed, kRestarted, kFailed, kStopped, kAdopted, kOrphanStopped };
  Kind kind;
  std::string id;
  std::string detail;
};

struct SupervisorOptions {
  std::string state_dir;  // records: state_dir/runtime/instances.json; logs: state_dir/logs/...
  int port_first = 20000;
  int port_last = 29999;
  std::chrono::milliseconds stop_grace{10000};
  std::chrono::milliseconds backoff_initial{500};  // doubles per consecutive crash
  std::chrono::milliseconds backoff_max{30000};
  int crash_loop_limit = 5;  // crashes within the window -> failed
  std::chrono::milliseconds crash_loop_window{60000};
  std::chrono::milliseconds tick_interval{200};  // how often the thread checks processes
};

// Keeps instances running. Starts them through the Launcher on a port from the range,
// records each (pid + start time, port, release, spec) in state_dir/runtime/instances.json
// (written atomically after every change), restarts a crashed one after a backoff that
// doubles per consecutive crash, and marks it failed when it crashed crash_loop_limit times
// within crash_loop_window. Instances outlive the Supervisor (and the daemon): Recover()
// re-adopts the recorded ones whose pid and start time still match, restarts recorded ones
// that died meanwhile, and stops instance processes of this owner that no record names.
// Time comes from the injected Clock; Tick() does one round of checks (tests drive it; in
// production a thread calls it every tick_interval).
// Thread-safe: all public methods may be called from any thread; state is guarded by mutex_.
// Launch/stop system calls run outside the lock.
class Supervisor {
 public:
  Supervisor(SupervisorOptions options, Launcher& launcher, Clock& clock);
  ~Supervisor();  // ends the thread; instances keep running
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Loads the records and re-adopts (see class comment). Call once, before anything else.
  Status Recover();
  void StartThread();
  void StopThread();

  // Starts a new instance on a fresh port. Error when it cannot be started at all.
  Result<InstanceInfo> Start(const InstanceSpec& spec);
  // Stops instances (in parallel) and forgets them; unknown ids are ignored.
  void Stop(const std::vector<std::string>& ids);
  // Stops every instance of app/environment (empty environment: all of the app's).
  void StopAll(const std::string& app, const std::string& environment);

  std::vector<InstanceInfo> List() const;
  std::optional<InstanceInfo> Get(const std::string& id) const;

  // One round: notices crashed processes, restarts those whose backoff has passed.
  void Tick();

  // Called (outside the lock) for each event; set before Recover.
  void SetListener(std::function<void(const InstanceEvent&)> listener);

  const SupervisorOptions& options() const { return options_; }
  std::string LogPath(const InstanceSpec& spec, const std::string& id) const;
  // The tag on this supervisor's instance processes (its state dir).
  std::string OwnerTag() const;

 private:
  struct Entry {
    InstanceInfo info;
    Clock::TimePoint restart_at{};
    Clock::TimePoint process_started{};
    int consecutive_crashes = 0;
    std::deque<Clock::TimePoint> crashes;  // within crash_loop_window
  };

  Status PersistLocked() REQUIRES(mutex_);
  InstanceEvent CrashedLocked(Entry& e, const std::string& id, const std::string& how,
                              Clock::TimePoint now) REQUIRES(mutex_);
  void Restart(const InstanceInfo& info, std::vector<InstanceEvent>* events) EXCLUDES(mutex_);
  void Emit(const std::vector<InstanceEvent>& events);
  void TickLoop() EXCLUDES(thread_mutex_);
  std::string ExitOf(const InstanceInfo& info);
  LaunchSpec LaunchSpecOf(const InstanceInfo& info) const;

  const SupervisorOptions options_;
  Launcher& launcher_;
  Clock& clock_;
  const std::string records_path_;
  PortAllocator ports_;

  mutable Mutex mutex_;
  std::map<std::string, Entry> entries_ GUARDED_BY(mutex_);
  long next_seq_ GUARDED_BY(mutex_) = 1;
  std::function<void(const InstanceEvent&)> listener_;  // set before use

  Mutex thread_mutex_;
  std::condition_variable thread_cv_;
  bool thread_stop_ GUARDED_BY(thread_mutex_) = false;
  std::thread thread_;
};

}  // namespace gravity::runtime
