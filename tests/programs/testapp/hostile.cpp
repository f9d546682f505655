#include "hostile.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace gravity::testapp {

namespace {

std::string Errno(int e) {
  const char* name = strerrorname_np(e);
  return std::string("errno ") + (name ? name : std::to_string(e).c_str());
}

std::string Result(long rc) { return rc < 0 ? Errno(errno) : "ok " + std::to_string(rc); }

std::string StatusLine(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return "ok " + line;
  }
  return "errno ENOENT";
}

}  // namespace

std::string Hostile(std::string_view what, const std::string& path, long n) {
  if (what == "read") {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno(errno);
    char buf[64];
    ssize_t got = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return got < 0 ? Errno(errno) : "ok read " + std::to_string(got) + " bytes";
  }
  if (what == "write") {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Errno(errno);
    ssize_t put = ::write(fd, "pwned\n", 6);
    ::close(fd);
    return put < 0 ? Errno(errno) : "ok wrote";
  }
  if (what == "listdir") {
    DIR* d = ::opendir(path.c_str());
    if (!d) return Errno(errno);
    int count = 0;
    while (dirent* e = ::readdir(d)) count += e->d_name[0] != '.';
    ::closedir(d);
    return "ok " + std::to_string(count) + " entries";
  }
  if (what == "procs") {
    DIR* d = ::opendir("/proc");
    if (!d) return Errno(errno);
    int count = 0;
    while (dirent* e = ::readdir(d)) count += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    ::closedir(d);
    return "ok " + std::to_string(count) + " processes";
  }
  if (what == "kill") return Result(::kill(static_cast<pid_t>(n), 0));
  if (what == "whoami") {
    return "ok " + std::to_string(::getuid()) + " " + std::to_string(::geteuid());
  }
  if (what == "mount") return Result(::mount("none", "/tmp", "tmpfs", 0, nullptr));
  if (what == "ptrace") {
    return Result(::ptrace(PTRACE_ATTACH, static_cast<pid_t>(n), nullptr, nullptr));
  }
  if (what == "unshare") return Result(::unshare(CLONE_NEWUSER));
  if (what == "module") return Result(::syscall(SYS_finit_module, 0, "", 0));
  if (what == "io_uring") return Result(::syscall(SYS_io_uring_setup, 1, nullptr));
  if (what == "bind") {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(n));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    int e = errno;
    ::close(s);
    errno = e;
    return Result(rc);
  }
  if (what == "exec") {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Errno(errno);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::execl(path.c_str(), path.c_str(), "--print-euid", static_cast<char*>(nullptr));
      std::printf("exec failed: %s\n", strerrorname_np(errno));
      std::fflush(stdout);
      ::_exit(127);
    }
    ::close(fds[1]);
    char buf[128];
    ssize_t got = ::read(fds[0], buf, sizeof buf - 1);
    ::close(fds[0]);
    ::waitpid(pid, nullptr, 0);
    std::string out = got > 0 ? std::string(buf, static_cast<size_t>(got)) : "";
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return "ok " + out;
  }
  if (what == "alloc") {
    // Touches every page, so the memory is really used; kept (the process is to die).
    static std::vector<char*> kept;
    for (long k = 0; k < n; ++k) {
      char* p = static_cast<char*>(std::malloc(1 << 20));
      if (!p) return Errno(ENOMEM);
      std::memset(p, 1, 1 << 20);
      kept.push_back(p);
    }
    return "ok allocated " + std::to_string(n) + " MiB";
  }
  if (what == "fork") {
    std::vector<pid_t> kids;
    std::string answer;
    for (long k = 0; k < n; ++k) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::pause();
        ::_exit(0);
      }
      if (pid < 0) {
        answer = Errno(errno) + " after " + std::to_string(k);
        break;
      }
      kids.push_back(pid);
    }
    for (pid_t p : kids) ::kill(p, SIGKILL);
    for (pid_t p : kids) ::waitpid(p, nullptr, 0);
    return answer.empty() ? "ok forked " + std::to_string(n) : answer;
  }
  if (what == "spin") {
    // Two threads busy for N ms of wall time; the answer is the CPU time they got.
    auto spin = [n] {
      auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(n);
      volatile unsigned long x = 0;
      while (std::chrono::steady_clock::now() < end) x = x + 1;
    };
    timespec before{}, after{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &before);
    std::thread a(spin), b(spin);
    a.join();
    b.join();
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &after);
    long ms = (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
    return "ok cpu_ms " + std::to_string(ms);
  }
  if (what == "env") {
    const char* v = std::getenv(path.c_str());
    return v ? std::string("ok ") + v : std::string("unset");
  }
  if (what == "caps") return StatusLine("CapEff:");
  if (what == "nnp") return StatusLine("NoNewPrivs:");
  return "errno EINVAL";
}

}  // namespace gravity::testapp
