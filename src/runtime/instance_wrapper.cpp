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

int InstanceWrapperMain(int argc, char** argv) {
  std::string log_path;
  std::int64_t log_max_bytes = kDefaultLogMaxBytes;
  std::vector<std::string> program;
  SandboxOptions sandbox;
  bool sandboxed = false;  // any sandbox flag given (else: a plain child, as before)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (int j = i + 1; j < argc; ++j) program.push_back(argv[j]);
      break;
    }
    std::string flag_error;
    if (sandbox.ParseFlag(argc, argv, i, flag_error)) {
      if (!flag_error.empty()) {
        std::fprintf(stderr, "gravity _instance: %s\n", flag_error.c_str());
        return 2;
      }
      sandboxed = true;
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
      log_max_bytes = v;
      ++i;
      continue;
    }
    if ((a == "--log" || a == "--owner" || a == "--id") && i + 1 < argc) {
      if (a == "--log") log_path = argv[i + 1];
      ++i;
      continue;
    }
    std::fprintf(stderr, "gravity _instance: unexpected argument '%s'\n", a.c_str());
    return 2;
  }
  if (log_path.empty() || program.empty()) {
    std::fprintf(stderr,
                 "usage: gravity _instance --log FILE [--owner O] [--id ID] -- PROGRAM...\n");
    return 2;
  }
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    std::fprintf(stderr, "gravity _instance: cannot open %s: %s\n", log_path.c_str(),
                 std::strerror(errno));
    return 2;
  }
  struct stat log_stat {};
  std::int64_t log_size = ::fstat(log, &log_stat) == 0 ? log_stat.st_size : 0;
  auto now = [] { return std::chrono::system_clock::now(); };
  auto write_line = [&](std::string_view stream, std::string_view text) {
    std::string line = FormatLogLine(now(), stream, text);
    line += '\n';
    WriteAll(log, line);
    log_size += static_cast<std::int64_t>(line.size());
    if (log_size < log_max_bytes) return;
    // Rotate: FILE becomes FILE.1 (replacing the one before), a new FILE is started. A
    // failure keeps appending to the current file rather than losing lines.
    std::string older = log_path + ".1";
    if (::rename(log_path.c_str(), older.c_str()) != 0) return;
    int fresh = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fresh < 0) return;
    ::close(log);
    log = fresh;
    log_size = 0;
  };

  struct sigaction sa {};
  sa.sa_handler = NoteSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    write_line("gravity", "cannot create pipes");
    return 2;
  }
  // The instance's cgroup: created here, removed when the instance has ended.
  std::optional<Cgroup> cgroup;
  if (sandboxed && !sandbox.cgroup.empty()) {
    cgroup.emplace(HostCgroups(), sandbox.cgroup);
    if (Status s = cgroup->Create(sandbox.limits); !s.ok()) {
      write_line("gravity", "cannot create the instance's cgroup: " + s.message());
      (void)cgroup->Remove();
      write_line("gravity", "exited with status 126");
      return 126;
    }
  }
  Result<pid_t> child = Status::Error("not started");
  if (sandboxed) {
    if (sandbox.mode == SandboxMode::kOff) {
      write_line("gravity",
                 "WARNING: sandbox: off — this instance runs as root in the daemon's "
                 "namespaces and can read the API token and every app's files");
    }
    // Stays in the wrapper's group: one signal stops both.
    child = SpawnSandboxed(sandbox, cgroup ? &*cgroup : nullptr, SelfExecutable(), program,
                           out_pipe[1], err_pipe[1]);
  } else {
    SpawnOptions o;
    o.argv = program;
    o.stdout_fd = out_pipe[1];
    o.stderr_fd = err_pipe[1];
    o.new_process_group = false;  // stay in the wrapper's group: one signal stops both
    child = Spawn(o);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (!child.ok()) {
    write_line("gravity", child.error());
    if (cgroup) (void)cgroup->Remove();
    write_line("gravity", "exited with status 127");
    return 127;
  }
  write_line("gravity", "started pid " + std::to_string(*child) +
                            (!sandboxed || sandbox.mode == SandboxMode::kOff
                                 ? ""
                                 : " (sandboxed as uid " + std::to_string(sandbox.uid) +
                                       ", limits: memory " + FormatByteSize(sandbox.limits.memory) +
                                       ", pids " + std::to_string(sandbox.limits.pids) + ")"));
  std::int64_t oom_seen = 0;

  Stream streams[2] = {{out_pipe[0], "out", {}}, {err_pipe[0], "err", {}}};
  std::optional<int> status;
  int noted_signal = 0;
  // After the child ends, descendants may still hold the pipes: read for a short while more.
  int drain_polls_left = 4;
  char buf[65536];
  while (true) {
    if (g_last_signal != noted_signal && g_last_signal != 0) {
      noted_signal = g_last_signal;
      write_line("gravity", std::string("received ") + strsignal(noted_signal));
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
          if (!s.pending.empty()) write_line(s.name, s.pending);
          s.pending.clear();
          ::close(s.fd);
          s.fd = -1;
          continue;
        }
        SplitLines(s.pending, std::string_view(buf, static_cast<size_t>(n)), kMaxLine,
                   [&](std::string_view line) { write_line(s.name, line); });
      }
    } else {
      ::usleep(50 * 1000);
    }
    if (cgroup) {
      // An OOM kill of any process of the instance is said when it happens.
      std::int64_t ooms = cgroup->OomKills();
      if (ooms > oom_seen) {
        oom_seen = ooms;
        write_line("gravity",
                   "out of memory: the kernel killed a process of the instance at "
                   "its limit of " +
                       FormatByteSize(sandbox.limits.memory));
      }
    }
    if (!status) {
      int st = 0;
      pid_t w = ::waitpid(*child, &st, WNOHANG);
      if (w == *child) status = st;
    } else if (--drain_polls_left <= 0) {
      for (auto& s : streams) {
        if (!s.pending.empty()) write_line(s.name, s.pending);
      }
      break;
    }
  }
  if (!status) {
    int st = 0;
    while (::waitpid(*child, &st, 0) < 0 && errno == EINTR) {
    }
    status = st;
  }
  std::string reason = cgroup ? LimitReason(*cgroup, sandbox.limits) : "";
  if (cgroup) (void)cgroup->Remove();
  write_line("gravity", reason.empty() ? DescribeWaitStatus(*status) : reason);
  ::close(log);
  if (WIFEXITED(*status)) return WEXITSTATUS(*status);
  if (WIFSIGNALED(*status)) return 128 + WTERMSIG(*status);
  return 1;
}

}  // namespace gravity::runtime
