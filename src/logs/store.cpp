#include "logs/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>

namespace gravity::logs {

namespace {

constexpr std::int64_t kRowOverhead = 64;
constexpr int kSchemaVersion = 1;

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS apps(
  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
  lines INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
  dropped_lines INTEGER NOT NULL DEFAULT 0, dropped_bytes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sources(
  id INTEGER PRIMARY KEY, app_id INTEGER NOT NULL, env TEXT NOT NULL, release TEXT NOT NULL,
  instance TEXT NOT NULL, source TEXT NOT NULL, stream TEXT NOT NULL,
  UNIQUE(app_id, env, release, instance, source, stream));
CREATE TABLE IF NOT EXISTS lines(
  id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, app_id INTEGER NOT NULL,
  src INTEGER NOT NULL, text TEXT NOT NULL, request_id TEXT, method TEXT, path TEXT,
  status INTEGER, duration_us INTEGER);
CREATE INDEX IF NOT EXISTS lines_app_time ON lines(app_id, time_ns);
CREATE VIRTUAL TABLE IF NOT EXISTS lines_fts USING fts5(text, content='lines',
  content_rowid='id', detail=none);
CREATE TABLE IF NOT EXISTS offsets(
  file TEXT NOT NULL, inode INTEGER NOT NULL, offset INTEGER NOT NULL,
  PRIMARY KEY(file, inode));
)sql";

// A prepared statement, finalized with its owner.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(s_); }
  int Prepare(sqlite3* db, const char* sql) {
    sqlite3_finalize(s_);
    s_ = nullptr;
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  }
  sqlite3_stmt* get() const { return s_; }
  void Text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void TextOrNull(int i, std::string_view v) {
    if (v.empty()) {
      sqlite3_bind_null(s_, i);
    } else {
      Text(i, v);
    }
  }
  void Int(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  int Step() { return sqlite3_step(s_); }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

std::string Col(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

Status DbError(sqlite3* db, const std::string& path, const std::string& what) {
  return Status::Error(path + ": " + what + ": " + sqlite3_errmsg(db));
}

Status ExecSql(sqlite3* db, const std::string& path, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return Status::Error(path + ": " + msg);
  }
  return Status::Ok();
}

Result<sqlite3*> OpenConnection(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::Error("cannot open the log store " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  Status st = ExecSql(db, path, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768;");
  if (!st.ok()) {
    sqlite3_close(db);
    return Status::Error("cannot open the log store " + st.message());
  }
  return db;
}

}  // namespace

std::int64_t StoredBytes(const Entry& e) {
  return static_cast<std::int64_t>(e.text.size()) + kRowOverhead;
}

// The writer connection and what it has prepared and learned.
struct WriteBatch::Conn {
  sqlite3* db = nullptr;
  std::string path;
  Stmt insert_line, insert_fts, find_app, insert_app, find_src, insert_src, get_offset,
      set_offset, add_usage;
  // Ids of apps and sources seen (never deleted, so valid across transactions; cleared on
  // rollback since those of the rolled-back transaction are gone).
  std::unordered_map<std::string, std::int64_t> app_ids, src_ids;
  // Lines and bytes added per app id by the open transaction.
  std::unordered_map<std::int64_t, std::pair<std::int64_t, std::int64_t>> usage;

  // close_v2: the statements (members, finalized after this body) are let go of first.
  ~Conn() { sqlite3_close_v2(db); }

  Status Prepare() {
    struct {
      Stmt* s;
      const char* sql;
    } all[] = {
        {&insert_line,
         "INSERT INTO lines(time_ns, app_id, src, text, request_id, method, path, status, "
         "duration_us) VALUES(?,?,?,?,?,?,?,?,?)"},
        {&insert_fts, "INSERT INTO lines_fts(rowid, text) VALUES(?,?)"},
        {&find_app, "SELECT id FROM apps WHERE name=?"},
        {&insert_app, "INSERT INTO apps(name) VALUES(?)"},
        {&find_src,
         "SELECT id FROM sources WHERE app_id=? AND env=? AND release=? AND instance=? AND "
         "source=? AND stream=?"},
        {&insert_src,
         "INSERT INTO sources(app_id, env, release, instance, source, stream) "
         "VALUES(?,?,?,?,?,?)"},
        {&get_offset, "SELECT offset FROM offsets WHERE file=? AND inode=?"},
        {&set_offset,
         "INSERT INTO offsets(file, inode, offset) VALUES(?,?,?) "
         "ON CONFLICT(file, inode) DO UPDATE SET offset=excluded.offset"},
        {&add_usage, "UPDATE apps SET lines=lines+?, bytes=bytes+? WHERE id=?"},
    };
    for (auto& p : all) {
      if (p.s->Prepare(db, p.sql) != SQLITE_OK) return DbError(db, path, "prepare");
    }
    return Status::Ok();
  }

  Result<std::int64_t> AppId(const std::string& name) {
    auto it = app_ids.find(name);
    if (it != app_ids.end()) return it->second;
    find_app.Text(1, name);
    std::int64_t id = 0;
    if (find_app.Step() == SQLITE_ROW) id = sqlite3_column_int64(find_app.get(), 0);
    find_app.Reset();
    if (id == 0) {
      insert_app.Text(1, name);
      int rc = insert_app.Step();
      insert_app.Reset();
      if (rc != SQLITE_DONE) return DbError(db, path, "adding app " + name);
      id = sqlite3_last_insert_rowid(db);
    }
    app_ids.emplace(name, id);
    return id;
  }

  Result<std::int64_t> SrcId(std::int64_t app_id, const Entry& e) {
    std::string key = std::to_string(app_id);
    for (const std::string* part : {&e.env, &e.release, &e.instance, &e.source, &e.stream}) {
      key += '\x1f';
      key += *part;
    }
    auto it = src_ids.find(key);
    if (it != src_ids.end()) return it->second;
    auto bind = [&](Stmt& s) {
      s.Int(1, app_id);
      s.Text(2, e.env);
      s.Text(3, e.release);
      s.Text(4, e.instance);
      s.Text(5, e.source);
      s.Text(6, e.stream);
    };
    bind(find_src);
    std::int64_t id = 0;
    if (find_src.Step() == SQLITE_ROW) id = sqlite3_column_int64(find_src.get(), 0);
    find_src.Reset();
    if (id == 0) {
      bind(insert_src);
      int rc = insert_src.Step();
      insert_src.Reset();
      if (rc != SQLITE_DONE) return DbError(db, path, "adding a source");
      id = sqlite3_last_insert_rowid(db);
    }
    src_ids.emplace(std::move(key), id);
    return id;
  }
};

std::optional<std::int64_t> WriteBatch::Offset(const std::string& file, std::int64_t inode) {
  c_.get_offset.Text(1, file);
  c_.get_offset.Int(2, inode);
  std::optional<std::int64_t> out;
  if (c_.get_offset.Step() == SQLITE_ROW) out = sqlite3_column_int64(c_.get_offset.get(), 0);
  c_.get_offset.Reset();
  return out;
}

Status WriteBatch::SetOffset(const std::string& file, std::int64_t inode, std::int64_t offset) {
  c_.set_offset.Text(1, file);
  c_.set_offset.Int(2, inode);
  c_.set_offset.Int(3, offset);
  int rc = c_.set_offset.Step();
  c_.set_offset.Reset();
  return rc == SQLITE_DONE ? Status::Ok() : DbError(c_.db, c_.path, "saving an offset");
}

Status WriteBatch::ForgetOffsetsExcept(
    const std::vector<std::pair<std::string, std::int64_t>>& keep) {
  RETURN_IF_ERROR(ExecSql(c_.db, c_.path, "CREATE TEMP TABLE IF NOT EXISTS keep_files("
                                          "file TEXT, inode INTEGER); DELETE FROM keep_files;"));
  Stmt ins;
  if (ins.Prepare(c_.db, "INSERT INTO keep_files VALUES(?,?)") != SQLITE_OK) {
    return DbError(c_.db, c_.path, "prepare");
  }
  for (const auto& [file, inode] : keep) {
    ins.Text(1, file);
    ins.Int(2, inode);
    if (ins.Step() != SQLITE_DONE) return DbError(c_.db, c_.path, "listing files");
    ins.Reset();
  }
  return ExecSql(c_.db, c_.path,
                 "DELETE FROM offsets WHERE NOT EXISTS (SELECT 1 FROM keep_files k WHERE "
                 "k.file=offsets.file AND k.inode=offsets.inode)");
}

Status WriteBatch::Add(const Entry& e) {
  ASSIGN_OR_RETURN(std::int64_t app_id, c_.AppId(e.app));
  ASSIGN_OR_RETURN(std::int64_t src, c_.SrcId(app_id, e));
  Stmt& s = c_.insert_line;
  s.Int(1, e.time_ns);
  s.Int(2, app_id);
  s.Int(3, src);
  s.Text(4, e.text);
  s.TextOrNull(5, e.request_id);
  s.TextOrNull(6, e.method);
  s.TextOrNull(7, e.path);
  if (e.status) s.Int(8, e.status);
  if (e.duration_us) s.Int(9, e.duration_us);
  int rc = s.Step();
  s.Reset();
  if (rc != SQLITE_DONE) return DbError(c_.db, c_.path, "adding a line");
  std::int64_t id = sqlite3_last_insert_rowid(c_.db);
  c_.insert_fts.Int(1, id);
  c_.insert_fts.Text(2, e.text);
  rc = c_.insert_fts.Step();
  c_.insert_fts.Reset();
  if (rc != SQLITE_DONE) return DbError(c_.db, c_.path, "indexing a line");
  auto& u = c_.usage[app_id];
  u.first += 1;
  u.second += StoredBytes(e);
  ++added_;
  return Status::Ok();
}

LogStore::LogStore(std::string path, sqlite3* writer, sqlite3* reader)
    : path_(std::move(path)), writer_(std::make_unique<WriteBatch::Conn>()), reader_(reader) {
  writer_->db = writer;
  writer_->path = path_;
}

LogStore::~LogStore() {
  MutexLock r(read_mu_);
  sqlite3_close_v2(reader_);
}

Result<std::unique_ptr<LogStore>> LogStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(sqlite3 * writer, OpenConnection(path));
  // The schema, once, under the write lock of the file.
  Status st = ExecSql(writer, path, "BEGIN IMMEDIATE");
  if (st.ok()) {
    sqlite3_stmt* v = nullptr;
    int version = 0;
    if (sqlite3_prepare_v2(writer, "PRAGMA user_version", -1, &v, nullptr) == SQLITE_OK &&
        sqlite3_step(v) == SQLITE_ROW) {
      version = sqlite3_column_int(v, 0);
    }
    sqlite3_finalize(v);
    if (version > kSchemaVersion) {
      st = Status::FailedPrecondition(path + ": log store schema version " +
                                      std::to_string(version) +
                                      " is newer than this gravity knows (" +
                                      std::to_string(kSchemaVersion) + ")");
    } else {
      st = ExecSql(writer, path, kSchema);
      if (st.ok()) st = ExecSql(writer, path, "PRAGMA user_version=1");
    }
    (void)ExecSql(writer, path, st.ok() ? "COMMIT" : "ROLLBACK");
  }
  if (!st.ok()) {
    sqlite3_close_v2(writer);
    return st;
  }
  auto reader = OpenConnection(path);
  if (!reader.ok()) {
    sqlite3_close_v2(writer);
    return reader.status();
  }
  std::unique_ptr<LogStore> store(new LogStore(path, writer, *reader));
  {
    MutexLock lock(store->write_mu_);
    RETURN_IF_ERROR(store->writer_->Prepare());
  }
  return store;
}

Status LogStore::Write(const std::function<Status(WriteBatch&)>& fn) {
  MutexLock lock(write_mu_);
  WriteBatch::Conn& c = *writer_;
  RETURN_IF_ERROR(ExecSql(c.db, path_, "BEGIN IMMEDIATE"));
  c.usage.clear();
  WriteBatch batch(c);
  Status st = fn(batch);
  if (st.ok()) {
    for (const auto& [app_id, u] : c.usage) {
      c.add_usage.Int(1, u.first);
      c.add_usage.Int(2, u.second);
      c.add_usage.Int(3, app_id);
      int rc = c.add_usage.Step();
      c.add_usage.Reset();
      if (rc != SQLITE_DONE) {
        st = DbError(c.db, path_, "counting usage");
        break;
      }
    }
  }
  if (st.ok()) st = ExecSql(c.db, path_, "COMMIT");
  if (!st.ok()) {
    (void)ExecSql(c.db, path_, "ROLLBACK");
    c.app_ids.clear();
    c.src_ids.clear();
  }
  return st;
}

Status LogStore::Append(const std::vector<Entry>& entries) {
  return Write([&](WriteBatch& b) {
    for (const auto& e : entries) RETURN_IF_ERROR(b.Add(e));
    return Status::Ok();
  });
}

namespace {

// An FTS5 query for the words of `s` (runs of letters and digits, each quoted), all of
// which must occur; empty when `s` has none. The index keeps no positions (detail=none,
// which ingests faster), so the exact text is checked after it.
std::string FtsWords(const std::string& s) {
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!out.empty()) out += " AND ";
    out += "\"" + word + "\"";
    word.clear();
  };
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u)) {
      word += c;
    } else {
      flush();
    }
  }
  flush();
  return out;
}

}  // namespace

