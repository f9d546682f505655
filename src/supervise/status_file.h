#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"

namespace gravity::supervise {

// What the supervisor tells `gravity status` and `gravity up` about one supervised process.
struct ProcessStatus {
  // starting | running | taking-over | backoff | crash-loop | restarting | unsupervised
  std::string state = "starting";
  pid_t pid = 0;                   // of the running process, 0 when none
  std::int64_t started_ms = 0;     // wall-clock ms since the epoch when it was started
  int restarts = 0;                // restarts after an exit the supervisor did not ask for
  std::string last_exit;           // "killed by signal 9 (Killed)", "exited with status 1: ..."
  std::int64_t last_exit_ms = 0;
  std::string binary;              // the program it runs: path and identity (see BinaryId)
  pid_t successor_pid = 0;         // a new process taking over from `pid` (state taking-over)
};

// The supervisor's status file (supervisor.json under state_dir), written atomically.
struct SupervisorStatus {
  pid_t pid = 0;
  std::int64_t started_ms = 0;
  std::map<std::string, ProcessStatus> processes;  // "proxy", "daemon"
};

Status WriteStatusFile(const std::string& path, const SupervisorStatus& status);
Result<SupervisorStatus> ReadStatusFile(const std::string& path);

// Identifies the file at `path` (device, inode, size, mtime): a rebuilt or upgraded binary
// has another identity. "" when it cannot be read.
std::string BinaryId(const std::string& path);

}  // namespace gravity::supervise
