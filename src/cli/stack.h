#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"
#include "config/spec.h"

namespace gravity::cli {

// Where `gravity up` keeps the stack's processes, under the stack's state_dir.
struct StackPaths {
  std::string state_dir;
  std::string proxy_socket;  // <state_dir>/proxy.sock
  std::string proxy_state;   // <state_dir>/proxy/
  std::string proxy_pid;     // <state_dir>/proxy.pid (written by `up`)
  std::string daemon_pid;    // <state_dir>/daemon.pid (written by the daemon itself)
  std::string proxy_log;     // <state_dir>/proxy.log (the proxy's output)
  std::string daemon_log;    // <state_dir>/daemon.out (the daemon's stdout/stderr; its log
                             //  proper is daemon.log)
  std::string access_log;    // <state_dir>/access.log
  std::string applied;       // <state_dir>/stack.applied: path + text of the stack last applied

  static StackPaths For(const std::string& state_dir);
};

// A pid file holds "PID START_TIME": the start time makes a reused pid harmless.
struct PidRecord {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
};
Result<PidRecord> ReadPidFile(const std::string& path);
Status WritePidFile(const std::string& path, pid_t pid);
// True when the recorded process is still the same, running process.
bool PidRecordAlive(const PidRecord& record);

// Reads the daemon's bearer token ("" when there is none yet).
std::string ReadToken(const StackPaths& paths);

}  // namespace gravity::cli
