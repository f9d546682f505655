#include "pipeline/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/duration.h"
#include "common/process.h"

namespace gravity::pipeline {

void BoundedLog::Add(LogLine line) {
  ++total_lines_;
  if (line.text.size() > max_line_) {
    std::size_t cut = line.text.size() - max_line_;
    line.text.resize(max_line_);
    line.text += " [... " + std::to_string(cut) + " bytes cut from this line]";
  }
  std::size_t size = line.text.size() + 1;
  if (dropped_lines_ == 0 && tail_.empty() && head_bytes_ + size <= head_limit_) {
    head_bytes_ += size;
    head_.push_back(std::move(line));
    return;
  }
  tail_bytes_ += size;
  tail_.push_back(std::move(line));
  while (tail_bytes_ > tail_limit_ && !tail_.empty()) {
    tail_bytes_ -= tail_.front().text.size() + 1;
    dropped_bytes_ += tail_.front().text.size() + 1;
    if (dropped_lines_ == 0) drop_time_ms_ = tail_.front().time_ms;
    ++dropped_lines_;
    tail_.pop_front();
  }
}

std::vector<LogLine> BoundedLog::Lines() const {
  std::vector<LogLine> out(head_.begin(), head_.end());
  if (dropped_lines_ > 0) {
    out.push_back({drop_time_ms_, "[gravity: " + std::to_string(dropped_lines_) + " lines (" +
                                      std::to_string(dropped_bytes_) +
                                      " bytes) of output dropped here; head and tail kept]"});
  }
  out.insert(out.end(), tail_.begin(), tail_.end());
  return out;
}

std::string BoundedLog::Tail(std::size_t n) const {
  std::vector<LogLine> all = Lines();
  std::size_t start = all.size() > n ? all.size() - n : 0;
  std::string out;
  for (std::size_t i = start; i < all.size(); ++i) {
    if (!out.empty()) out += '\n';
    out += all[i].text;
  }
  return out;
}

std::string CommandResult::Describe() const {
  if (timed_out) {
    return "timed out after " + FormatDuration(timeout) + " (process group killed)";
  }
  if (cancelled) return "cancelled (process group killed)";
  return DescribeWaitStatus(wait_status);
}

namespace {

// Starts `/bin/sh -c command` (behind options.wrapper) in a process group of its own, its
// stdout and stderr on one pipe; `*out` is the pipe's read end, non-blocking.
Result<pid_t> StartCommand(const CommandOptions& options, int* out) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::Error("cannot create a pipe");
  SpawnOptions spawn;
  spawn.argv = options.wrapper;
  spawn.argv.insert(spawn.argv.end(), {"/bin/sh", "-c", options.command});
  spawn.cwd = options.cwd;
  spawn.env = options.env;
  spawn.inherit_env = options.inherit_env;
  spawn.stdout_fd = fds[1];
  spawn.stderr_fd = fds[1];
  spawn.new_process_group = true;
  auto pid = Spawn(spawn);
  ::close(fds[1]);
  if (!pid.ok()) {
    ::close(fds[0]);
    return pid.status();
  }
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  *out = fds[0];
  return *pid;
}

// Cuts the command's output into lines for the result's bounded log (the first ones also
// to on_head_line); a partial line is held up to 64 KiB.
class LineCollector {
 public:
  LineCollector(const CommandOptions& options, Clock& clock, BoundedLog& log)
      : options_(options), clock_(clock), log_(log) {}

  void Append(const char* data, std::size_t n) {
    partial_.append(data, n);
    Flush(false);
  }

  // `all`: the output has ended; a last line without a newline counts too.
  void Flush(bool all) {
    std::size_t pos;
    while ((pos = partial_.find('\n')) != std::string::npos) {
      std::string text = partial_.substr(0, pos);
      if (!text.empty() && text.back() == '\r') text.pop_back();
      Add(std::move(text));
      partial_.erase(0, pos + 1);
    }
    if (all && !partial_.empty()) {
      Add(std::move(partial_));
      partial_.clear();
    }
    // Never hold an unbounded partial line.
    if (partial_.size() > 64 * 1024) {
      Add(partial_);
      partial_.clear();
    }
  }

 private:
  void Add(std::string text) {
    std::size_t head_before = log_.head_lines();
    log_.Add({clock_.WallMs(), std::move(text)});
    if (options_.on_head_line && log_.head_lines() > head_before) {
      options_.on_head_line(log_.head_line(head_before));
    }
  }

  const CommandOptions& options_;
  Clock& clock_;
  BoundedLog& log_;
  std::string partial_;
};

}  // namespace

Result<CommandResult> RunCommand(const CommandOptions& options) {
  Clock& clock = options.clock ? *options.clock : Clock::Real();
  int out = -1;  // the output pipe
  auto pid = StartCommand(options, &out);
  if (!pid.ok()) return pid.status();
  if (options.on_start) options.on_start(*pid);

  CommandResult result;
  result.log = BoundedLog(options.head_bytes, options.tail_bytes);
  result.timeout = options.timeout;
  auto start = clock.Now();
  auto deadline = start + options.timeout;
  LineCollector lines(options, clock, result.log);
  bool eof = false;
  bool exited = false;
  bool killed = false;
  Clock::TimePoint exited_at{};
  char buf[16384];
  while (!eof) {
    pollfd p{out, POLLIN, 0};
    int rc = ::poll(&p, 1, 100);
    if (rc > 0) {
      for (;;) {
        ssize_t n = ::read(out, buf, sizeof buf);
        if (n > 0) {
          lines.Append(buf, static_cast<std::size_t>(n));
          continue;
        }
        if (n == 0) eof = true;
        break;  // EAGAIN or error
      }
    }
    if (options.on_poll) options.on_poll();
    if (!exited) {
      if (auto st = TryReap(*pid)) {
        exited = true;
        exited_at = clock.Now();
        result.wait_status = *st;
      }
    }
    auto now = clock.Now();
    bool cancel = options.cancel && options.cancel->load();
    if (!killed && !exited && (now >= deadline || cancel)) {
      result.timed_out = !cancel;
      result.cancelled = cancel;
      killed = true;
      StopProcessGroup(*pid, std::chrono::milliseconds(2000));
    }
    // The shell is gone but something it started still holds the pipe: the command has
    // ended, its leftovers are killed.
    if (exited && !eof && now - exited_at > std::chrono::milliseconds(500)) {
      SignalGroup(*pid, SIGKILL);
      if (now - exited_at > std::chrono::seconds(5)) break;  // a process outside the group
    }
  }
  lines.Flush(true);
  ::close(out);
  if (!exited) {
    int st = 0;
    if (::waitpid(*pid, &st, 0) == *pid) result.wait_status = st;
  }
  // Nothing of the command's group outlives it.
  if (GroupAlive(*pid)) StopProcessGroup(*pid, std::chrono::milliseconds(1000));
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now() - start);
  result.ok = !result.timed_out && !result.cancelled && WIFEXITED(result.wait_status) &&
              WEXITSTATUS(result.wait_status) == 0;
  return result;
}

}  // namespace gravity::pipeline
