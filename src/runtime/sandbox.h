#pragma once

// The sandbox every instance, build and test command runs in (docs/runtime.md).
//
//   fork ─ child: join the cgroup, RLIMIT_NOFILE, exec
//     bwrap  (bubblewrap, as root: mount, PID, IPC, UTS namespaces; system, release and
//            the gravity binary read-only; private size-capped /tmp; own /proc; minimal
//            /dev; state_dir hidden; seccomp filter loaded from a memfd)
//       setpriv --reuid UID …  (inside: all groups, uids and capabilities dropped,
//                               no_new_privs, then exec; `gravity _drop UID` where
//                               util-linux's setpriv is missing)
//         /bin/sh -c COMMAND
//
// bubblewrap does the namespaces and mounts (it is what Flatpak relies on; doing the same
// mount dance by hand is long and easy to get subtly wrong); libseccomp builds the filter
// (a BPF program written by hand is unreadable); the uid drop is setpriv's (util-linux,
// always installed on Debian; 3 ms where exec'ing the gravity binary again costs 9)
// or ours, not bwrap's, because bwrap, run
// as root, only changes the uid inside a user namespace, and a namespace mapping root
// outside would let the app own root's files. The uid is a real, unprivileged host uid
// (one per app, SandboxUid) so host permissions apply on top of the mounts.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/resource_limits.h"
#include "common/status.h"
#include "runtime/cgroup.h"

namespace gravity::runtime {

struct SandboxOptions {
  SandboxMode mode = SandboxMode::kStrict;
  uid_t uid = 0;  // the process runs as uid:uid (gid = uid)
  ResourceLimits limits;
  std::string cgroup;                  // relative cgroup name (GroupName); empty: no cgroup
  std::string cwd;                     // working directory (must be one of the bound paths)
  std::vector<std::string> read_only;  // bound read-only at the same path
  std::vector<std::string> writable;   // bound read-write at the same path
  std::vector<std::string> hidden;     // covered by an empty directory (state_dir)
  std::string hostname = "gravity";

  // Command-line flags carrying these options to `gravity _instance` / `_sandbox`.
  std::vector<std::string> ToArgs() const;
  // Parses the sandbox flag at argv[i] (and its value, advancing i). False when argv[i] is
  // not one; `error` set when it is one but malformed.
  bool ParseFlag(int argc, char** argv, int& i, std::string& error);
};

// The unprivileged host uid an app's processes run as: 1900000000 + a hash of the name.
uid_t SandboxUid(const std::string& app);
// What a sandboxed process gets of the daemon's environment: PATH, the locale (LANG,
// LANGUAGE, LC_*), TZ, TERM, the proxy settings (http_proxy, https_proxy, no_proxy,
// all_proxy, either case) and the CA settings (SSL_CERT_FILE, SSL_CERT_DIR) — nothing else
// (cloud credentials, tokens an operator exported).
std::map<std::string, std::string> SandboxBaseEnvironment();
// The whole environment of a sandboxed process: SandboxBaseEnvironment(), then `own`
// (which wins).
std::map<std::string, std::string> SandboxEnvironment(std::map<std::string, std::string> own);
// True for every uid SandboxUid can return.
bool IsSandboxUid(unsigned uid);

// The seccomp filter (BPF) in an anonymous file, for bwrap --seccomp. Refuses with EPERM:
// mount and pivot_root, ptrace and process_vm_*, kexec, bpf, module loading, keyctl,
// unshare/setns and clone with namespace flags, reboot, swap, perf events, userfaultfd,
// open_by_handle_at, io_uring, TIOCSTI; clone3 answers ENOSYS so libc falls back to clone.
Result<int> SeccompFilterFd();

// What isolates instances on this host, for the daemon's log and `gravity status`:
// "bubblewrap + seccomp; limits through cgroup v1 (memory, pids, cpu)".
std::string SandboxSummary();
// Whether bwrap is on PATH; the error names the Debian package otherwise.
Status SandboxAvailable();

// The words that run a program as uid:uid with no groups, no capabilities and
// no_new_privs: /usr/bin/setpriv when it is there, else `gravity _drop`.
inline constexpr char kSetpriv[] = "/usr/bin/setpriv";
std::vector<std::string> DropArgv(uid_t uid, const std::string& gravity_binary);

// The full argv that runs `program` in the sandbox.
std::vector<std::string> SandboxArgv(const SandboxOptions& o, const std::string& gravity_binary,
                                     int seccomp_fd, const std::vector<std::string>& program);

// Starts `program` in the sandbox (or plainly when mode is kOff) with the given stdout and
// stderr, in the caller's process group. `cgroup` (may be null) must have been created.
Result<pid_t> SpawnSandboxed(const SandboxOptions& o, const Cgroup* cgroup,
                             const std::string& gravity_binary,
                             const std::vector<std::string>& program, int stdout_fd, int stderr_fd);

// What a limit did to a process tree that ended: "killed: out of memory (limit 256 MiB)",
// or "" when no limit was hit.
std::string LimitReason(const Cgroup& cgroup, const ResourceLimits& limits);

// `gravity _drop UID -- PROGRAM...` (internal, runs inside the sandbox).
int DropMain(int argc, char** argv);
// `gravity _sandbox [sandbox flags] -- PROGRAM...` (internal): runs PROGRAM sandboxed in
// its own cgroup, forwards TERM/INT, prints the limit reason on stderr, removes the
// cgroup, exits with PROGRAM's status. Used for the pipeline's build and test commands.
int SandboxMain(int argc, char** argv);

}  // namespace gravity::runtime
