#include "common/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/fs.h"
#include "common/strings.h"

extern char** environ;

namespace gravity {

namespace {

// The child's environment: the parent's (with inherit_env) overridden by options.env.
std::vector<std::string> ChildEnvironment(const SpawnOptions& options) {
  std::vector<std::string> env;
  if (options.inherit_env) {
    for (char** e = environ; *e; ++e) {
      std::string entry(*e);
      std::string key = entry.substr(0, entry.find('='));
      if (!options.env.count(key)) env.push_back(std::move(entry));
    }
  }
  for (const auto& [k, v] : options.env) env.push_back(k + "=" + v);
  return env;
}

// argv[0] as a path: as given when it has a slash, else found on the child's PATH.
Result<std::string> ResolveProgram(const SpawnOptions& options) {
  std::string program = options.argv[0];
  if (program.find('/') != std::string::npos) return program;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  auto it = options.env.find("PATH");
  if (it != options.env.end()) {
    path = it->second;
  } else if (const char* p = ::getenv("PATH"); p && options.inherit_env) {
    path = p;
  }
  if (auto found = FindOnPath(program, path)) return *found;
  return Status::Error("spawn: '" + program + "' not found on PATH");
}

// In the forked child: only async-signal-safe calls from here (everything was built before
// fork). On failure the errno goes to `err_fd` and the child exits 127.
[[noreturn]] void ExecChild(const SpawnOptions& options, const char* program, char** argv,
                            char** envp, int err_fd) {
  auto fail = [err_fd] {
    int e = errno;
    [[maybe_unused]] ssize_t n = ::write(err_fd, &e, sizeof e);
    ::_exit(127);
  };
  if (options.new_session) {
    if (::setsid() < 0) fail();
  } else if (options.new_process_group) {
    if (::setpgid(0, 0) != 0) fail();
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) ::signal(s, SIG_DFL);
  }
  int devnull = ::open("/dev/null", O_RDWR);
  int in = options.stdin_fd >= 0 ? options.stdin_fd : devnull;
  int out = options.stdout_fd >= 0 ? options.stdout_fd : devnull;
  int err = options.stderr_fd >= 0 ? options.stderr_fd : devnull;
  // dup2 onto 0..2; dup first to high fds to survive overlaps.
  int hin = ::fcntl(in, F_DUPFD_CLOEXEC, 10);
  int hout = ::fcntl(out, F_DUPFD_CLOEXEC, 10);
  int herr = ::fcntl(err, F_DUPFD_CLOEXEC, 10);
  if (hin < 0 || hout < 0 || herr < 0) fail();
  if (::dup2(hin, 0) < 0 || ::dup2(hout, 1) < 0 || ::dup2(herr, 2) < 0) fail();
  if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) fail();
  // Close everything else except the error pipe (close-on-exec): two close_range calls
  // instead of one close per possible descriptor (65k system calls per spawn).
  const unsigned keep = static_cast<unsigned>(err_fd);
  if (keep > 3) ::syscall(SYS_close_range, 3u, keep - 1, 0);
  ::syscall(SYS_close_range, keep + 1, ~0u, 0);
  ::execve(program, argv, envp);
  fail();
  ::_exit(127);  // not reached: fail() exits
}

}  // namespace

std::optional<std::string> FindOnPath(const std::string& program, const std::string& path) {
  for (const auto& dir : Split(path, ':')) {
    std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::vector<char*> ExecPointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

Result<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return Status::Error("spawn: empty command");
  // Build everything the child needs before fork: after fork only async-signal-safe calls.
  std::vector<std::string> env_storage = ChildEnvironment(options);
  std::vector<char*> envp = ExecPointers(env_storage);
  std::vector<std::string> argv_storage = options.argv;
  std::vector<char*> argv = ExecPointers(argv_storage);
  ASSIGN_OR_RETURN(std::string program, ResolveProgram(options));
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Status::Error("spawn: pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return Status::Error(std::string("spawn: fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) ExecChild(options, program.c_str(), argv.data(), envp.data(), err_pipe[1]);
  ::close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == sizeof child_errno) {
    int st;
    ::waitpid(pid, &st, 0);
    std::string where = options.cwd.empty() ? "" : " in " + options.cwd;
    return Status::Error("cannot start " + options.argv[0] + where + ": " +
                         std::strerror(child_errno));
  }
  if (options.new_process_group && !options.new_session) ::setpgid(pid, pid);  // avoid a race
  return pid;
}

Result<std::uint64_t> ProcessStartTime(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return Status::Error("no process " + std::to_string(pid));
  // Field 2 (comm) may contain spaces and parentheses: parse after the last ')'.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return Status::Error("malformed /proc stat");
  std::string rest = stat->substr(close + 2);
  // rest starts at field 3; field 22 is the 20th token of rest.
  size_t pos = 0;
  for (int field = 3; field < 22; ++field) {
    pos = rest.find(' ', pos);
    if (pos == std::string::npos) return Status::Error("malformed /proc stat");
    ++pos;
  }
  return std::stoull(rest.substr(pos, rest.find(' ', pos) - pos));
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return false;
  size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) return false;
  char state = (*stat)[close + 2];
  return state != 'Z' && state != 'X';
}

Status SignalGroup(pid_t pgid, int sig) {
  if (pgid <= 1) return Status::Error("refusing to signal process group " + std::to_string(pgid));
  if (::kill(-pgid, sig) != 0 && errno != ESRCH) {
    return Status::Error("kill -" + std::to_string(sig) + " -" + std::to_string(pgid) + ": " +
                         std::strerror(errno));
  }
  return Status::Ok();
}

bool GroupAlive(pid_t pgid) {
  if (pgid <= 1) return false;
  if (::kill(-pgid, 0) != 0) return false;
  // kill(0) also succeeds for zombies, which may linger when no one reaps them: look for a
  // live member in /proc.
  DIR* proc = ::opendir("/proc");
  if (!proc) return true;
  bool alive = false;
  while (dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    auto stat = ReadFile(std::string("/proc/") + e->d_name + "/stat");
    if (!stat.ok()) continue;
    size_t close = stat->rfind(')');
    if (close == std::string::npos || close + 2 >= stat->size()) continue;
    char state = (*stat)[close + 2];
    // Fields after ')': state ppid pgrp ...
    long ppid = 0, pgrp = 0;
    if (std::sscanf(stat->c_str() + close + 3, "%ld %ld", &ppid, &pgrp) != 2) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(proc);
  return alive;
}

std::optional<int> TryReap(pid_t pid) {
  int st = 0;
  pid_t r = ::waitpid(pid, &st, WNOHANG);
  if (r == pid) return st;
  return std::nullopt;
}

void StopProcessGroup(pid_t pgid, std::chrono::milliseconds grace) {
  if (pgid <= 1) return;
  (void)SignalGroup(pgid, SIGTERM);
  (void)SignalGroup(pgid, SIGCONT);
  // Polling here is bounded by `grace`; it waits on another process, not on our logic.
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    TryReap(pgid);
    if (!GroupAlive(pgid)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (void)SignalGroup(pgid, SIGKILL);
  for (int i = 0; i < 100; ++i) {
    TryReap(pgid);
    if (!GroupAlive(pgid)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    return "killed by signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) +
           ")";
  }
  return "ended (wait status " + std::to_string(st) + ")";
}

std::string SelfExecutable() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "gravity";
  return std::string(buf, static_cast<size_t>(n));
}

std::string ShellQuote(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace gravity
