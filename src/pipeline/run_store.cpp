#include "pipeline/run_store.h"

namespace gravity::pipeline {

namespace {

const std::vector<std::string> kMigrations = {
    R"sql(
CREATE TABLE pipeline_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  app TEXT NOT NULL,
  branch TEXT NOT NULL DEFAULT '',
  ref TEXT NOT NULL DEFAULT '',
  commit_id TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  environments TEXT NOT NULL DEFAULT '',
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  stage TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  release_dir TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX pipeline_runs_app ON pipeline_runs(app, status, id);
CREATE TABLE pipeline_stages (
  run_id INTEGER NOT NULL REFERENCES pipeline_runs(id),
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  seq INTEGER NOT NULL,
  PRIMARY KEY (run_id, name));
CREATE TABLE pipeline_logs (
  run_id INTEGER NOT NULL,
  stage TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  text TEXT NOT NULL);
CREATE INDEX pipeline_logs_run ON pipeline_logs(run_id);
CREATE TABLE pipeline_tests (
  run_id INTEGER NOT NULL,
  app TEXT NOT NULL,
  file TEXT NOT NULL,
  worker INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  result TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, file));
CREATE INDEX pipeline_tests_app ON pipeline_tests(app, file, run_id);
CREATE TABLE pipeline_branches (
  app TEXT NOT NULL,
  branch TEXT NOT NULL,
  commit_id TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  checked_ms INTEGER NOT NULL,
  PRIMARY KEY (app, branch));
CREATE TABLE pipeline_remotes (
  app TEXT PRIMARY KEY,
  error TEXT NOT NULL DEFAULT '',
  checked_ms INTEGER NOT NULL);
CREATE TABLE pipeline_processes (
  run_id INTEGER NOT NULL,
  pid INTEGER NOT NULL,
  start_time INTEGER NOT NULL,
  PRIMARY KEY (run_id, pid));
CREATE TABLE pipeline_releases (
  app TEXT NOT NULL,
  commit_id TEXT NOT NULL,
  dir TEXT NOT NULL,
  run_id INTEGER NOT NULL,
  sealed_ms INTEGER NOT NULL,
  PRIMARY KEY (app, commit_id));
)sql",
    // When each test file started (the dashboard draws the split per worker over time).
    R"sql(
ALTER TABLE pipeline_tests ADD COLUMN started_ms INTEGER NOT NULL DEFAULT 0;
)sql",
    // Environments whose automatic deploys are paused (POST .../pause); `missed` is set
    // when a new tip of their branch was left alone because of it.
    R"sql(
CREATE TABLE pipeline_paused (
  app TEXT NOT NULL,
  environment TEXT NOT NULL,
  paused_ms INTEGER NOT NULL,
  missed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (app, environment));
)sql",
    R"sql(
ALTER TABLE pipeline_runs ADD COLUMN author TEXT NOT NULL DEFAULT '';
)sql",
};

constexpr const char* kRunColumns =
    "id, app, branch, ref, commit_id, subject, environments, trigger, status, stage, error, "
    "release_dir, created_ms, started_ms, finished_ms, author";

RunRecord ToRun(const store::Row& r) {
  RunRecord run;
  run.id = r.Int(0);
  run.app = r.Text(1);
  run.branch = r.Text(2);
  run.ref = r.Text(3);
  run.commit = r.Text(4);
  run.subject = r.Text(5);
  run.environments = r.Text(6);
  run.trigger = r.Text(7);
  run.status = r.Text(8);
  run.stage = r.Text(9);
  run.error = r.Text(10);
  run.release_dir = r.Text(11);
  run.created_ms = r.Int(12);
  run.started_ms = r.Int(13);
  run.finished_ms = r.Int(14);
  run.author = r.Text(15);
  return run;
}

}  // namespace

Status RunStore::Migrate() { return db_.Migrate("pipeline", kMigrations); }

Result<std::int64_t> RunStore::CreateRun(const RunRecord& run) {
  std::int64_t id = 0;
  RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    RETURN_IF_ERROR(db_.Exec(
        "INSERT INTO pipeline_runs(app, branch, ref, commit_id, subject, environments, trigger, "
        "status, created_ms, author) VALUES(?,?,?,?,?,?,?,'queued',?,?)",
        {run.app, run.branch, run.ref, run.commit, run.subject, run.environments, run.trigger,
         run.created_ms, run.author}));
    id = db_.LastInsertId();
    return Status::Ok();
  }));
  return id;
}

