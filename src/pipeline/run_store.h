#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pipeline/command.h"
#include "store/db.h"

namespace gravity::pipeline {

// Run states: queued -> running -> succeeded | failed | interrupted; queued -> superseded.
struct RunRecord {
  std::int64_t id = 0;
  std::string app;
  std::string branch;        // branch the commit came from ("" for a manual commit/tag)
  std::string ref;           // what was asked for (branch, tag or commit)
  std::string commit;        // 40 hex
  std::string subject;       // first line of the commit message
  std::string author;        // the commit author's name
  std::string environments;  // comma-separated environments this run deploys to
  std::string trigger;       // poll | webhook | manual | restart
  std::string status;
  std::string stage;  // current or last stage
  std::string error;
  std::string release_dir;
  std::int64_t created_ms = 0;
  std::int64_t started_ms = 0;   // 0: not started
  std::int64_t finished_ms = 0;  // 0: not finished
};

struct StageRecord {
  std::string name;    // checkout | build | test | seal | deploy
  std::string status;  // running | succeeded | failed | skipped | interrupted
  std::string error;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
};

struct TestRecord {
  std::string file;
  int worker = 0;
  bool passed = false;
  std::int64_t duration_ms = 0;
  std::string result;  // "exited with status 1", "timed out after 10m ..."
  std::int64_t started_ms = 0;  // 0: not known (recorded before it was kept)
};

struct StoredLogLine {
  std::string stage;
  std::int64_t time_ms = 0;
  std::string text;
  std::int64_t seq = 0;  // increasing over the whole store (LogsAfter's cursor); 0 from Logs
};

struct BranchState {
  std::string branch;
  std::string commit;  // last tip seen ("" never)
  std::string error;   // current problem ("" when fine)
  std::int64_t checked_ms = 0;
};

// An environment whose automatic deploys are paused.
struct PauseState {
  std::int64_t paused_ms = 0;
  bool missed = false;  // a new tip of its branch came in while paused
};

// The pipeline's tables in the shared SQLite database (component "pipeline").
// Thread-safe: every method is one statement or one transaction on the thread-safe Db.
class RunStore {
 public:
  explicit RunStore(store::Db& db) : db_(db) {}
  Status Migrate();

  Result<std::int64_t> CreateRun(const RunRecord& run);  // status must be queued
  // Marks older queued runs of the same app and environments superseded by the newest
  // one, then takes the oldest remaining queued run of `app` and marks it running.
  Result<std::optional<RunRecord>> TakeNext(const std::string& app, std::int64_t now_ms);
  Status SetRunStage(std::int64_t id, const std::string& stage);
  Status SetReleaseDir(std::int64_t id, const std::string& dir);
  Status FinishRun(std::int64_t id, const std::string& status, const std::string& stage,
                   const std::string& error, std::int64_t now_ms);
  Result<std::optional<RunRecord>> GetRun(std::int64_t id);
  // Newest first; app "" = all apps.
  Result<std::vector<RunRecord>> ListRuns(const std::string& app, int limit);

  Status StartStage(std::int64_t run, const std::string& name, std::int64_t now_ms);
  Status FinishStage(std::int64_t run, const std::string& name, const std::string& status,
                     const std::string& error, std::int64_t now_ms);
  Result<std::vector<StageRecord>> Stages(std::int64_t run);

  Status AppendLogs(std::int64_t run, const std::string& stage, const std::vector<LogLine>& lines);
  // stage "" = all stages, in order.
  Result<std::vector<StoredLogLine>> Logs(std::int64_t run, const std::string& stage);
  // At most `limit` lines of `run` stored after the line numbered `after_seq` (0: from the
  // start), in order, each with its seq: what a live stream of a run's output reads.
  Result<std::vector<StoredLogLine>> LogsAfter(std::int64_t run, std::int64_t after_seq, int limit);

  Status RecordTest(std::int64_t run, const std::string& app, const TestRecord& t);
  Result<std::vector<TestRecord>> Tests(std::int64_t run);
  // The latest known duration of each test file of `app`.
  Result<std::map<std::string, double>> TestHistory(const std::string& app);

  Result<std::optional<BranchState>> GetBranch(const std::string& app, const std::string& branch);
  Status SetBranch(const std::string& app, const BranchState& state);
  Result<std::vector<BranchState>> Branches(const std::string& app);
  Status SetRemoteError(const std::string& app, const std::string& error, std::int64_t now_ms);
  Result<std::string> RemoteError(const std::string& app);

  // Pausing an environment's automatic deploys (idempotent); Resume returns what the pause
  // was (nullopt: it was not paused).
  Status Pause(const std::string& app, const std::string& env, std::int64_t now_ms);
  Result<std::optional<PauseState>> Resume(const std::string& app, const std::string& env);
  Result<std::optional<PauseState>> Paused(const std::string& app, const std::string& env);
  Status MarkMissed(const std::string& app, const std::string& env);

  // Processes a run started (so a restarted daemon can stop what a killed one left).
  Status AddProcess(std::int64_t run, int pid, std::uint64_t start_time);
  Status RemoveProcess(std::int64_t run, int pid);
  Result<std::vector<std::pair<int, std::uint64_t>>> Processes(std::int64_t run);

  // A sealed (immutable, tested) release of a commit.
  Status AddRelease(const std::string& app, const std::string& commit, const std::string& dir,
                    std::int64_t run, std::int64_t now_ms);
  Result<std::optional<std::string>> ReleaseDir(const std::string& app, const std::string& commit);

  // Deletes the logs of `app`'s runs older than its `keep_runs` newest ones (the runs,
  // stages and test results stay).
  Status PruneLogs(const std::string& app, int keep_runs);

  // Runs left `running` by a daemon that died: all of them (for recovery).
  Result<std::vector<RunRecord>> RunningRuns();

 private:
  store::Db& db_;
};

}  // namespace gravity::pipeline
