#include "runtime/instance_wrapper.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

#include "common/process.h"
#include "runtime/cgroup.h"
#include "runtime/sandbox.h"

namespace gravity::runtime {

namespace {

constexpr size_t kMaxLine = 16 * 1024;
// An instance's log is two files at most: FILE and FILE.1, each about this size at most
// (`--log-max-bytes`). The daemon's ingester follows the rename (docs/logs.md).
constexpr std::int64_t kDefaultLogMaxBytes = 16 << 20;

volatile sig_atomic_t g_last_signal = 0;

void NoteSignal(int sig) { g_last_signal = sig; }

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    off += static_cast<size_t>(n);
  }
}

struct Stream {
  int fd = -1;
  const char* name;
  std::string pending;
};

}  // namespace

std::string FormatLogLine(std::chrono::system_clock::time_point when, std::string_view stream,
                          std::string_view text) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  std::string line = buf;
  line.append(stream);
  line += ' ';
  line.append(text);
  return line;
}

namespace {

struct WrapperArgs {
  std::string log_path;
  std::int64_t log_max_bytes = kDefaultLogMaxBytes;
  std::vector<std::string> program;
  SandboxOptions sandbox;
  bool sandboxed = false;  // any sandbox flag given (else: a plain child, as before)
};

// Reads the command line into `args`: 0, or the exit status for a bad one (said on stderr).
int ParseWrapperArgs(int argc, char** argv, WrapperArgs& args) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (int j = i + 1; j < argc; ++j) args.program.push_back(argv[j]);
      break;
    }
    std::string flag_error;
    if (args.sandbox.ParseFlag(argc, argv, i, flag_error)) {
      if (!flag_error.empty()) {
        std::fprintf(stderr, "gravity _instance: %s\n", flag_error.c_str());
        return 2;
      }
      args.sandboxed = true;
      continue;
    }
    if (a == "--log-max-bytes" && i + 1 < argc) {
      char* end = nullptr;
      long long v = std::strtoll(argv[i + 1], &end, 10);
      if (!end || *end != '\0' || v < 4096) {
        std::fprintf(stderr, "gravity _instance: --log-max-bytes '%s': expected bytes >= 4096\n",
                     argv[i + 1]);
        return 2;
      }
      args.log_max_bytes = v;
      ++i;
      continue;
    }
    if ((a == "--log" || a == "--owner" || a == "--id") && i + 1 < argc) {
      if (a == "--log") args.log_path = argv[i + 1];
      ++i;
      continue;
    }
    std::fprintf(stderr, "gravity _instance: unexpected argument '%s'\n", a.c_str());
    return 2;
  }
  if (args.log_path.empty() || args.program.empty()) {
    std::fprintf(stderr,
                 "usage: gravity _instance --log FILE [--owner O] [--id ID] -- PROGRAM...\n");
    return 2;
  }
  return 0;
}

// The instance's log file, rotated past `max_bytes`: FILE becomes FILE.1 (replacing the
// one before) and a new FILE is started. A failed rotation keeps appending to the current
// file rather than losing lines.
class RotatingLog {
 public:
  RotatingLog(std::string path, std::int64_t max_bytes)
      : path_(std::move(path)), max_bytes_(max_bytes) {}
  ~RotatingLog() {
    if (fd_ >= 0) ::close(fd_);
  }
  RotatingLog(const RotatingLog&) = delete;
  RotatingLog& operator=(const RotatingLog&) = delete;

  bool Open() {
    fd_ = OpenForAppend();
    if (fd_ < 0) return false;
    struct stat st {};
    size_ = ::fstat(fd_, &st) == 0 ? st.st_size : 0;
    return true;
  }

  void Write(std::string_view stream, std::string_view text) {
    std::string line = FormatLogLine(std::chrono::system_clock::now(), stream, text);
    line += '\n';
    WriteAll(fd_, line);
    size_ += static_cast<std::int64_t>(line.size());
    if (size_ < max_bytes_) return;
    std::string older = path_ + ".1";
    if (::rename(path_.c_str(), older.c_str()) != 0) return;
    int fresh = OpenForAppend();
    if (fresh < 0) return;
    ::close(fd_);
    fd_ = fresh;
    size_ = 0;
  }

 private:
  int OpenForAppend() const {
    return ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }

  std::string path_;
  std::int64_t max_bytes_;
  int fd_ = -1;
  std::int64_t size_ = 0;
};

// Starts the program with its stdout and stderr on the pipes' write ends, in the wrapper's
// process group (one signal stops both).
Result<pid_t> StartChild(const WrapperArgs& args, Cgroup* cgroup, int out_fd, int err_fd,
                         RotatingLog& log) {
  if (!args.sandboxed) {
    SpawnOptions o;
    o.argv = args.program;
    o.stdout_fd = out_fd;
    o.stderr_fd = err_fd;
    o.new_process_group = false;
    return Spawn(o);
  }
  if (args.sandbox.mode == SandboxMode::kOff) {
    log.Write("gravity",
              "WARNING: sandbox: off — this instance runs as root in the daemon's "
              "namespaces and can read the API token and every app's files");
  }
  return SpawnSandboxed(args.sandbox, cgroup, SelfExecutable(), args.program, out_fd, err_fd);
}