Result<std::vector<Entry>> LogStore::Query(const Filter& f) {
  std::string sql =
      "SELECT l.id, l.time_ns, s.env, s.release, s.instance, s.source, s.stream, l.text, "
      "l.request_id, l.method, l.path, l.status, l.duration_us FROM lines l "
      "JOIN sources s ON s.id = l.src WHERE ";
  // With a request id the index's few rows lead; the '+' keeps the planner from walking
  // the app's whole time index instead.
  sql += f.request_id.empty() ? "l.app_id" : "+l.app_id";
  sql += " = (SELECT id FROM apps WHERE name = ?1)";
  std::vector<std::string> texts;  // bound from ?2 on, in order
  auto text_param = [&](std::string v) {
    texts.push_back(std::move(v));
    return "?" + std::to_string(texts.size() + 1);
  };
  if (!f.env.empty()) sql += " AND s.env = " + text_param(f.env);
  if (!f.release.empty()) {
    sql += " AND substr(s.release, 1, " + std::to_string(f.release.size()) +
           ") = " + text_param(f.release);
  }
  if (!f.instance.empty()) sql += " AND s.instance = " + text_param(f.instance);
  if (!f.source.empty()) sql += " AND s.source = " + text_param(f.source);
  if (f.since_ns) sql += " AND l.time_ns >= " + std::to_string(*f.since_ns);
  if (f.until_ns) sql += " AND l.time_ns < " + std::to_string(*f.until_ns);
  if (f.after_id > 0) sql += " AND l.id > " + std::to_string(f.after_id);
  if (!f.request_id.empty()) {
    std::string words = FtsWords(f.request_id);
    if (!words.empty()) {
      sql += " AND l.id IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH " +
             text_param(words) + ")";
    }
    // The index finds the words; the id itself must be in the text.
    sql += " AND instr(l.text, " + text_param(f.request_id) + ") > 0";
  }
  if (!f.contains.empty()) sql += " AND instr(l.text, " + text_param(f.contains) + ") > 0";
  for (const auto& [field, value] : f.fields) {
    std::string p = text_param("$." + field);
    sql += " AND json_valid(l.text) AND CAST(json_extract(l.text, " + p + ") AS TEXT) = " +
           text_param(value);
  }
  std::size_t limit = f.limit == 0 || f.limit > kMaxQueryLines ? kMaxQueryLines : f.limit;
  bool newest = f.limit != 0;
  sql += newest ? " ORDER BY l.time_ns DESC, l.id DESC" : " ORDER BY l.time_ns, l.id";
  sql += " LIMIT " + std::to_string(limit);

  MutexLock lock(read_mu_);
  Stmt s;
  if (s.Prepare(reader_, sql.c_str()) != SQLITE_OK) {
    return DbError(reader_, path_, "query");
  }
  s.Text(1, f.app);
  for (std::size_t i = 0; i < texts.size(); ++i) s.Text(static_cast<int>(i + 2), texts[i]);
  std::vector<Entry> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    sqlite3_stmt* q = s.get();
    Entry e;
    e.id = sqlite3_column_int64(q, 0);
    e.time_ns = sqlite3_column_int64(q, 1);
    e.app = f.app;
    e.env = Col(q, 2);
    e.release = Col(q, 3);
    e.instance = Col(q, 4);
    e.source = Col(q, 5);
    e.stream = Col(q, 6);
    e.text = Col(q, 7);
    e.request_id = Col(q, 8);
    e.method = Col(q, 9);
    e.path = Col(q, 10);
    e.status = sqlite3_column_int(q, 11);
    e.duration_us = sqlite3_column_int64(q, 12);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return DbError(reader_, path_, "query");
  if (newest) std::reverse(out.begin(), out.end());
  return out;
}

