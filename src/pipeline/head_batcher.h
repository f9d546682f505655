#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "pipeline/command.h"

namespace gravity::pipeline {

// Streams the head of a running command's output in small batches, so a running build or
// test can be watched: lines collect until kMaxPending are pending, or until Poll() finds
// more than kMaxAge gone since the last flush, then go to the sink together. `prefix` is
// put in front of every line as it is added (and of the unstreamed rest). It counts what it
// streamed, so that when the command ends only the rest of its kept output is appended.
// Not thread-safe: one per running command, used from the thread that runs it.
class HeadLineBatcher {
 public:
  using Sink = std::function<void(const std::vector<LogLine>&)>;
  static constexpr std::size_t kMaxPending = 200;
  static constexpr std::chrono::milliseconds kMaxAge{250};

  HeadLineBatcher(const Clock& clock, std::string prefix, Sink sink);

  // Sets `o.on_head_line` and `o.on_poll` to feed this batcher; it must outlive the command.
  void AttachTo(CommandOptions& o);
  void Add(LogLine line);
  // Flushes when lines are pending and more than kMaxAge passed since the last flush.
  void Poll();
  // Hands every pending line to the sink (nothing when none is pending).
  void Flush();
  std::size_t streamed() const { return streamed_; }
  // The lines of `all` (the command's whole kept output) past those already streamed,
  // prefixed.
  std::vector<LogLine> Unstreamed(const std::vector<LogLine>& all) const;

 private:
  const Clock& clock_;
  const std::string prefix_;
  const Sink sink_;
  std::vector<LogLine> pending_;
  std::size_t streamed_ = 0;
  Clock::TimePoint last_flush_;
};

}  // namespace gravity::pipeline
