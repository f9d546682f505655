#pragma once

// Test helper: a Launcher at the process seam whose "processes" tests kill at will. Each
// launch appends one line to the instance's log file, like the real wrapper would.
#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/fs.h"
#include "runtime/launcher.h"

namespace gravity::runtime {

// A launcher at the process seam: "processes" are entries that tests kill at will.
class FakeLauncher : public Launcher {
 public:
  Result<ProcessRef> Launch(const LaunchSpec& spec) override {
    std::lock_guard lock(mutex_);
    if (fail_launches > 0) {
      --fail_launches;
      return Status::Error("cannot start: no such file");
    }
    ProcessRef ref{next_pid_++, 1000u + static_cast<unsigned>(next_pid_)};
    alive_[ref.pid] = ref.start_time;
    launched.push_back(spec);
    size_t slash = spec.log_path.rfind('/');
    if (slash != std::string::npos) (void)MakeDirs(spec.log_path.substr(0, slash));
    int fd = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      std::string line = "2025-01-01T00:00:00.000Z out fake instance " + spec.id + " on port " +
                         std::to_string(spec.port) + "\n";
      [[maybe_unused]] ssize_t n = ::write(fd, line.data(), line.size());
      ::close(fd);
    }
    return ref;
  }
  void Stop(const ProcessRef& ref, std::chrono::milliseconds) override {
    std::lock_guard lock(mutex_);
    alive_.erase(ref.pid);
    stopped.push_back(ref.pid);
  }
  bool Alive(const ProcessRef& ref) override {
    std::lock_guard lock(mutex_);
    auto it = alive_.find(ref.pid);
    return it != alive_.end() && it->second == ref.start_time;
  }
  std::string ExitDescription(const ProcessRef& ref) override {
    std::lock_guard lock(mutex_);
    return exits_.count(ref.pid) ? exits_[ref.pid] : "";
  }
  std::vector<ProcessRef> FindOwned(const std::string&) override {
    std::lock_guard lock(mutex_);
    std::vector<ProcessRef> out;
    for (auto [pid, st] : alive_) out.push_back({pid, st});
    return out;
  }
  void Kill(pid_t pid, std::string how = "exited with status 1") {
    std::lock_guard lock(mutex_);
    alive_.erase(pid);
    exits_[pid] = how;
  }
  // A process the launcher started but whose record was never written.
  ProcessRef AddStray() {
    std::lock_guard lock(mutex_);
    ProcessRef ref{next_pid_++, 77};
    alive_[ref.pid] = ref.start_time;
    return ref;
  }
  size_t AliveCount() {
    std::lock_guard lock(mutex_);
    return alive_.size();
  }

  int fail_launches = 0;
  std::vector<LaunchSpec> launched;
  std::vector<pid_t> stopped;

 private:
  std::mutex mutex_;
  pid_t next_pid_ = 5000;
  std::map<pid_t, std::uint64_t> alive_;
  std::map<pid_t, std::string> exits_;
};

}  // namespace gravity::runtime