Result<AppUsage> LogStore::Usage(const std::string& app) {
  MutexLock lock(read_mu_);
  Stmt s;
  if (s.Prepare(reader_,
                "SELECT lines, bytes, dropped_lines, dropped_bytes FROM apps WHERE name=?") !=
      SQLITE_OK) {
    return DbError(reader_, path_, "usage");
  }
  s.Text(1, app);
  AppUsage u;
  if (s.Step() == SQLITE_ROW) {
    u.lines = sqlite3_column_int64(s.get(), 0);
    u.bytes = sqlite3_column_int64(s.get(), 1);
    u.dropped_lines = sqlite3_column_int64(s.get(), 2);
    u.dropped_bytes = sqlite3_column_int64(s.get(), 3);
  }
  return u;
}

std::int64_t LogStore::LastId() {
  MutexLock lock(read_mu_);
  Stmt s;
  if (s.Prepare(reader_, "SELECT coalesce(max(id), 0) FROM lines") != SQLITE_OK) return 0;
  return s.Step() == SQLITE_ROW ? sqlite3_column_int64(s.get(), 0) : 0;
}

Result<RetentionReport> LogStore::Retain(const Retention& defaults,
                                         const std::map<std::string, Retention>& per_app,
                                         std::int64_t now_ns) {
  MutexLock lock(write_mu_);
  sqlite3* db = writer_->db;
  std::vector<std::pair<std::int64_t, std::string>> apps;
  {
    Stmt s;
    if (s.Prepare(db, "SELECT id, name FROM apps") != SQLITE_OK) {
      return DbError(db, path_, "retention");
    }
    while (s.Step() == SQLITE_ROW) apps.emplace_back(sqlite3_column_int64(s.get(), 0), Col(s.get(), 1));
  }
  RetentionReport report;
  for (const auto& [id, name] : apps) {
    auto it = per_app.find(name);
    std::int64_t dropped = 0;
    RETURN_IF_ERROR(ExecSql(db, path_, "BEGIN IMMEDIATE"));
    Status st = RetainApp(id, it == per_app.end() ? defaults : it->second, now_ns, &dropped);
    (void)ExecSql(db, path_, st.ok() ? "COMMIT" : "ROLLBACK");
    RETURN_IF_ERROR(st);
    if (dropped > 0) report.dropped_lines[name] = dropped;
  }
  return report;
}

