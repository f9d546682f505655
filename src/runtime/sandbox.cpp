#include "runtime/sandbox.h"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string_view>

#include "common/process.h"

extern char** environ;

namespace gravity::runtime {

namespace {

bool IsSymlink(const char* path) {
  struct stat st {};
  return ::lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool Under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

uid_t g_chown_uid = 0;
int ChownEntry(const char* path, const struct stat*, int, struct FTW*) {
  (void)::lchown(path, g_chown_uid, g_chown_uid);
  return 0;
}

// Hands a directory tree to `uid` (not thread-safe; used by the single-threaded helper).
void ChownTree(const std::string& dir, uid_t uid) {
  g_chown_uid = uid;
  ::nftw(dir.c_str(), ChownEntry, 32, FTW_PHYS);
}

volatile sig_atomic_t g_forward_signal = 0;
void NoteForward(int sig) { g_forward_signal = sig; }

}  // namespace

uid_t SandboxUid(const std::string& app) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : app) h = (h ^ c) * 16777619u;
  return static_cast<uid_t>(1900000000u + h % 10000000u);
}

std::map<std::string, std::string> SandboxBaseEnvironment() {
  static const std::set<std::string> kNames = {
      "PATH",        "LANG",        "LANGUAGE",  "TZ",           "TERM",
      "http_proxy",  "https_proxy", "no_proxy",  "all_proxy",    "HTTP_PROXY",
      "HTTPS_PROXY", "NO_PROXY",    "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"};
  std::map<std::string, std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(kv.substr(0, eq));
    if (kNames.count(name) || name.rfind("LC_", 0) == 0) out[name] = std::string(kv.substr(eq + 1));
  }
  return out;
}

std::map<std::string, std::string> SandboxEnvironment(std::map<std::string, std::string> own) {
  std::map<std::string, std::string> env = SandboxBaseEnvironment();
  for (auto& [k, v] : own) env[k] = std::move(v);
  return env;
}

bool IsSandboxUid(unsigned uid) { return uid >= 1900000000u && uid < 1910000000u; }

std::vector<std::string> SandboxOptions::ToArgs() const {
  std::vector<std::string> a;
  a.insert(a.end(), {"--sandbox", mode == SandboxMode::kOff ? "off" : "strict"});
  a.insert(a.end(), {"--uid", std::to_string(uid)});
  a.insert(a.end(), {"--memory", std::to_string(limits.memory)});
  a.insert(a.end(), {"--cpu", std::to_string(limits.cpu)});
  a.insert(a.end(), {"--pids", std::to_string(limits.pids)});
  a.insert(a.end(), {"--open-files", std::to_string(limits.open_files)});
  a.insert(a.end(), {"--tmp", std::to_string(limits.tmp)});
  if (!cgroup.empty()) a.insert(a.end(), {"--cgroup", cgroup});
  if (!cwd.empty()) a.insert(a.end(), {"--cwd", cwd});
  for (const auto& p : read_only) a.insert(a.end(), {"--ro", p});
  for (const auto& p : writable) a.insert(a.end(), {"--rw", p});
  for (const auto& p : hidden) a.insert(a.end(), {"--hide", p});
  a.insert(a.end(), {"--hostname", hostname});
  return a;
}

bool SandboxOptions::ParseFlag(int argc, char** argv, int& i, std::string& error) {
  static const char* kFlags[] = {"--sandbox",    "--uid",  "--memory",  "--cpu", "--pids",
                                 "--open-files", "--tmp",  "--cgroup",  "--cwd", "--ro",
                                 "--rw",         "--hide", "--hostname"};
  std::string flag = argv[i];
  bool known = false;
  for (const char* f : kFlags) known = known || flag == f;
  if (!known) return false;
  if (i + 1 >= argc) {
    error = flag + " needs a value";
    return true;
  }
  std::string v = argv[++i];
  char* end = nullptr;
  if (flag == "--sandbox") {
    if (v != "strict" && v != "off") error = "--sandbox is strict or off";
    mode = v == "off" ? SandboxMode::kOff : SandboxMode::kStrict;
  } else if (flag == "--uid") {
    uid = static_cast<uid_t>(std::strtoul(v.c_str(), &end, 10));
    if (uid == 0) error = "--uid must not be 0";
  } else if (flag == "--memory") {
    limits.memory = std::strtoll(v.c_str(), &end, 10);
  } else if (flag == "--cpu") {
    limits.cpu = std::strtod(v.c_str(), &end);
  } else if (flag == "--pids") {
    limits.pids = std::atoi(v.c_str());
  } else if (flag == "--open-files") {
    limits.open_files = std::atoi(v.c_str());
  } else if (flag == "--tmp") {
    limits.tmp = std::strtoll(v.c_str(), &end, 10);
  } else if (flag == "--cgroup") {
    cgroup = v;
  } else if (flag == "--cwd") {
    cwd = v;
  } else if (flag == "--ro") {
    read_only.push_back(v);
  } else if (flag == "--rw") {
    writable.push_back(v);
  } else if (flag == "--hide") {
    hidden.push_back(v);
  } else if (flag == "--hostname") {
    hostname = v;
  }
  return true;
}