Result<std::optional<RunRecord>> RunStore::TakeNext(const std::string& app, std::int64_t now_ms) {
  std::optional<RunRecord> taken;
  RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    ASSIGN_OR_RETURN(auto queued, db_.Query(std::string("SELECT ") + kRunColumns +
                                                " FROM pipeline_runs WHERE app = ? AND "
                                                "status = 'queued' ORDER BY id DESC",
                                            {app}));
    std::map<std::string, std::int64_t> newest;  // environments -> newest queued id
    std::optional<RunRecord> oldest;
    for (const auto& row : queued) {
      RunRecord run = ToRun(row);
      auto it = newest.find(run.environments);
      if (it == newest.end()) {
        newest[run.environments] = run.id;
        oldest = run;  // rows are newest first: the last kept one is the oldest
      } else {
        RETURN_IF_ERROR(
            db_.Exec("UPDATE pipeline_runs SET status = 'superseded', error = ?, finished_ms = ? "
                     "WHERE id = ?",
                     {"superseded by run " + std::to_string(it->second), now_ms, run.id}));
      }
    }
    if (!oldest) return Status::Ok();
    RETURN_IF_ERROR(
        db_.Exec("UPDATE pipeline_runs SET status = 'running', started_ms = ? WHERE id = ?",
                 {now_ms, oldest->id}));
    oldest->status = "running";
    oldest->started_ms = now_ms;
    taken = oldest;
    return Status::Ok();
  }));
  return taken;
}

Status RunStore::SetRunStage(std::int64_t id, const std::string& stage) {
  return db_.Exec("UPDATE pipeline_runs SET stage = ? WHERE id = ?", {stage, id});
}

Status RunStore::SetReleaseDir(std::int64_t id, const std::string& dir) {
  return db_.Exec("UPDATE pipeline_runs SET release_dir = ? WHERE id = ?", {dir, id});
}

Status RunStore::FinishRun(std::int64_t id, const std::string& status, const std::string& stage,
                           const std::string& error, std::int64_t now_ms) {
  return db_.Exec(
      "UPDATE pipeline_runs SET status = ?, stage = ?, error = ?, finished_ms = ? WHERE id = ?",
      {status, stage, error, now_ms, id});
}

Result<std::optional<RunRecord>> RunStore::GetRun(std::int64_t id) {
  ASSIGN_OR_RETURN(auto row, db_.QueryOne(std::string("SELECT ") + kRunColumns +
                                              " FROM pipeline_runs WHERE id = ?",
                                          {id}));
  if (!row) return std::optional<RunRecord>();
  return std::optional<RunRecord>(ToRun(*row));
}

Result<std::vector<RunRecord>> RunStore::ListRuns(const std::string& app, int limit) {
  ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kRunColumns +
                                            " FROM pipeline_runs WHERE (? = '' OR app = ?) "
                                            "ORDER BY id DESC LIMIT ?",
                                        {app, app, std::int64_t{limit}}));
  std::vector<RunRecord> out;
  for (const auto& r : rows) out.push_back(ToRun(r));
  return out;
}

Status RunStore::StartStage(std::int64_t run, const std::string& name, std::int64_t now_ms) {
  return db_.Transaction([&]() -> Status {
    RETURN_IF_ERROR(db_.Exec(
        "INSERT OR REPLACE INTO pipeline_stages(run_id, name, status, started_ms, seq) "
        "VALUES(?, ?, 'running', ?, (SELECT count(*) FROM pipeline_stages WHERE run_id = ?))",
        {run, name, now_ms, run}));
    return SetRunStage(run, name);
  });
}

Status RunStore::FinishStage(std::int64_t run, const std::string& name, const std::string& status,
                             const std::string& error, std::int64_t now_ms) {
  return db_.Transaction([&]() -> Status {
    RETURN_IF_ERROR(db_.Exec(
        "INSERT OR IGNORE INTO pipeline_stages(run_id, name, status, started_ms, seq) "
        "VALUES(?, ?, 'running', ?, (SELECT count(*) FROM pipeline_stages WHERE run_id = ?))",
        {run, name, now_ms, run}));
    return db_.Exec(
        "UPDATE pipeline_stages SET status = ?, error = ?, finished_ms = ? "
        "WHERE run_id = ? AND name = ?",
        {status, error, now_ms, run, name});
  });
}

