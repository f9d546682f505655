#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gravity::test {

struct SubprocessOptions {
  std::vector<std::string> argv;           // argv[0]: a path, or a name looked up on PATH
  std::map<std::string, std::string> env;  // added to the inherited environment
  std::string cwd;                         // empty: inherit
  std::string output_path;  // stdout+stderr go here; empty: a file in a private temp dir
};

// A child process in its own process group, with stdout and stderr going to one file.
// Destruction kills the whole group (SIGKILL) and reaps the child, so a failing test never
// leaves a process behind. Not thread-safe: use from one thread.
class Subprocess {
 public:
  static Result<std::unique_ptr<Subprocess>> Start(SubprocessOptions options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& output_path() const { return output_path_; }

  // True while the child has not exited (reaps it when it has).
  bool Running();
  // The raw wait status once the child has exited (see DescribeWaitStatus in process.h).
  std::optional<int> WaitStatus();
  // Waits up to `timeout` for the child to exit; its wait status, or nullopt.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Exit code when it exited normally; -1 when killed by a signal or still running.
  int ExitCode();

  // Sends `sig` to the child's process group.
  void Signal(int sig);
  // SIGTERM to the group, then SIGKILL after `grace`; reaps. Returns the wait status.
  std::optional<int> Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // SIGKILL to the group; reaps.
  void Kill();

  // Everything the child wrote so far.
  std::string Output() const;
  // Polls the output until it contains `needle`; false after `timeout` or when the child
  // exited without writing it.
  bool WaitForOutput(std::string_view needle, std::chrono::milliseconds timeout);

 private:
  Subprocess() = default;
  void Reap(bool block);

  pid_t pid_ = -1;
  std::optional<int> wait_status_;
  std::string output_path_;
  std::string own_dir_;  // removed on destruction when we made it
  std::string description_;
};

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;     // stdout
  std::string err;     // stderr
  bool timed_out = false;
};

// Runs a command to completion (bounded by `timeout`, then its group is killed) and captures
// stdout and stderr separately. An error only when it could not be started.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const std::string& cwd = "",
                                 const std::map<std::string, std::string>& env = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Like RunCommand, but an error unless the command exits 0; the error names the command
// and carries its stderr. Returns stdout.
Result<std::string> RunOk(const std::vector<std::string>& argv, const std::string& cwd = "",
                          const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace gravity::test
