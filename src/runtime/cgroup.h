#pragma once

// Per-process-tree resource limits with cgroups, v2 or v1, whichever the host has.
//
// Detection (Cgroups::Detect): a cgroup2 mount whose cgroup.controllers lists memory and
// pids is used as v2; otherwise the v1 hierarchies of the memory, pids and cpu controllers
// (the cpu one is optional). A sandboxed process gets one cgroup named
//   <base>/gravity-<owner hash>/<name>
// where <base> is, for v1, the cgroup of the creating process in each hierarchy (so limits
// set above Gravity still apply) and, for v2, the root of the unified hierarchy (v2 allows
// no processes in an inner cgroup that has controllers enabled).
// Not thread-safe per object; distinct objects may be used from any thread.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/resource_limits.h"
#include "common/status.h"

namespace gravity::runtime {

enum class CgroupVersion { kNone, kV1, kV2 };

struct CgroupLayout {
  CgroupVersion version = CgroupVersion::kNone;
  std::string v2_root;      // mount point of the unified hierarchy (v2)
  std::string memory_root;  // v1: mount point + own cgroup path, per controller
  std::string pids_root;
  std::string cpu_root;          // may be empty (v1 without the cpu controller)
  std::string Describe() const;  // "cgroup v1 (memory, pids, cpu)", "cgroup v2", "none"
};

// What this host offers (read once from /proc/self/mountinfo and /proc/self/cgroup).
const CgroupLayout& HostCgroups();

// The detection itself, from the text of /proc/self/mountinfo and /proc/self/cgroup;
// `controllers_of(mount point)` gives a cgroup2 mount's cgroup.controllers.
CgroupLayout ParseCgroupLayout(
    const std::string& mountinfo, const std::string& self_cgroup,
    const std::function<std::string(const std::string&)>& controllers_of);

// One cgroup (a directory per v1 hierarchy, one for v2).
class Cgroup {
 public:
  // `relative`: "gravity-<hash>/<name>"; see GroupName().
  Cgroup(const CgroupLayout& layout, std::string relative);

  // Creates the directories and writes the limits (memory without swap, pids, cpu quota).
  Status Create(const ResourceLimits& limits);
  // Moves the calling process into the cgroup. Async-signal-safe (for use after fork).
  bool JoinSelf() const;
  // Processes in it now.
  std::vector<pid_t> Pids() const;
  // How many processes the kernel's OOM killer ended in it so far.
  std::int64_t OomKills() const;
  // SIGKILLs whatever is left, waits (bounded) until it is empty, removes the directories.
  // True when it is gone (or never existed).
  bool Remove() const;
  bool Exists() const;
  const std::string& relative() const { return relative_; }
  // The directory that holds its processes (the memory hierarchy's for v1).
  std::string MainDir() const;

 private:
  std::vector<std::string> Dirs() const;
  const CgroupLayout layout_;
  const std::string relative_;
  // Precomputed "…/cgroup.procs" paths for JoinSelf (no allocation after fork).
  std::vector<std::string> procs_files_;
};

// "gravity-<8 hex of owner>/<name>": the cgroup name for one instance or command.
std::string GroupName(const std::string& owner, const std::string& name);
// True for a name GroupName() can make: "gravity-" 8 hex digits "/" then 1-255 letters,
// digits, '-', '_' or '.' (not "." or ".."). Nothing else is ever removed.
bool IsGroupName(const std::string& relative);

}  // namespace gravity::runtime
