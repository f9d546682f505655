#pragma once

// What a sandboxed process may use: the one type for it, below stack.yml's `limits:` and
// `build_limits:` (config) and the sandbox that enforces them with cgroups and rlimits
// (runtime). Sizes are bytes; cpu is in CPUs (1.5 = one and a half cores of time).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gravity {

struct ResourceLimits {
  std::int64_t memory = 512LL << 20;  // cgroup memory limit (no swap beyond it)
  double cpu = 1.0;                   // CFS quota, in CPUs
  int pids = 256;                     // cgroup pids limit: processes + threads
  int open_files = 4096;              // RLIMIT_NOFILE
  std::int64_t tmp = 64LL << 20;      // size of the private /tmp (tmpfs)

  // Defaults for an environment's instances and for an app's build and test commands.
  static ResourceLimits InstanceDefaults() { return ResourceLimits{}; }
  static ResourceLimits BuildDefaults() {
    return ResourceLimits{2LL << 30, 2.0, 1024, 4096, 1LL << 30};
  }
  bool operator==(const ResourceLimits&) const = default;
};

// How an environment's instances (or an app's build) run.
enum class SandboxMode {
  kStrict,  // the default: own user, namespaces, seccomp, cgroup limits
  kOff,     // plain process in the daemon's namespaces (debugging only; logged loudly)
};

// "512MiB", "2GiB", "64M", "1048576" (bytes); binary units (KiB/MiB/GiB and K/M/G = the
// same), case-insensitive. Error says what is wrong.
Result<std::int64_t> ParseByteSize(std::string_view text);
// 268435456 -> "256 MiB"; uneven sizes keep the bytes ("1000 bytes").
std::string FormatByteSize(std::int64_t bytes);

}  // namespace gravity