Result<int> SeccompFilterFd() {
  scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return Status::Error("seccomp_init failed");
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  static const char* kRefused[] = {"mount",
                                   "umount2",
                                   "pivot_root",
                                   "move_mount",
                                   "open_tree",
                                   "fsopen",
                                   "fsconfig",
                                   "fsmount",
                                   "fspick",
                                   "ptrace",
                                   "process_vm_readv",
                                   "process_vm_writev",
                                   "kexec_load",
                                   "kexec_file_load",
                                   "bpf",
                                   "init_module",
                                   "finit_module",
                                   "delete_module",
                                   "keyctl",
                                   "add_key",
                                   "request_key",
                                   "unshare",
                                   "setns",
                                   "reboot",
                                   "swapon",
                                   "swapoff",
                                   "perf_event_open",
                                   "userfaultfd",
                                   "open_by_handle_at",
                                   "name_to_handle_at",
                                   "acct",
                                   "quotactl",
                                   "syslog",
                                   "iopl",
                                   "ioperm",
                                   "lookup_dcookie",
                                   "vhangup",
                                   "chroot",
                                   // io_uring: a large kernel surface no web app needs;
                                   // runtimes that try it fall back to epoll on EPERM.
                                   "io_uring_setup",
                                   "io_uring_enter",
                                   "io_uring_register"};
  int rc = 0;
  for (const char* name : kRefused) {
    int nr = ::seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    rc |= ::seccomp_rule_add(ctx, eperm, nr, 0);
  }
  for (unsigned long flag : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC,
                             CLONE_NEWUTS, CLONE_NEWCGROUP}) {
    rc |=
        ::seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  }
  rc |= ::seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  rc |= ::seccomp_rule_add(ctx, eperm, SCMP_SYS(ioctl), 1,
                           SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
  if (rc != 0) {
    ::seccomp_release(ctx);
    return Status::Error("building the seccomp filter failed");
  }
  int fd = ::memfd_create("gravity-seccomp", 0);
  if (fd < 0 || ::seccomp_export_bpf(ctx, fd) != 0) {
    ::seccomp_release(ctx);
    if (fd >= 0) ::close(fd);
    return Status::Error(std::string("exporting the seccomp filter failed: ") +
                         std::strerror(errno));
  }
  ::seccomp_release(ctx);
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

std::vector<std::string> DropArgv(uid_t uid, const std::string& gravity_binary) {
  const std::string id = std::to_string(uid);
  if (::access(kSetpriv, X_OK) == 0) {
    std::string reuid = "--reuid=", regid = "--regid=";
    reuid.append(id);
    regid.append(id);
    return {kSetpriv,          reuid,
            regid,             "--clear-groups",
            "--inh-caps=-all", "--ambient-caps=-all",
            "--bounding-set=-all", "--no-new-privs",
            "--"};
  }
  return {gravity_binary, "_drop", id, "--"};
}

Status SandboxAvailable() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  if (FindOnPath("bwrap", dirs)) return Status::Ok();
  return Status::Error(
      "bwrap is not on PATH: sandboxed instances, builds and tests cannot start (install "
      "Debian's bubblewrap package: scripts/setup.sh)");
}

std::string SandboxSummary() {
  std::string s = "bubblewrap + seccomp; limits through ";
  s.append(HostCgroups().Describe());
  return s;
}

