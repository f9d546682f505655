#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gravity::runtime {

// One line of an instance log as written by the `_instance` wrapper:
//   2025-01-31T12:00:00.123Z out hello
struct LogLine {
  std::chrono::system_clock::time_point time;
  std::string stream;  // out | err | gravity
  std::string text;
};

// Parses a log line; nullopt when it is not in the wrapper's format.
std::optional<LogLine> ParseLogLine(std::string_view raw);

// The last `n` lines of a file (reads at most the last `max_bytes`). Missing file: error.
Result<std::vector<std::string>> TailLines(const std::string& path, size_t n,
                                           size_t max_bytes = 256 * 1024);

// The wrapper's note on how the instance's last process ended ("exited with status 3"),
// from the end of its log; empty when there is none after the last start.
std::string LastExitFromLog(const std::string& path);

}  // namespace gravity::runtime
