#pragma once

#include <string>

namespace gravity::cli {

struct ServiceUnitOptions {
  std::string binary;      // absolute path of gravity
  std::string stack_file;  // absolute path of the stack file
  std::string state_dir;   // absolute; must stay writable
  std::string user;        // "" = no User= (root)
  std::string version;     // noted in the header comment
};

// The systemd unit that runs `gravity supervise` for one stack (see docs/operations.md):
// Restart=always, ExecStop=`gravity down`, and only the hardening that leaves the instance
// sandbox (user, mount and PID namespaces, its own /proc, seccomp, cgroups) working.
std::string ServiceUnit(const ServiceUnitOptions& options);

}  // namespace gravity::cli