std::vector<std::string> SandboxArgv(const SandboxOptions& o, const std::string& gravity_binary,
                                     int seccomp_fd, const std::vector<std::string>& program) {
  std::vector<std::string> a = {"bwrap"};
  auto add = [&](std::initializer_list<std::string> words) { a.insert(a.end(), words); };
  // bwrap makes missing directories on the way to a mount point 0700 root: the app's uid
  // could not pass them. Each one is made 0755 first (an existing one is left as it is).
  auto parents = [&](const std::string& path) {
    for (size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string dir = path.substr(0, slash);
      if (dir == "/usr" || dir == "/etc" || dir == "/tmp" || dir == "/proc" || dir == "/dev") {
        continue;
      }
      add({"--perms", "0755", "--dir", dir});
    }
  };
  // The system, read-only. Merged-/usr hosts have /bin etc. as symlinks into /usr.
  add({"--ro-bind", "/usr", "/usr"});
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    if (IsSymlink(top)) {
      char target[256];
      ssize_t n = ::readlink(top, target, sizeof target - 1);
      if (n > 0) add({"--symlink", std::string(target, static_cast<size_t>(n)), top});
    } else if (IsDir(top)) {
      add({"--ro-bind", top, top});
    }
  }
  add({"--ro-bind", "/etc", "/etc"});
  add({"--proc", "/proc", "--dev", "/dev"});
  add({"--perms", "1777", "--size", std::to_string(o.limits.tmp), "--tmpfs", "/tmp"});
  add({"--dir", "/var", "--symlink", "/tmp", "/var/tmp"});
  // The gravity binary (instances run `gravity static`, `_drop` runs inside), read-only.
  std::string bin_dir = DirName(gravity_binary);
  if (!Under(bin_dir, "/usr")) {
    parents(bin_dir);
    add({"--ro-bind", bin_dir, bin_dir});
  }
  for (const auto& h : o.hidden) {
    parents(h);
    add({"--perms", "0755", "--tmpfs", h});
  }
  for (const auto& p : o.read_only) {
    parents(p);
    add({"--ro-bind", p, p});
  }
  for (const auto& p : o.writable) {
    parents(p);
    add({"--bind", p, p});
  }
  if (!o.cwd.empty()) add({"--chdir", o.cwd});
  add({"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"});
  add({"--hostname", o.hostname});
  add({"--seccomp", std::to_string(seccomp_fd)});
  add({"--setenv", "HOME", "/tmp"});  // nowhere else is writable
  add({"--"});
  for (auto& word : DropArgv(o.uid, gravity_binary)) a.push_back(std::move(word));
  a.insert(a.end(), program.begin(), program.end());
  return a;
}

Result<pid_t> SpawnSandboxed(const SandboxOptions& o, const Cgroup* cgroup,
                             const std::string& gravity_binary,
                             const std::vector<std::string>& program, int stdout_fd,
                             int stderr_fd) {
  int seccomp_fd = -1;
  std::vector<std::string> argv = program;
  if (o.mode == SandboxMode::kStrict) {
    ASSIGN_OR_RETURN(seccomp_fd, SeccompFilterFd());
    argv = SandboxArgv(o, gravity_binary, seccomp_fd, program);
  }
  // Everything the child needs is prepared before fork (no allocation after it).
  std::vector<char*> cargv = ExecPointers(argv);
  // The environment minus what would reach the daemon: an operator who exported
  // GRAVITY_TOKEN for the CLI before `gravity up` must not hand it to every app.
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) {
    if (o.mode == SandboxMode::kStrict && std::strncmp(*e, "GRAVITY_TOKEN=", 14) == 0) continue;
    envp.push_back(*e);
  }
  envp.push_back(nullptr);
  std::string cwd = o.mode == SandboxMode::kOff ? o.cwd : "/";
  rlimit nofile{static_cast<rlim_t>(o.limits.open_files), static_cast<rlim_t>(o.limits.open_files)};
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid < 0) {
    if (seccomp_fd >= 0) ::close(seccomp_fd);
    if (devnull >= 0) ::close(devnull);
    return Status::Error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    if (cgroup && !cgroup->JoinSelf()) {
      static const char kMsg[] = "gravity: cannot join the instance's cgroup\n";
      [[maybe_unused]] ssize_t n = ::write(stderr_fd, kMsg, sizeof kMsg - 1);
      ::_exit(126);
    }
    ::setrlimit(RLIMIT_NOFILE, &nofile);
    ::dup2(devnull, 0);
    ::dup2(stdout_fd, 1);
    ::dup2(stderr_fd, 2);
    int keep = seccomp_fd >= 0 ? 3 : -1;
    if (seccomp_fd >= 0 && seccomp_fd != 3) {
      ::dup2(seccomp_fd, 3);  // dup2 clears FD_CLOEXEC on the copy
    } else if (seccomp_fd == 3) {
      ::fcntl(3, F_SETFD, 0);
    }
    ::close_range(keep >= 0 ? 4 : 3, ~0U, 0);
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    if (keep >= 0) {
      // The flag names fd 3 now.
      for (size_t k = 0; k + 1 < cargv.size(); ++k) {
        if (std::strcmp(cargv[k], "--seccomp") == 0 && cargv[k + 1]) {
          static char three[] = "3";
          cargv[k + 1] = three;
        }
      }
    }
    ::execvpe(cargv[0], cargv.data(), envp.data());
    static const char kExec[] = "gravity: cannot start the sandbox (is bubblewrap installed?)\n";
    [[maybe_unused]] ssize_t n = ::write(2, kExec, sizeof kExec - 1);
    ::_exit(127);
  }
  if (seccomp_fd >= 0) ::close(seccomp_fd);
  if (devnull >= 0) ::close(devnull);
  return pid;
}