std::string StartedLine(const WrapperArgs& args, pid_t pid) {
  std::string line = "started pid " + std::to_string(pid);
  if (!args.sandboxed || args.sandbox.mode == SandboxMode::kOff) return line;
  return line + " (sandboxed as uid " + std::to_string(args.sandbox.uid) + ", limits: memory " +
         FormatByteSize(args.sandbox.limits.memory) + ", pids " +
         std::to_string(args.sandbox.limits.pids) + ")";
}

// Copies the child's output into the log line by line until the child has ended and its
// pipes are closed (or a short while after it ended: descendants may still hold them);
// notes signals to the wrapper and OOM kills in the cgroup as they happen. The child's wait
// status.
int PumpUntilExit(pid_t child, int out_fd, int err_fd, Cgroup* cgroup,
                  const ResourceLimits& limits, RotatingLog& log) {
  Stream streams[2] = {{out_fd, "out", {}}, {err_fd, "err", {}}};
  std::optional<int> status;
  int noted_signal = 0;
  std::int64_t oom_seen = 0;
  int drain_polls_left = 4;
  char buf[65536];
  while (true) {
    if (g_last_signal != noted_signal && g_last_signal != 0) {
      noted_signal = g_last_signal;
      log.Write("gravity", std::string("received ") + strsignal(noted_signal));
    }
    pollfd fds[2];
    int nfds = 0;
    for (auto& s : streams) {
      if (s.fd >= 0) fds[nfds++] = pollfd{s.fd, POLLIN, 0};
    }
    if (nfds == 0 && status) break;
    if (nfds > 0) {
      int r = ::poll(fds, static_cast<nfds_t>(nfds), 200);
      if (r < 0 && errno != EINTR) break;
      for (int k = 0; k < nfds && r > 0; ++k) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Stream& s = streams[0].fd == fds[k].fd ? streams[0] : streams[1];
        ssize_t n = ::read(s.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          if (!s.pending.empty()) log.Write(s.name, s.pending);
          s.pending.clear();
          ::close(s.fd);
          s.fd = -1;
          continue;
        }
        SplitLines(s.pending, std::string_view(buf, static_cast<size_t>(n)), kMaxLine,
                   [&](std::string_view line) { log.Write(s.name, line); });
      }
    } else {
      ::usleep(50 * 1000);
    }
    if (cgroup) {
      // An OOM kill of any process of the instance is said when it happens.
      std::int64_t ooms = cgroup->OomKills();
      if (ooms > oom_seen) {
        oom_seen = ooms;
        log.Write("gravity",
                  "out of memory: the kernel killed a process of the instance at "
                  "its limit of " +
                      FormatByteSize(limits.memory));
      }
    }
    if (!status) {
      int st = 0;
      pid_t w = ::waitpid(child, &st, WNOHANG);
      if (w == child) status = st;
    } else if (--drain_polls_left <= 0) {
      for (auto& s : streams) {
        if (!s.pending.empty()) log.Write(s.name, s.pending);
      }
      break;
    }
  }
  for (auto& s : streams) {
    if (s.fd >= 0) ::close(s.fd);
  }
  if (!status) {
    int st = 0;
    while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    status = st;
  }
  return *status;
}

}  // namespace

int InstanceWrapperMain(int argc, char** argv) {
  WrapperArgs args;
  if (int bad = ParseWrapperArgs(argc, argv, args); bad != 0) return bad;
  RotatingLog log(args.log_path, args.log_max_bytes);
  if (!log.Open()) {
    std::fprintf(stderr, "gravity _instance: cannot open %s: %s\n", args.log_path.c_str(),
                 std::strerror(errno));
    return 2;
  }

  struct sigaction sa {};
  sa.sa_handler = NoteSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    log.Write("gravity", "cannot create pipes");
    return 2;
  }
  // The instance's cgroup: created here, removed when the instance has ended.
  std::optional<Cgroup> cgroup;
  if (args.sandboxed && !args.sandbox.cgroup.empty()) {
    cgroup.emplace(HostCgroups(), args.sandbox.cgroup);
    if (Status s = cgroup->Create(args.sandbox.limits); !s.ok()) {
      log.Write("gravity", "cannot create the instance's cgroup: " + s.message());
      (void)cgroup->Remove();
      log.Write("gravity", "exited with status 126");
      return 126;
    }
  }
  Cgroup* cg = cgroup ? &*cgroup : nullptr;
  Result<pid_t> child = StartChild(args, cg, out_pipe[1], err_pipe[1], log);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (!child.ok()) {
    log.Write("gravity", child.error());
    if (cgroup) (void)cgroup->Remove();
    log.Write("gravity", "exited with status 127");
    return 127;
  }
  log.Write("gravity", StartedLine(args, *child));
  const int status = PumpUntilExit(*child, out_pipe[0], err_pipe[0], cg, args.sandbox.limits, log);
  std::string reason = cgroup ? LimitReason(*cgroup, args.sandbox.limits) : "";
  if (cgroup) (void)cgroup->Remove();
  log.Write("gravity", reason.empty() ? DescribeWaitStatus(status) : reason);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace gravity::runtime
