#include "store/db.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>

namespace gravity::store {

bool Row::IsNull(std::size_t i) const {
  return std::holds_alternative<std::monostate>(values_.at(i));
}

std::int64_t Row::Int(std::size_t i) const {
  const Value& v = values_.at(i);
  if (auto* n = std::get_if<std::int64_t>(&v)) return *n;
  if (auto* d = std::get_if<double>(&v)) return static_cast<std::int64_t>(*d);
  if (auto* s = std::get_if<std::string>(&v)) {
    try {
      return std::stoll(*s);
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

double Row::Double(std::size_t i) const {
  const Value& v = values_.at(i);
  if (auto* n = std::get_if<std::int64_t>(&v)) return static_cast<double>(*n);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* s = std::get_if<std::string>(&v)) {
    try {
      return std::stod(*s);
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

std::string Row::Text(std::size_t i) const {
  const Value& v = values_.at(i);
  if (auto* n = std::get_if<std::int64_t>(&v)) return std::to_string(*n);
  if (auto* d = std::get_if<double>(&v)) return std::to_string(*d);
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  return "";
}

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), sql_(std::move(other.sql_)) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    sql_ = std::move(other.sql_);
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_) {
    std::lock_guard lock(db_->mutex_);
    sqlite3_finalize(stmt_);
  }
}

static int BindValue(sqlite3_stmt* stmt, int index, const Value& value) {
  if (std::holds_alternative<std::monostate>(value)) return sqlite3_bind_null(stmt, index);
  if (auto* n = std::get_if<std::int64_t>(&value)) return sqlite3_bind_int64(stmt, index, *n);
  if (auto* d = std::get_if<double>(&value)) return sqlite3_bind_double(stmt, index, *d);
  const auto& s = std::get<std::string>(value);
  return sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

static Row ReadRow(sqlite3_stmt* stmt) {
  int n = sqlite3_column_count(stmt);
  std::vector<Value> values;
  values.reserve(n);
  for (int i = 0; i < n; ++i) {
    switch (sqlite3_column_type(stmt, i)) {
      case SQLITE_INTEGER:
        values.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, i)));
        break;
      case SQLITE_FLOAT:
        values.emplace_back(sqlite3_column_double(stmt, i));
        break;
      case SQLITE_NULL:
        values.emplace_back(std::monostate{});
        break;
      default: {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
        int len = sqlite3_column_bytes(stmt, i);
        values.emplace_back(std::string(text ? text : "", static_cast<std::size_t>(len)));
      }
    }
  }
  return Row(std::move(values));
}

Status Statement::Bind(int index, const Value& value) {
  std::lock_guard lock(db_->mutex_);
  if (BindValue(stmt_, index, value) != SQLITE_OK) {
    return db_->Error("binding parameter " + std::to_string(index) + " of '" + sql_ + "'");
  }
  return Status::Ok();
}

Status Statement::BindAll(const std::vector<Value>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    RETURN_IF_ERROR(Bind(static_cast<int>(i + 1), values[i]));
  }
  return Status::Ok();
}

Result<bool> Statement::Step() {
  std::lock_guard lock(db_->mutex_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status st = db_->Error("running '" + sql_ + "'");
  sqlite3_reset(stmt_);
  return st;
}

Status Statement::Run() {
  for (;;) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

Row Statement::CurrentRow() const {
  std::lock_guard lock(db_->mutex_);
  return ReadRow(stmt_);
}

void Statement::Reset() {
  std::lock_guard lock(db_->mutex_);
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

// ---- Db ----

Db::~Db() {
  std::lock_guard lock(mutex_);
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  cache_.clear();
  sqlite3_close_v2(db_);
}

Status Db::Error(const std::string& what) const {
  return Status::Error(path_ + ": " + what + ": " + sqlite3_errmsg(db_));
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    return Status::Error(path + ": cannot open database: " + msg);
  }
  std::unique_ptr<Db> db(new Db(raw, path));
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  sqlite3_extended_result_codes(raw, 1);
  // The first real read happens here: a file that is not a database fails now.
  char* err = nullptr;
  rc = sqlite3_exec(raw, "PRAGMA journal_mode=WAL", nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
      return Status::Error(path + ": not a SQLite database (" + msg + ")");
    }
    return Status::Error(path + ": cannot open database: " + msg);
  }
  // Check the schema is readable (catches corrupt headers that WAL setup tolerated).
  rc = sqlite3_exec(raw, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::Error(path + ": not a SQLite database (" + msg + ")");
  }
  RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"));
  RETURN_IF_ERROR(
      db->Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
               " component TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,"
               " PRIMARY KEY (component, version))"));
  return db;
}

