#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/resource_limits.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace gravity::runtime {

// What to start: one instance of a release.
struct LaunchSpec {
  std::string id;                          // unique instance id, e.g. "site-staging-3f2a9c1-4"
  std::string app;                         // GRAVITY_APP
  std::string environment;                 // GRAVITY_ENV
  std::string release;                     // GRAVITY_RELEASE (the commit)
  std::string release_dir;                 // working directory (read-only once sealed)
  std::string command;                     // run with /bin/sh -c
  std::map<std::string, std::string> env;  // the environment's `env`
  int port = 0;                            // $PORT
  std::string log_path;                    // timestamped stdout/stderr lines are appended here
  SandboxMode sandbox = SandboxMode::kStrict;
  ResourceLimits limits;  // enforced in the sandbox
  // Names of the environment's data directories: <owner>/data/<app>/<environment>/<name>,
  // created for the app's uid and bound read-write; $GRAVITY_DATA_DIR is their parent.
  std::vector<std::string> data;
};

// A started process, identified for good by pid + start time (a reused pid has another
// start time). The pid leads its own session and process group.
struct ProcessRef {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // clock ticks since boot (/proc/PID/stat field 22)
  std::string cgroup;            // relative cgroup of a sandboxed instance (cgroup.h); or ""
};

// The one seam through which instances are started and stopped, so that a sandbox can be
// added here later without touching callers.
class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts the instance; returns once the process exists (not once it listens).
  virtual Result<ProcessRef> Launch(const LaunchSpec& spec) = 0;
  // Stops it: SIGTERM to its group, SIGKILL after `grace`. Returns when it is gone.
  virtual void Stop(const ProcessRef& ref, std::chrono::milliseconds grace) = 0;
  // True while the process (same pid and start time) runs. Reaps it when it is our child.
  virtual bool Alive(const ProcessRef& ref) = 0;
  // How the process ended, when known ("exited with status 3"); empty when unknown.
  virtual std::string ExitDescription(const ProcessRef& ref) = 0;
  // Processes this launcher started for `owner` that are still running (also those started
  // by an earlier daemon), so that orphans can be found after a crash.
  virtual std::vector<ProcessRef> FindOwned(const std::string& owner) = 0;
};

// Runs each instance under its wrapper:
//   gravity _instance --owner OWNER --id ID --log FILE [sandbox flags] -- /bin/sh -c COMMAND
// The wrapper (root, in the daemon's namespaces) creates the instance's cgroup and starts
// the shell in the sandbox (sandbox.h): uid SandboxUid(app), the release directory
// read-only, the owner's state dir hidden. Stop() removes the cgroup with whatever is left
// in it (the wrapper removes it itself when the instance ends on its own).
// started in the release directory in a new session (so it survives the daemon, and its
// group can be signalled as a whole). The `_instance` wrapper (instance_wrapper.h) runs the
// shell in the same group, timestamps each stdout/stderr line into the log file, and exits
// with the shell's status; it needs no daemon, so logging goes on while the daemon is down.
// Environment: the daemon's, plus the spec's env, PORT, GRAVITY_APP/GRAVITY_ENV/
// GRAVITY_RELEASE, and PATH with the gravity binary's directory first.
// Thread-safe: holds no mutable state except the exit statuses it reaped (under mutex_).
class ProcessLauncher final : public Launcher {
 public:
  // `gravity_binary`: path of the gravity executable that provides `_instance`.
  // `owner`: a tag written on each wrapper's command line (the daemon's state dir).
  ProcessLauncher(std::string gravity_binary, std::string owner);

  Result<ProcessRef> Launch(const LaunchSpec& spec) override;
  void Stop(const ProcessRef& ref, std::chrono::milliseconds grace) override;
  bool Alive(const ProcessRef& ref) override;
  std::string ExitDescription(const ProcessRef& ref) override;
  std::vector<ProcessRef> FindOwned(const std::string& owner) override;

  const std::string& owner() const { return owner_; }

 private:
  const std::string gravity_binary_;
  const std::string owner_;
  Mutex mutex_;
  std::map<pid_t, int> reaped_ GUARDED_BY(mutex_);  // pid -> wait status
};

// Builds the environment an instance sees on top of the inherited one (exposed for tests).
std::map<std::string, std::string> InstanceEnvironment(const LaunchSpec& spec,
                                                       const std::string& gravity_binary);

}  // namespace gravity::runtime
