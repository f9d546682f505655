#include "support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/fs.h"
#include "common/process.h"

namespace gravity::test {

using namespace std::chrono_literals;

Result<std::unique_ptr<Subprocess>> Subprocess::Start(SubprocessOptions options) {
  if (options.argv.empty()) return Status::Error("Subprocess: empty argv");
  std::unique_ptr<Subprocess> p(new Subprocess());
  if (options.output_path.empty()) {
    ASSIGN_OR_RETURN(p->own_dir_, MakeTempDir("gravity-subprocess"));
    p->output_path_ = p->own_dir_ + "/output.log";
  } else {
    p->output_path_ = options.output_path;
  }
  int fd = ::open(p->output_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Error("Subprocess: cannot open " + p->output_path_ + ": " +
                         std::strerror(errno));
  }
  SpawnOptions spawn;
  spawn.argv = options.argv;
  spawn.env = options.env;
  spawn.cwd = options.cwd;
  spawn.stdout_fd = fd;
  spawn.stderr_fd = fd;
  spawn.new_process_group = true;
  auto pid = Spawn(spawn);
  ::close(fd);
  if (!pid.ok()) return pid.status();
  p->pid_ = *pid;
  p->description_ = options.argv[0];
  return p;
}

Subprocess::~Subprocess() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    if (!wait_status_) Reap(true);
  }
  if (!own_dir_.empty()) (void)RemoveTree(own_dir_);
}

void Subprocess::Reap(bool block) {
  if (wait_status_ || pid_ <= 0) return;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) wait_status_ = status;
  if (r < 0 && errno == ECHILD) wait_status_ = 0;  // reaped elsewhere; treat as gone
}

bool Subprocess::Running() {
  Reap(false);
  return !wait_status_.has_value();
}

std::optional<int> Subprocess::WaitStatus() {
  Reap(false);
  return wait_status_;
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    Reap(false);
    if (wait_status_ || std::chrono::steady_clock::now() >= deadline) return wait_status_;
    std::this_thread::sleep_for(5ms);
  }
}

int Subprocess::ExitCode() {
  Reap(false);
  if (wait_status_ && WIFEXITED(*wait_status_)) return WEXITSTATUS(*wait_status_);
  return -1;
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0) ::kill(-pid_, sig);
}

std::optional<int> Subprocess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return wait_status_;
  Signal(SIGTERM);
  Wait(grace);
  Kill();
  return wait_status_;
}

void Subprocess::Kill() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  Reap(true);
}

std::string Subprocess::Output() const {
  auto content = ReadFile(output_path_);
  return content.ok() ? *content : std::string();
}

bool Subprocess::WaitForOutput(std::string_view needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (Output().find(needle) != std::string::npos) return true;
    if (!Running()) return Output().find(needle) != std::string::npos;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const std::string& cwd,
                                 const std::map<std::string, std::string>& env,
                                 std::chrono::milliseconds timeout) {
  if (argv.empty()) return Status::Error("RunCommand: empty argv");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Status::Error("RunCommand: pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Status::Error("RunCommand: pipe failed");
  }
  SpawnOptions spawn;
  spawn.argv = argv;
  spawn.cwd = cwd;
  spawn.env = env;
  spawn.stdout_fd = out_pipe[1];
  spawn.stderr_fd = err_pipe[1];
  auto pid = Spawn(spawn);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (!pid.ok()) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return pid.status();
  }
  CommandResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        sinks[i]->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  if (result.timed_out) ::kill(-*pid, SIGKILL);
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

Result<std::string> RunOk(const std::vector<std::string>& argv, const std::string& cwd,
                          const std::map<std::string, std::string>& env,
                          std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, cwd, env, timeout));
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::string why = r.timed_out ? "timed out" : "exited with " + std::to_string(r.exit_code);
    return Status::Error("`" + cmd + "` " + why + ": " + r.err + r.out);
  }
  return r.out;
}

}  // namespace gravity::test
