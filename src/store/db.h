#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace gravity::store {

// A value bound to or read from a statement.
using Value = std::variant<std::monostate, std::int64_t, double, std::string>;

// One result row. Column accessors convert like SQLite does (NULL -> 0 / "").
class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  std::size_t size() const { return values_.size(); }
  bool IsNull(std::size_t i) const;
  std::int64_t Int(std::size_t i) const;
  double Double(std::size_t i) const;
  std::string Text(std::size_t i) const;
  const Value& operator[](std::size_t i) const { return values_.at(i); }

 private:
  std::vector<Value> values_;
};

class Db;

// A prepared statement. Bind 1-based parameters, then Step() through rows or Run() it.
// Not thread-safe by itself; each call takes the owning Db's lock, so statements of one Db
// may be used from several threads as long as one Statement object is used by one thread.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Status Bind(int index, const Value& value);
  Status BindAll(const std::vector<Value>& values);  // parameters 1..n
  // true: a row is available (read it with Get*); false: done.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();
  Row CurrentRow() const;
  void Reset();  // ready to run again; bindings are cleared

 private:
  friend class Db;
  Statement(Db* db, sqlite3_stmt* stmt, std::string sql)
      : db_(db), stmt_(stmt), sql_(std::move(sql)) {}
  Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

// A SQLite database file: WAL journal, a busy timeout, foreign keys on, prepared
// statements, transactions and per-component versioned migrations.
//
// Thread-safe: one connection guarded by a recursive mutex (mutex_). Transaction() holds
// the mutex for its whole body, so statements run by other threads wait for it to end and
// never land inside someone else's transaction.
class Db {
 public:
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Opens (creating if needed) the database at `path`. A file that is not a SQLite
  // database gives "PATH: not a SQLite database (...)".
  static Result<std::unique_ptr<Db>> Open(const std::string& path, int busy_timeout_ms = 5000);

  const std::string& path() const { return path_; }

  // Runs one or more ';'-separated statements without parameters.
  Status Exec(const std::string& sql);
  // Runs one statement with parameters (prepared and cached by its text).
  Status Exec(const std::string& sql, const std::vector<Value>& params);
  // Runs one query and collects all rows.
  Result<std::vector<Row>> Query(const std::string& sql, const std::vector<Value>& params = {});
  // Runs one query and returns its first row, or nullopt when there is none.
  Result<std::optional<Row>> QueryOne(const std::string& sql,
                                      const std::vector<Value>& params = {});

  Result<Statement> Prepare(const std::string& sql);

  // BEGIN IMMEDIATE; runs fn; COMMIT when it returns OK, ROLLBACK otherwise (the
  // returned Status is fn's). Nested calls join the outer transaction.
  Status Transaction(const std::function<Status()>& fn);

  // Applies the migrations of `component` that are not yet recorded in schema_migrations
  // (version i+1 is migrations[i]), each in its own transaction. Refuses a database whose
  // recorded version for the component is newer than the list.
  Status Migrate(const std::string& component, const std::vector<std::string>& migrations);
  // The recorded schema version of a component (0 when none).
  Result<int> SchemaVersion(const std::string& component);

  std::int64_t LastInsertId();
  int Changes();

 private:
  friend class Statement;
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Error(const std::string& what) const;  // "path: what: sqlite message"
  Result<sqlite3_stmt*> Cached(const std::string& sql);

  mutable std::recursive_mutex mutex_;
  sqlite3* db_;                                 // guarded by mutex_
  const std::string path_;                      // immutable
  std::map<std::string, sqlite3_stmt*> cache_;  // guarded by mutex_
  int tx_depth_ = 0;                            // guarded by mutex_
};

}  // namespace gravity::store
