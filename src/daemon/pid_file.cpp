#include "daemon/pid_file.h"

#include <unistd.h>

#include <cstdio>

#include "common/fs.h"
#include "common/process.h"

namespace gravity::daemon {

Result<PidRecord> ReadPidFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  PidRecord r;
  unsigned long long start = 0;
  long pid = 0;
  if (std::sscanf(text.c_str(), "%ld %llu", &pid, &start) < 1 || pid <= 1) {
    return Status::InvalidArgument(path + ": not a pid file");
  }
  r.pid = static_cast<pid_t>(pid);
  r.start_time = start;
  return r;
}

Status WritePidFile(const std::string& path, pid_t pid) {
  auto start = ProcessStartTime(pid);
  std::string text = std::to_string(pid) + " " +
                     (start.ok() ? std::to_string(*start) : std::string("0")) + "\n";
  return WriteFileAtomic(path, text);
}

bool PidRecordAlive(const PidRecord& record) {
  if (!ProcessAlive(record.pid)) return false;
  auto start = ProcessStartTime(record.pid);
  return start.ok() && (record.start_time == 0 || *start == record.start_time);
}

Status TakePidFile(const std::string& path, const std::string& what,
                   const std::string& state_dir) {
  if (auto rec = ReadPidFile(path); rec.ok() && rec->pid != ::getpid() && PidRecordAlive(*rec)) {
    return Status::Conflict("another " + what + " (pid " + std::to_string(rec->pid) +
                            ") is running with state_dir " + state_dir);
  }
  return WritePidFile(path, ::getpid());
}

}  // namespace gravity::daemon
