#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace gravity::runtime {

// `gravity _instance --owner O --id ID --log FILE [--log-max-bytes N] -- PROGRAM ARGS...`
// (internal; started by ProcessLauncher). Runs PROGRAM as a child in the wrapper's own
// process group, writes each line of the child's stdout and stderr to FILE as
//   2025-01-31T12:00:00.123Z out <line>
//   2025-01-31T12:00:00.124Z err <line>
// and ends with a line `... gravity exited with status N` (or `killed by signal N (...)`).
// SIGTERM/SIGINT/SIGHUP to the wrapper are noted, not obeyed: the child gets them through
// the group and the wrapper keeps reading until the child is gone, so the last lines are
// never lost; SIGKILL to the group ends everything. Exits with the child's status (128+N
// for a signal). FILE is bounded: past N bytes (default 16 MiB) it is renamed FILE.1
// (replacing the previous FILE.1) and a new FILE begins.
int InstanceWrapperMain(int argc, char** argv);

// Formats one log line (no trailing newline in `text`); exposed for tests and `gravity logs`.
std::string FormatLogLine(std::chrono::system_clock::time_point when, std::string_view stream,
                          std::string_view text);

// Splits bytes into lines for the log: complete lines go to `emit`, a partial line stays in
// `pending`; a line longer than `max_line` is cut there.
template <typename Emit>
void SplitLines(std::string& pending, std::string_view data, size_t max_line, Emit&& emit) {
  pending.append(data);
  size_t start = 0;
  while (true) {
    size_t nl = pending.find('\n', start);
    if (nl == std::string::npos) {
      if (pending.size() - start >= max_line) {
        emit(std::string_view(pending).substr(start, max_line));
        start += max_line;
        continue;
      }
      break;
    }
    size_t end = nl;
    if (end > start && pending[end - 1] == '\r') --end;
    std::string_view line = std::string_view(pending).substr(start, end - start);
    while (line.size() > max_line) {
      emit(line.substr(0, max_line));
      line.remove_prefix(max_line);
    }
    emit(line);
    start = nl + 1;
  }
  pending.erase(0, start);
}

}  // namespace gravity::runtime
