#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace gravity::daemon {

// A pid file holds "PID START_TIME": the start time makes a reused pid harmless.
struct PidRecord {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // 0: unknown (then only the pid is compared)
};

Result<PidRecord> ReadPidFile(const std::string& path);
// Writes `pid` with its start time (atomically).
Status WritePidFile(const std::string& path, pid_t pid);
// True when the recorded process is still the same, running process (not a zombie).
bool PidRecordAlive(const PidRecord& record);
// Takes `path` for this process: Conflict when it names another live process; `what`
// names the holder in that message ("gravity daemon").
Status TakePidFile(const std::string& path, const std::string& what,
                   const std::string& state_dir);

}  // namespace gravity::daemon
