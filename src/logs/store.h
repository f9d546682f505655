#pragma once

// The log store of one stack: one SQLite file (state_dir/logs.db, WAL) holding every line
// of every source, with an FTS5 index over the text, the ingester's file offsets and
// per-app usage for retention. docs/logs.md describes the schema and its guarantees.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "logs/entry.h"

struct sqlite3;

namespace gravity::logs {

struct Retention {
  std::int64_t max_bytes = std::int64_t{1} << 30;                  // per app
  std::int64_t max_age_ns = std::int64_t{14} * 86400 * 1000000000;  // per app
};

// What a query asks for. Empty strings and unset optionals do not filter.
struct Filter {
  std::string app;  // required
  std::string env;
  std::string release;  // a prefix of the commit
  std::string instance;
  std::string source;
  std::optional<std::int64_t> since_ns;  // time >= since
  std::optional<std::int64_t> until_ns;  // time < until
  // The proxy's line with this id and every line whose text carries it as a word.
  std::string request_id;
  std::string contains;  // a literal substring of the text
  // JSON lines whose field (a json_extract path without "$.", e.g. "user.id") equals value.
  std::vector<std::pair<std::string, std::string>> fields;
  std::int64_t after_id = 0;  // only lines stored after this one (following)
  std::size_t limit = 0;      // the newest `limit` lines (0: all, at most kMaxQueryLines)
};
inline constexpr std::size_t kMaxQueryLines = 1000000;

struct AppUsage {
  std::int64_t lines = 0;
  std::int64_t bytes = 0;
  std::int64_t dropped_lines = 0;  // removed by retention, ever
  std::int64_t dropped_bytes = 0;
};

struct RetentionReport {
  std::map<std::string, std::int64_t> dropped_lines;  // per app, this pass
};

class LogStore;

// The work of one write transaction (LogStore::Write): the lines it adds and the offsets
// of the files they came from commit together, or neither does. Used by one thread.
class WriteBatch {
 public:
  // The ingester's offset in `file` (a name of its choosing) for the file with `inode`.
  std::optional<std::int64_t> Offset(const std::string& file, std::int64_t inode);
  Status SetOffset(const std::string& file, std::int64_t inode, std::int64_t offset);
  // Drops the offsets of every file not in `keep` (files that are gone).
  Status ForgetOffsetsExcept(const std::vector<std::pair<std::string, std::int64_t>>& keep);
  // Adds one line (its text already cleaned, see CleanText).
  Status Add(const Entry& e);
  std::size_t added() const { return added_; }

 private:
  friend class LogStore;
  struct Conn;
  explicit WriteBatch(Conn& c) : c_(c) {}
  Conn& c_;
  std::size_t added_ = 0;
};

// Thread-safe. Writes go through one connection (guarded by write_mu_), reads through
// another (guarded by read_mu_), so a query never waits for an ingest transaction (WAL).
// Several processes may write the same file: each transaction begins IMMEDIATE, so a
// writer that reads offsets inside its transaction sees the last committed ones.
class LogStore {
 public:
  ~LogStore();
  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  // Opens or creates the store at `path`. Errors name the file.
  static Result<std::unique_ptr<LogStore>> Open(const std::string& path);
  const std::string& path() const { return path_; }

  // BEGIN IMMEDIATE, fn, COMMIT (ROLLBACK when fn fails: nothing of it stays).
  Status Write(const std::function<Status(WriteBatch&)>& fn) EXCLUDES(write_mu_);
  // Adds lines that come from no file (pipeline output, deploy events).
  Status Append(const std::vector<Entry>& entries) EXCLUDES(write_mu_);

  // Lines matching `f`, ordered by time (ties: by id).
  Result<std::vector<Entry>> Query(const Filter& f) EXCLUDES(read_mu_);
  Result<AppUsage> Usage(const std::string& app) EXCLUDES(read_mu_);
  std::int64_t LastId() EXCLUDES(read_mu_);

  // Drops, per app, lines older than max_age, then the oldest lines until the app's bytes
  // are within max_bytes. `per_app` overrides `defaults` for the apps it names.
  Result<RetentionReport> Retain(const Retention& defaults,
                                 const std::map<std::string, Retention>& per_app,
                                 std::int64_t now_ns) EXCLUDES(write_mu_);

 private:
  LogStore(std::string path, sqlite3* writer, sqlite3* reader);
  Status RetainApp(std::int64_t app_id, const Retention& r, std::int64_t now_ns,
                   std::int64_t* dropped) REQUIRES(write_mu_);

  const std::string path_;  // immutable
  Mutex write_mu_;
  std::unique_ptr<WriteBatch::Conn> writer_ GUARDED_BY(write_mu_);
  Mutex read_mu_;
  sqlite3* reader_ GUARDED_BY(read_mu_);
};

// Bytes a line counts for in retention: its text and about what its row costs besides.
std::int64_t StoredBytes(const Entry& e);

}  // namespace gravity::logs