Result<std::vector<StageRecord>> RunStore::Stages(std::int64_t run) {
  ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT name, status, error, started_ms, finished_ms "
                                        "FROM pipeline_stages WHERE run_id = ? ORDER BY seq",
                                        {run}));
  std::vector<StageRecord> out;
  for (const auto& r : rows) {
    out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Int(3), r.Int(4)});
  }
  return out;
}

Status RunStore::AppendLogs(std::int64_t run, const std::string& stage,
                            const std::vector<LogLine>& lines) {
  if (lines.empty()) return Status::Ok();
  return db_.Transaction([&]() -> Status {
    for (const auto& l : lines) {
      RETURN_IF_ERROR(
          db_.Exec("INSERT INTO pipeline_logs(run_id, stage, time_ms, text) VALUES(?,?,?,?)",
                   {run, stage, l.time_ms, l.text}));
    }
    return Status::Ok();
  });
}

Result<std::vector<StoredLogLine>> RunStore::Logs(std::int64_t run, const std::string& stage) {
  ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT stage, time_ms, text FROM pipeline_logs "
                                        "WHERE run_id = ? AND (? = '' OR stage = ?) "
                                        "ORDER BY rowid",
                                        {run, stage, stage}));
  std::vector<StoredLogLine> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back({r.Text(0), r.Int(1), r.Text(2)});
  return out;
}

Result<std::vector<StoredLogLine>> RunStore::LogsAfter(std::int64_t run, std::int64_t after_seq,
                                                       int limit) {
  ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT stage, time_ms, text, rowid FROM pipeline_logs "
                                        "WHERE run_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
                                        {run, after_seq, std::int64_t{limit}}));
  std::vector<StoredLogLine> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back({r.Text(0), r.Int(1), r.Text(2), r.Int(3)});
  return out;
}

Status RunStore::RecordTest(std::int64_t run, const std::string& app, const TestRecord& t) {
  return db_.Exec(
      "INSERT OR REPLACE INTO pipeline_tests(run_id, app, file, worker, passed, duration_ms, "
      "result, started_ms) VALUES(?,?,?,?,?,?,?,?)",
      {run, app, t.file, std::int64_t{t.worker}, std::int64_t{t.passed ? 1 : 0}, t.duration_ms,
       t.result, t.started_ms});
}

Result<std::vector<TestRecord>> RunStore::Tests(std::int64_t run) {
  ASSIGN_OR_RETURN(auto rows,
                   db_.Query("SELECT file, worker, passed, duration_ms, result, started_ms FROM "
                             "pipeline_tests WHERE run_id = ? ORDER BY file",
                             {run}));
  std::vector<TestRecord> out;
  for (const auto& r : rows) {
    out.push_back(
        {r.Text(0), static_cast<int>(r.Int(1)), r.Int(2) != 0, r.Int(3), r.Text(4), r.Int(5)});
  }
  return out;
}

Result<std::map<std::string, double>> RunStore::TestHistory(const std::string& app) {
  ASSIGN_OR_RETURN(auto rows,
                   db_.Query("SELECT t.file, t.duration_ms FROM pipeline_tests t WHERE t.app = ? "
                             "AND t.run_id = (SELECT max(u.run_id) FROM pipeline_tests u "
                             "WHERE u.app = t.app AND u.file = t.file)",
                             {app}));
  std::map<std::string, double> out;
  for (const auto& r : rows) out[r.Text(0)] = r.Double(1);
  return out;
}

Result<std::optional<BranchState>> RunStore::GetBranch(const std::string& app,
                                                       const std::string& branch) {
  ASSIGN_OR_RETURN(auto row, db_.QueryOne("SELECT branch, commit_id, error, checked_ms FROM "
                                          "pipeline_branches WHERE app = ? AND branch = ?",
                                          {app, branch}));
  if (!row) return std::optional<BranchState>();
  return std::optional<BranchState>(
      BranchState{row->Text(0), row->Text(1), row->Text(2), row->Int(3)});
}

Status RunStore::SetBranch(const std::string& app, const BranchState& s) {
  return db_.Exec(
      "INSERT OR REPLACE INTO pipeline_branches(app, branch, commit_id, error, checked_ms) "
      "VALUES(?,?,?,?,?)",
      {app, s.branch, s.commit, s.error, s.checked_ms});
}

Result<std::vector<BranchState>> RunStore::Branches(const std::string& app) {
  ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT branch, commit_id, error, checked_ms FROM "
                                        "pipeline_branches WHERE app = ? ORDER BY branch",
                                        {app}));
  std::vector<BranchState> out;
  for (const auto& r : rows) out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Int(3)});
  return out;
}

