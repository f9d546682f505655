#include "runtime/launcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/fs.h"
#include "common/process.h"
#include "runtime/cgroup.h"
#include "runtime/sandbox.h"

namespace gravity::runtime {

namespace {

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// argv of a process, from /proc/PID/cmdline; empty when it is gone.
std::vector<std::string> CommandLine(pid_t pid) {
  auto raw = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  if (!raw.ok()) return argv;
  size_t start = 0;
  while (start < raw->size()) {
    size_t end = raw->find('\0', start);
    if (end == std::string::npos) end = raw->size();
    argv.push_back(raw->substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

}  // namespace

std::map<std::string, std::string> InstanceEnvironment(const LaunchSpec& spec,
                                                       const std::string& gravity_binary) {
  std::map<std::string, std::string> env = spec.env;
  env["PORT"] = std::to_string(spec.port);
  env["GRAVITY_APP"] = spec.app;
  env["GRAVITY_ENV"] = spec.environment;
  env["GRAVITY_RELEASE"] = spec.release;
  env["GRAVITY_INSTANCE"] = spec.id;
  std::string path;
  if (auto it = spec.env.find("PATH"); it != spec.env.end()) {
    path = it->second;
  } else if (const char* p = std::getenv("PATH")) {
    path = p;
  } else {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  env["PATH"] = DirName(gravity_binary) + ":" + path;
  return env;
}

ProcessLauncher::ProcessLauncher(std::string gravity_binary, std::string owner)
    : gravity_binary_(std::move(gravity_binary)), owner_(std::move(owner)) {}

Result<ProcessRef> ProcessLauncher::Launch(const LaunchSpec& spec) {
  if (spec.command.empty()) return Status::Error("instance " + spec.id + ": empty run command");
  if (spec.port <= 0) return Status::Error("instance " + spec.id + ": no port");
  RETURN_IF_ERROR(MakeDirs(DirName(spec.log_path)));
  SpawnOptions o;
  SandboxOptions sandbox;
  sandbox.mode = spec.sandbox;
  sandbox.uid = SandboxUid(spec.app);
  sandbox.limits = spec.limits;
  // `sandbox: off` is the plain process of before: no cgroup either.
  if (spec.sandbox == SandboxMode::kStrict) sandbox.cgroup = GroupName(owner_, spec.id);
  sandbox.cwd = spec.release_dir;
  sandbox.read_only = {spec.release_dir};
  sandbox.hidden = {owner_};  // the state dir: token, database, logs, other releases
  // Data directories: the app's own, kept across releases, writable (bound after the hide).
  std::string data_root;
  if (!spec.data.empty()) {
    data_root = owner_;
    data_root.append("/data/").append(spec.app).append("/").append(spec.environment);
  }
  for (const auto& name : spec.data) {
    std::string dir = data_root;
    dir.append("/").append(name);
    RETURN_IF_ERROR(MakeDirs(dir, 0700));
    if (spec.sandbox == SandboxMode::kStrict && ::chown(dir.c_str(), sandbox.uid, sandbox.uid) != 0) {
      std::string error = "instance ";
      error.append(spec.id).append(": cannot hand ").append(dir).append(" to its uid: ");
      error.append(std::strerror(errno));
      return Status::Error(error);
    }
    sandbox.writable.push_back(dir);
  }
  sandbox.hostname = spec.app + "-" + spec.environment;
  if (spec.sandbox == SandboxMode::kOff) {
    spdlog::warn(
        "instance {}: SANDBOX OFF (sandbox: off in the stack) — it runs as root with "
        "every capability and can read the API token",
        spec.id);
  }
  o.argv = {gravity_binary_, "_instance", "--owner", owner_,
            "--id",          spec.id,     "--log",   spec.log_path};
  for (auto& a : sandbox.ToArgs()) o.argv.push_back(std::move(a));
  o.argv.insert(o.argv.end(), {"--", "/bin/sh", "-c", spec.command});
  o.cwd = spec.release_dir;
  o.env = InstanceEnvironment(spec, gravity_binary_);
  if (!data_root.empty()) o.env["GRAVITY_DATA_DIR"] = data_root;
  if (spec.sandbox == SandboxMode::kStrict) {
    // Of the daemon's environment only SandboxBaseEnvironment() (the operator's exported
    // credentials are not the app's); the instance's own variables win.
    o.env = SandboxEnvironment(std::move(o.env));
    o.inherit_env = false;
  }
  o.new_session = true;  // survives the daemon; pid == pgid == sid
  ASSIGN_OR_RETURN(pid_t pid, Spawn(o));
  auto start = ProcessStartTime(pid);
  if (!start.ok()) {
    // Gone already (it failed at once); keep its status for ExitDescription.
    int st = 0;
    if (auto r = TryReap(pid)) st = *r;
    MutexLock lock(mutex_);
    reaped_[pid] = st;
    return ProcessRef{pid, 0, sandbox.cgroup};
  }
  return ProcessRef{pid, *start, sandbox.cgroup};
}

void ProcessLauncher::Stop(const ProcessRef& ref, std::chrono::milliseconds grace) {
  if (ref.pid <= 1) return;
  // Signal the group only while its leader is the process we started (pid reuse guard).
  auto start = ProcessStartTime(ref.pid);
  auto remove_cgroup = [&] {
    if (ref.cgroup.empty()) return;
    Cgroup cg(HostCgroups(), ref.cgroup);
    if (cg.Exists() && !cg.Remove()) spdlog::warn("cgroup {} could not be removed", ref.cgroup);
  };
  if (start.ok() && *start != ref.start_time) return remove_cgroup();
  if (!start.ok() && !GroupAlive(ref.pid)) return remove_cgroup();
  StopProcessGroup(ref.pid, grace);
  // Whatever left the group (setsid) is still in the cgroup.
  remove_cgroup();
  if (auto st = TryReap(ref.pid)) {
    MutexLock lock(mutex_);
    reaped_[ref.pid] = *st;
  }
}

bool ProcessLauncher::Alive(const ProcessRef& ref) {
  if (ref.pid <= 1) return false;
  if (auto st = TryReap(ref.pid)) {
    MutexLock lock(mutex_);
    reaped_[ref.pid] = *st;
    return false;
  }
  auto start = ProcessStartTime(ref.pid);
  if (!start.ok() || *start != ref.start_time) return false;
  return ProcessAlive(ref.pid);
}

std::string ProcessLauncher::ExitDescription(const ProcessRef& ref) {
  MutexLock lock(mutex_);
  auto it = reaped_.find(ref.pid);
  if (it == reaped_.end()) return "";
  std::string text = DescribeWaitStatus(it->second);
  reaped_.erase(it);
  return text;
}

namespace {

// True when `pid` runs (real and effective uid) as this process's user or as the owner of
// the state dir `owner` (e.g. `sudo gravity down` of a daemon run by a user), and never as
// a sandbox uid.
bool OwnersUser(pid_t pid, const std::string& owner) {
  auto status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  if (!status.ok()) return false;
  std::size_t at = status->find("\nUid:");
  if (at == std::string::npos) return false;
  unsigned long real = 0, effective = 0;
  if (std::sscanf(status->c_str() + at + 5, "%lu %lu", &real, &effective) != 2) return false;
  if (real != effective || IsSandboxUid(static_cast<unsigned>(real))) return false;
  struct stat st {};
  return real == ::geteuid() || (::stat(owner.c_str(), &st) == 0 && real == st.st_uid);
}

}  // namespace

std::vector<ProcessRef> ProcessLauncher::FindOwned(const std::string& owner) {
  std::vector<ProcessRef> found;
  DIR* proc = ::opendir("/proc");
  if (!proc) return found;
  while (dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
    auto argv = CommandLine(pid);
    if (argv.size() < 4 || argv[1] != "_instance") continue;
    bool mine = false;
    for (size_t i = 2; i + 1 < argv.size() && argv[i] != "--"; ++i) {
      if (argv[i] == "--owner" && argv[i + 1] == owner) mine = true;
    }
    // A command line is anyone's to write (an app can exec "_instance --owner <state
    // dir>"): only a wrapper running as the daemon's user is one of ours. Sandboxed code
    // never runs as that user.
    if (!mine || !ProcessAlive(pid) || !OwnersUser(pid, owner)) continue;
    auto start = ProcessStartTime(pid);
    std::string id, cgroup;
    for (size_t i = 2; i + 1 < argv.size() && argv[i] != "--"; ++i) {
      if (argv[i] == "--id") id = argv[i + 1];
      if (argv[i] == "--cgroup") cgroup = argv[i + 1];
    }
    // The cgroup is the one Gravity names for that id, or none.
    if (!cgroup.empty() && (id.empty() || cgroup != GroupName(owner, id) || !IsGroupName(cgroup))) {
      cgroup.clear();
    }
    if (start.ok()) found.push_back(ProcessRef{pid, *start, cgroup});
  }
  ::closedir(proc);
  return found;
}

}  // namespace gravity::runtime
