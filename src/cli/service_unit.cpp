#include "cli/service_unit.h"

#include "common/process.h"

namespace gravity::cli {

namespace {

// systemd's own quoting for one word of a command line or a path list.
std::string Quote(const std::string& word) {
  std::string out = "\"";
  for (char c : word) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '%') {
      out += "%%";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string ServiceUnit(const ServiceUnitOptions& o) {
  const std::string stack = Quote(o.stack_file);
  const std::string bin = Quote(o.binary);
  std::string u;
  u += "# Written by `gravity install-service` (gravity " + o.version + ") for\n";
  u += "# " + o.stack_file + ". Regenerate rather than edit.\n";
  u += "[Unit]\n";
  u += "Description=Gravity stack " + o.stack_file + " (proxy, daemon, instances)\n";
  u += "After=network-online.target\n";
  u += "Wants=network-online.target\n\n";
  u += "[Service]\n";
  u += "Type=simple\n";
  u += "ExecStart=" + bin + " supervise -f " + stack + "\n";
  // Stops the supervisor first, then the daemon, the instances and the proxy, in order.
  u += "ExecStop=" + bin + " down -f " + stack + "\n";
  u += "Restart=always\n";
  u += "RestartSec=1s\n";
  u += "KillMode=mixed\n";
  u += "TimeoutStopSec=120s\n";
  if (!o.user.empty()) u += "User=" + o.user + "\n";
  u += "Environment=" + Quote("PATH=/usr/local/bin:/usr/bin:/bin") + "\n";
  u += "LimitNOFILE=65536\n";
  u += "UMask=0027\n";
  u += "# The sandbox makes cgroups for builds and instances below this unit's.\n";
  u += "Delegate=yes\n";
  u += "# Hardening that leaves the sandbox working. Not set, on purpose: ProtectKernelTunables,\n";
  u += "# ProtectProc and ProcSubset (over-mounted /proc stops a new /proc in a user namespace),\n";
  u += "# ProtectControlGroups (cgroup limits), RestrictNamespaces and PrivateUsers (the\n";
  u += "# namespaces), SystemCallFilter (the sandbox installs its own seccomp filter) and\n";
  u += "# MemoryDenyWriteExecute (JIT runtimes in instances).\n";
  u += "NoNewPrivileges=yes\n";
  u += "ProtectSystem=full\n";
  u += "ReadWritePaths=" + Quote(o.state_dir) + "\n";
  u += "PrivateTmp=yes\n";
  u += "ProtectKernelModules=yes\n";
  u += "ProtectKernelLogs=yes\n";
  u += "ProtectClock=yes\n";
  u += "RestrictRealtime=yes\n";
  u += "RestrictSUIDSGID=yes\n";
  u += "LockPersonality=yes\n";
  u += "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n\n";
  u += "[Install]\n";
  u += "WantedBy=multi-user.target\n";
  return u;
}

}  // namespace gravity::cli