Status RunStore::Pause(const std::string& app, const std::string& env, std::int64_t now_ms) {
  return db_.Exec(
      "INSERT OR IGNORE INTO pipeline_paused(app, environment, paused_ms) VALUES(?,?,?)",
      {app, env, now_ms});
}

Result<std::optional<PauseState>> RunStore::Resume(const std::string& app, const std::string& env) {
  std::optional<PauseState> was;
  RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    ASSIGN_OR_RETURN(auto p, Paused(app, env));
    was = p;
    return db_.Exec("DELETE FROM pipeline_paused WHERE app = ? AND environment = ?", {app, env});
  }));
  return was;
}

Result<std::optional<PauseState>> RunStore::Paused(const std::string& app, const std::string& env) {
  ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT paused_ms, missed FROM pipeline_paused "
                                        "WHERE app = ? AND environment = ?",
                                        {app, env}));
  if (rows.empty()) return std::optional<PauseState>();
  return std::optional<PauseState>(PauseState{rows[0].Int(0), rows[0].Int(1) != 0});
}

Status RunStore::MarkMissed(const std::string& app, const std::string& env) {
  return db_.Exec("UPDATE pipeline_paused SET missed = 1 WHERE app = ? AND environment = ?",
                  {app, env});
}

Status RunStore::SetRemoteError(const std::string& app, const std::string& error,
                                std::int64_t now_ms) {
  return db_.Exec("INSERT OR REPLACE INTO pipeline_remotes(app, error, checked_ms) VALUES(?,?,?)",
                  {app, error, now_ms});
}

Result<std::string> RunStore::RemoteError(const std::string& app) {
  ASSIGN_OR_RETURN(auto row,
                   db_.QueryOne("SELECT error FROM pipeline_remotes WHERE app = ?", {app}));
  return row ? row->Text(0) : std::string();
}

Status RunStore::AddProcess(std::int64_t run, int pid, std::uint64_t start_time) {
  return db_.Exec(
      "INSERT OR REPLACE INTO pipeline_processes(run_id, pid, start_time) VALUES(?,?,?)",
      {run, std::int64_t{pid}, static_cast<std::int64_t>(start_time)});
}

Status RunStore::RemoveProcess(std::int64_t run, int pid) {
  return db_.Exec("DELETE FROM pipeline_processes WHERE run_id = ? AND pid = ?",
                  {run, std::int64_t{pid}});
}

Result<std::vector<std::pair<int, std::uint64_t>>> RunStore::Processes(std::int64_t run) {
  ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT pid, start_time FROM pipeline_processes WHERE "
                                        "run_id = ?",
                                        {run}));
  std::vector<std::pair<int, std::uint64_t>> out;
  for (const auto& r : rows) {
    out.emplace_back(static_cast<int>(r.Int(0)), static_cast<std::uint64_t>(r.Int(1)));
  }
  return out;
}

Status RunStore::AddRelease(const std::string& app, const std::string& commit,
                            const std::string& dir, std::int64_t run, std::int64_t now_ms) {
  return db_.Exec(
      "INSERT OR REPLACE INTO pipeline_releases(app, commit_id, dir, run_id, sealed_ms) "
      "VALUES(?,?,?,?,?)",
      {app, commit, dir, run, now_ms});
}

Result<std::optional<std::string>> RunStore::ReleaseDir(const std::string& app,
                                                        const std::string& commit) {
  ASSIGN_OR_RETURN(auto row, db_.QueryOne("SELECT dir FROM pipeline_releases WHERE app = ? AND "
                                          "commit_id = ?",
                                          {app, commit}));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(row->Text(0));
}

Status RunStore::PruneLogs(const std::string& app, int keep_runs) {
  return db_.Exec(
      "DELETE FROM pipeline_logs WHERE run_id IN (SELECT id FROM pipeline_runs WHERE app = ? "
      "AND id < (SELECT coalesce(min(id), 0) FROM (SELECT id FROM pipeline_runs WHERE app = ? "
      "ORDER BY id DESC LIMIT ?)))",
      {app, app, std::int64_t{keep_runs}});
}

Result<std::vector<RunRecord>> RunStore::RunningRuns() {
  ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kRunColumns +
                                        " FROM pipeline_runs WHERE status = 'running' "
                                        "ORDER BY id"));
  std::vector<RunRecord> out;
  for (const auto& r : rows) out.push_back(ToRun(r));
  return out;
}

}  // namespace gravity::pipeline
