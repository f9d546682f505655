#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace gravity {

struct SpawnOptions {
  std::vector<std::string> argv;           // argv[0] is looked up on PATH
  std::string cwd;                         // empty: inherit
  std::map<std::string, std::string> env;  // added to (or replacing) the inherited environment
  bool inherit_env = true;
  int stdin_fd = -1;   // -1: /dev/null
  int stdout_fd = -1;  // -1: /dev/null
  int stderr_fd = -1;  // -1: /dev/null; may equal stdout_fd
  bool new_process_group = true;  // the child leads its own group (so the group can be killed)
  bool new_session = false;       // setsid(): survives the parent's terminal and group
};

// Starts a process. All other descriptors are closed in the child. Async-signal-safe
// between fork and exec, so it may be called from a multi-threaded process.
Result<pid_t> Spawn(const SpawnOptions& options);

// The strings as the null-ended `char*` array execve takes (argv, envp), pointing into
// `strings`: built before fork, so the child allocates nothing.
std::vector<char*> ExecPointers(std::vector<std::string>& strings);

// The first `dir/program` that is executable, for each dir of the ':'-separated `path`
// in turn; nullopt when none is.
std::optional<std::string> FindOnPath(const std::string& program, const std::string& path);

// Start time of a process in clock ticks since boot (/proc/PID/stat field 22). Together
// with the pid it identifies a process for good: a reused pid has a different start time.
Result<std::uint64_t> ProcessStartTime(pid_t pid);

// True when the process exists and is not a zombie.
bool ProcessAlive(pid_t pid);

// Sends `sig` to the process group `pgid`. Not an error when the group is gone.
Status SignalGroup(pid_t pgid, int sig);

// SIGTERM to the group, then SIGKILL after `grace` if any member is still alive; reaps
// `pid` when it is our child. Returns when the group is gone or after the kill.
void StopProcessGroup(pid_t pgid, std::chrono::milliseconds grace);

// True while any process of group `pgid` exists.
bool GroupAlive(pid_t pgid);

// Non-blocking reap of a child: the exit status when it has ended.
std::optional<int> TryReap(pid_t pid);

// Describes a wait status: "exited with status 3", "killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);

// Absolute path of the running executable (/proc/self/exe).
std::string SelfExecutable();

// Shell-quotes one word for /bin/sh: 'it'\''s'.
std::string ShellQuote(const std::string& word);

}  // namespace gravity