// Drops the app's lines up to (time, id) <= cut, keeping the FTS index and usage in step.
Status LogStore::RetainApp(std::int64_t app_id, const Retention& r, std::int64_t now_ns,
                           std::int64_t* dropped) {
  sqlite3* db = writer_->db;
  auto drop_where = [&](const std::string& where) -> Status {
    std::string cond = "app_id = " + std::to_string(app_id) + " AND (" + where + ")";
    Stmt count;
    std::string q = "SELECT count(*), coalesce(sum(length(CAST(text AS BLOB)) + " +
                    std::to_string(kRowOverhead) + "), 0) FROM lines WHERE " + cond;
    if (count.Prepare(db, q.c_str()) != SQLITE_OK || count.Step() != SQLITE_ROW) {
      return DbError(db, path_, "retention");
    }
    std::int64_t n = sqlite3_column_int64(count.get(), 0);
    std::int64_t bytes = sqlite3_column_int64(count.get(), 1);
    if (n == 0) return Status::Ok();
    std::string fts = "INSERT INTO lines_fts(lines_fts, rowid, text) SELECT 'delete', id, text "
                      "FROM lines WHERE " + cond;
    RETURN_IF_ERROR(ExecSql(db, path_, fts.c_str()));
    RETURN_IF_ERROR(ExecSql(db, path_, ("DELETE FROM lines WHERE " + cond).c_str()));
    std::string usage = "UPDATE apps SET lines = lines - " + std::to_string(n) +
                        ", bytes = bytes - " + std::to_string(bytes) +
                        ", dropped_lines = dropped_lines + " + std::to_string(n) +
                        ", dropped_bytes = dropped_bytes + " + std::to_string(bytes) +
                        " WHERE id = " + std::to_string(app_id);
    RETURN_IF_ERROR(ExecSql(db, path_, usage.c_str()));
    *dropped += n;
    return Status::Ok();
  };
  if (r.max_age_ns > 0) {
    RETURN_IF_ERROR(drop_where("time_ns < " + std::to_string(now_ns - r.max_age_ns)));
  }
  std::int64_t bytes = 0;
  {
    Stmt s;
    std::string q = "SELECT bytes FROM apps WHERE id = " + std::to_string(app_id);
    if (s.Prepare(db, q.c_str()) != SQLITE_OK || s.Step() != SQLITE_ROW) {
      return DbError(db, path_, "retention");
    }
    bytes = sqlite3_column_int64(s.get(), 0);
  }
  if (r.max_bytes <= 0 || bytes <= r.max_bytes) return Status::Ok();
  // Oldest first until a tenth below the cap (so the next few ingests do not each drop).
  std::int64_t excess = bytes - (r.max_bytes - r.max_bytes / 10);
  Stmt s;
  std::string q = "SELECT time_ns, id, length(CAST(text AS BLOB)) + " +
                  std::to_string(kRowOverhead) + " FROM lines WHERE app_id = " +
                  std::to_string(app_id) + " ORDER BY time_ns, id";
  if (s.Prepare(db, q.c_str()) != SQLITE_OK) return DbError(db, path_, "retention");
  std::int64_t cut_time = 0, cut_id = 0, seen = 0;
  while (seen < excess && s.Step() == SQLITE_ROW) {
    cut_time = sqlite3_column_int64(s.get(), 0);
    cut_id = sqlite3_column_int64(s.get(), 1);
    seen += sqlite3_column_int64(s.get(), 2);
  }
  if (seen == 0) return Status::Ok();
  return drop_where("time_ns < " + std::to_string(cut_time) + " OR (time_ns = " +
                    std::to_string(cut_time) + " AND id <= " + std::to_string(cut_id) + ")");
}

}  // namespace gravity::logs