std::string LimitReason(const Cgroup& cgroup, const ResourceLimits& limits) {
  if (cgroup.OomKills() > 0) {
    return "killed: out of memory (limit " + FormatByteSize(limits.memory) + ")";
  }
  return "";
}

int DropMain(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[2], "--") != 0) {
    std::fprintf(stderr, "usage: gravity _drop UID -- PROGRAM...\n");
    return 126;
  }
  uid_t uid = static_cast<uid_t>(std::strtoul(argv[1], nullptr, 10));
  if (uid == 0) return 126;
  for (int cap = 0; cap <= 63; ++cap) ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  gid_t gid = static_cast<gid_t>(uid);
  if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
      ::setresuid(uid, uid, uid) != 0 || ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    std::fprintf(stderr, "gravity: cannot drop privileges: %s\n", std::strerror(errno));
    return 126;
  }
  if (::setuid(0) == 0) {  // must be impossible now
    std::fprintf(stderr, "gravity: privileges were not dropped\n");
    return 126;
  }
  // Home is nowhere writable but /tmp.
  ::setenv("HOME", "/tmp", 1);
  ::execvp(argv[3], argv + 3);
  std::fprintf(stderr, "gravity: cannot run %s: %s\n", argv[3], std::strerror(errno));
  return 127;
}

int SandboxMain(int argc, char** argv) {
  SandboxOptions o;
  std::vector<std::string> program;
  std::string name = "command-" + std::to_string(::getpid());
  std::string owner = "gravity";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (int j = i + 1; j < argc; ++j) program.push_back(argv[j]);
      break;
    }
    std::string error;
    if (o.ParseFlag(argc, argv, i, error)) {
      if (!error.empty()) {
        std::fprintf(stderr, "gravity _sandbox: %s\n", error.c_str());
        return 126;
      }
      continue;
    }
    std::fprintf(stderr, "gravity _sandbox: unexpected argument '%s'\n", a.c_str());
    return 126;
  }
  if (program.empty() || (o.mode == SandboxMode::kStrict && o.uid == 0)) {
    std::fprintf(stderr, "usage: gravity _sandbox --uid UID [flags] -- PROGRAM...\n");
    return 126;
  }
  if (o.cgroup.empty()) o.cgroup = GroupName(owner, name);
  Cgroup cgroup(HostCgroups(), o.cgroup);
  if (Status s = cgroup.Create(o.limits); !s.ok()) {
    std::fprintf(stderr, "gravity: %s\n", s.message().c_str());
    (void)cgroup.Remove();
    return 126;
  }
  if (o.mode == SandboxMode::kStrict) {
    for (const auto& w : o.writable) ChownTree(w, o.uid);
  }
  struct sigaction sa {};
  sa.sa_handler = NoteForward;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  auto child = SpawnSandboxed(o, &cgroup, SelfExecutable(), program, 1, 2);
  int status = 0;
  if (!child.ok()) {
    std::fprintf(stderr, "gravity: %s\n", child.error().c_str());
    status = 127 << 8;
  } else {
    for (;;) {
      pid_t w = ::waitpid(*child, &status, 0);
      if (w == *child) break;
      if (w < 0 && errno == EINTR && g_forward_signal) {
        for (pid_t p : cgroup.Pids()) ::kill(p, g_forward_signal);
        g_forward_signal = 0;
      } else if (w < 0 && errno != EINTR) {
        break;
      }
    }
  }
  std::string reason = LimitReason(cgroup, o.limits);
  (void)cgroup.Remove();
  if (o.mode == SandboxMode::kStrict) {
    for (const auto& w : o.writable) ChownTree(w, 0);
  }
  if (!reason.empty()) std::fprintf(stderr, "gravity: %s\n", reason.c_str());
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace gravity::runtime
