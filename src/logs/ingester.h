#pragma once

// Moves what instances and the proxy wrote to their files into the log store.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "logs/entry.h"
#include "logs/store.h"

namespace gravity::logs {

struct IngestStats {
  std::size_t files = 0;  // files read from
  std::size_t lines = 0;
  std::size_t bytes = 0;
};

// Tails the instance logs under `logs_root` (<app>/<env>/<release>/<instance>.log, and the
// `.log.1` the wrapper rotates to) and the proxy's access log (and its `.1`). Each file's
// offset lives in the store and is moved in the same transaction as the lines read, so a
// process killed at any point resumes where the last commit ended: no line is lost or
// stored twice. Offsets are per inode, so a rotation (rename, new file) is followed: the
// old file is read to its end before the new one. Only complete lines are taken; a partial
// last line waits for its newline.
//
// Not thread-safe: one thread calls RunOnce. Several processes may ingest the same files
// into the same store (the daemon, and `gravity logs` catching up while it is down).
class Ingester {
 public:
  Ingester(LogStore& store, std::string logs_root, std::string access_log, Clock& clock)
      : store_(store),
        logs_root_(std::move(logs_root)),
        access_log_(std::move(access_log)),
        clock_(clock) {}

  // One pass over every file, in one transaction; reads at most `budget` bytes per file.
  // `committed`, when given, receives the lines once their transaction committed.
  Result<IngestStats> RunOnce(std::size_t budget = 32u << 20,
                              std::vector<Entry>* committed = nullptr);

 private:
  struct FileRef;
  static void ToEntry(const FileRef& ref, std::string_view line, std::int64_t last_time,
                      Entry* e);
  Status IngestFile(WriteBatch& batch, const FileRef& ref, std::size_t budget,
                    IngestStats* stats,
                    std::vector<std::pair<std::string, std::int64_t>>* seen,
                    std::vector<Entry>* stored);

  LogStore& store_;
  const std::string logs_root_;
  const std::string access_log_;
  Clock& clock_;
};

// One line of an instance log (runtime's FormatLogLine: "2025-01-31T12:00:00.123Z out
// text") into `e` (time, stream, text); false when the line is not in that format.
bool ParseInstanceLine(std::string_view raw, Entry* e);
// One proxy access-log line (JSON) into `e` (time, app and env from "service", instance =
// target, request fields; text = the line); false when it is not one.
bool ParseAccessLine(std::string_view raw, Entry* e);

}  // namespace gravity::logs
