#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace gravity::pipeline {

// One line of captured output.
struct LogLine {
  std::int64_t time_ms = 0;  // wall clock, milliseconds since the epoch
  std::string text;
};

// Bounded capture of a command's output: the first `head_bytes` and the last `tail_bytes`
// are kept; what lies between is counted and replaced by one marker line saying how much
// was dropped. Lines longer than `max_line_bytes` are cut. Not thread-safe.
class BoundedLog {
 public:
  BoundedLog(std::size_t head_bytes, std::size_t tail_bytes, std::size_t max_line_bytes = 8192)
      : head_limit_(head_bytes), tail_limit_(tail_bytes), max_line_(max_line_bytes) {}
  void Add(LogLine line);
  // The kept lines, with a marker line where lines were dropped.
  std::vector<LogLine> Lines() const;
  std::uint64_t dropped_lines() const { return dropped_lines_; }
  std::uint64_t dropped_bytes() const { return dropped_bytes_; }
  std::uint64_t total_lines() const { return total_lines_; }
  // Lines kept in the head so far: they come first in Lines(), in order, and never change.
  std::size_t head_lines() const { return head_.size(); }
  const LogLine& head_line(std::size_t i) const { return head_.at(i); }
  // The last `n` kept lines joined with '\n' (for error messages).
  std::string Tail(std::size_t n) const;

 private:
  std::size_t head_limit_, tail_limit_, max_line_;
  std::vector<LogLine> head_;
  std::size_t head_bytes_ = 0;
  std::deque<LogLine> tail_;
  std::size_t tail_bytes_ = 0;
  std::int64_t drop_time_ms_ = 0;
  std::uint64_t dropped_lines_ = 0, dropped_bytes_ = 0, total_lines_ = 0;
};

struct CommandOptions {
  std::string command;  // run with /bin/sh -c
  // Program and arguments put before `/bin/sh -c COMMAND`, e.g. the sandbox:
  // {gravity, "_sandbox", flags..., "--"}. Empty: the shell runs plainly.
  std::vector<std::string> wrapper;
  std::string cwd;
  std::map<std::string, std::string> env;  // added to the daemon's environment
  bool inherit_env = true;                 // false: `env` is the whole environment
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::size_t head_bytes = 256 * 1024;
  std::size_t tail_bytes = 256 * 1024;
  const std::atomic<bool>* cancel = nullptr;  // set -> the group is killed, result "cancelled"
  Clock* clock = nullptr;                     // default: the real clock
  // Called with the shell's pid (= its process group) right after it started.
  std::function<void(int pid)> on_start;
  // Called with each line that lands in the log's head, as it arrives (for live views). The
  // lines after those (Lines() from index head_lines()) are only known at the end.
  std::function<void(const LogLine&)> on_head_line;
  // Called about every 100 ms while the command runs (e.g. to flush batched lines).
  std::function<void()> on_poll;
};

struct CommandResult {
  bool ok = false;         // exited with status 0
  bool timed_out = false;  // killed because the timeout passed
  bool cancelled = false;
  int wait_status = 0;
  std::chrono::milliseconds elapsed{0};
  std::chrono::milliseconds timeout{0};  // the limit it ran under
  BoundedLog log{0, 0};
  // "exited with status 2", "timed out after 2s (process group killed)", ...
  std::string Describe() const;
};

// Runs `command` under /bin/sh -c in its own process group with stdout and stderr
// captured line by line (timestamped). When the timeout passes the whole group is killed
// (TERM, then KILL); when the shell exits, anything it left running in its group is
// killed too, so nothing outlives the command. Errors only when it cannot start.
Result<CommandResult> RunCommand(const CommandOptions& options);

}  // namespace gravity::pipeline