Status Db::Exec(const std::string& sql) {
  std::lock_guard lock(mutex_);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::Error(path_ + ": " + msg + " (in: " + sql.substr(0, 200) + ")");
  }
  return Status::Ok();
}

Result<sqlite3_stmt*> Db::Cached(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return Error("preparing '" + sql + "'");
  }
  cache_.emplace(sql, stmt);
  return stmt;
}

Status Db::Exec(const std::string& sql, const std::vector<Value>& params) {
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Cached(sql));
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (BindValue(stmt, static_cast<int>(i + 1), params[i]) != SQLITE_OK) {
      return Error("binding parameter " + std::to_string(i + 1) + " of '" + sql + "'");
    }
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  Status st = rc == SQLITE_DONE ? Status::Ok() : Error("running '" + sql + "'");
  sqlite3_reset(stmt);
  return st;
}

Result<std::vector<Row>> Db::Query(const std::string& sql, const std::vector<Value>& params) {
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Cached(sql));
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (BindValue(stmt, static_cast<int>(i + 1), params[i]) != SQLITE_OK) {
      return Error("binding parameter " + std::to_string(i + 1) + " of '" + sql + "'");
    }
  }
  std::vector<Row> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) rows.push_back(ReadRow(stmt));
  if (rc != SQLITE_DONE) {
    Status st = Error("running '" + sql + "'");
    sqlite3_reset(stmt);
    return st;
  }
  sqlite3_reset(stmt);
  return rows;
}

Result<std::optional<Row>> Db::QueryOne(const std::string& sql, const std::vector<Value>& params) {
  ASSIGN_OR_RETURN(auto rows, Query(sql, params));
  if (rows.empty()) return std::optional<Row>();
  return std::optional<Row>(std::move(rows.front()));
}

Result<Statement> Db::Prepare(const std::string& sql) {
  std::lock_guard lock(mutex_);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return Error("preparing '" + sql + "'");
  }
  return Statement(this, stmt, sql);
}

Status Db::Transaction(const std::function<Status()>& fn) {
  std::lock_guard lock(mutex_);
  if (tx_depth_ > 0) {
    ++tx_depth_;
    Status st = fn();
    --tx_depth_;
    return st;
  }
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  ++tx_depth_;
  Status st;
  try {
    st = fn();
  } catch (...) {
    --tx_depth_;
    (void)Exec("ROLLBACK");
    throw;
  }
  --tx_depth_;
  if (!st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  Status commit = Exec("COMMIT");
  if (!commit.ok()) {
    (void)Exec("ROLLBACK");
    return commit;
  }
  return Status::Ok();
}

Result<int> Db::SchemaVersion(const std::string& component) {
  ASSIGN_OR_RETURN(auto row, QueryOne("SELECT coalesce(max(version), 0) FROM schema_migrations "
                                      "WHERE component = ?",
                                      {component}));
  return row ? static_cast<int>(row->Int(0)) : 0;
}

Status Db::Migrate(const std::string& component, const std::vector<std::string>& migrations) {
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(int current, SchemaVersion(component));
  if (current > static_cast<int>(migrations.size())) {
    return Status::Error(path_ + ": schema of '" + component + "' is at version " +
                         std::to_string(current) + " but this gravity knows only version " +
                         std::to_string(migrations.size()) + " (written by a newer gravity?)");
  }
  for (int v = current + 1; v <= static_cast<int>(migrations.size()); ++v) {
    Status st = Transaction([&]() -> Status {
      RETURN_IF_ERROR(Exec(migrations[v - 1]));
      std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
      return Exec("INSERT INTO schema_migrations(component, version, applied_at) VALUES(?,?,?)",
                  {component, std::int64_t{v}, now});
    });
    if (!st.ok()) {
      return Status::Error("migrating '" + component + "' to version " + std::to_string(v) + ": " +
                           st.message());
    }
  }
  return Status::Ok();
}

std::int64_t Db::LastInsertId() {
  std::lock_guard lock(mutex_);
  return sqlite3_last_insert_rowid(db_);
}

int Db::Changes() {
  std::lock_guard lock(mutex_);
  return sqlite3_changes(db_);
}

}  // namespace gravity::store
