#include "pipeline/run_executor.h"

#include <ftw.h>
#include <glob.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include "common/fs.h"
#include "common/process.h"
#include "common/strings.h"
#include "config/config.h"
#include "pipeline/head_batcher.h"
#include "pipeline/splitter.h"
#include "runtime/sandbox.h"

namespace gravity::pipeline {

namespace {

// A sandboxed command (non-empty `wrapper`) gets only SandboxBaseEnvironment() of the
// daemon's environment, plus `own`; a plain one inherits it all (then `own` is added).
std::map<std::string, std::string> EnvironmentFor(const std::vector<std::string>& wrapper,
                                                  const std::map<std::string, std::string>& own) {
  return wrapper.empty() ? own : runtime::SandboxEnvironment(own);
}

int MakeReadOnly(const char* path, const struct stat* st, int flag, struct FTW*) {
  if (flag == FTW_SL || flag == FTW_SLN) return 0;
  ::chmod(path, st->st_mode & ~(S_IWUSR | S_IWGRP | S_IWOTH) & 07777);
  return 0;
}

// Removes write permission from every file and directory under `dir` (children first).
Status Seal(const std::string& dir) {
  if (::nftw(dir.c_str(), MakeReadOnly, 64, FTW_PHYS | FTW_DEPTH) != 0) {
    return Status::Error("cannot make " + dir + " read-only");
  }
  return Status::Ok();
}

// Expands the test globs relative to `dir`: sorted, unique, regular files only.
Result<std::vector<std::string>> ExpandTests(const std::string& dir,
                                             const std::vector<std::string>& patterns) {
  std::set<std::string> files;
  for (const auto& pattern : patterns) {
    glob_t g{};
    int rc = ::glob((dir + "/" + pattern).c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) {
        std::string path = g.gl_pathv[i];
        struct stat st;
        if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
          files.insert(path.substr(dir.size() + 1));
        }
      }
    }
    ::globfree(&g);
  }
  if (files.empty()) {
    return Status::Error("no test files match " + Join(patterns, ", "));
  }
  return std::vector<std::string>(files.begin(), files.end());
}

}  // namespace

// What one run carries from stage to stage.
struct RunExecutor::Context {
  const RunApp& app;
  const RunRecord& record;
  std::string release_dir;
  bool created_release = false;  // this run exported the release (not a sealed one reused)
  bool reuse = false;            // the release is already built, tested and sealed
  bool ended = false;            // Finish() was called: no further stage runs
  config::AppSpec spec;          // the release's gravity.yml, once checked out
  std::map<std::string, std::string> base_env;
  std::int64_t id() const { return record.id; }
};

struct RunExecutor::TestFailure {
  std::string file, result, tail;
};

// What the test workers report; shared by the worker threads of one test stage.
struct RunExecutor::TestResults {
  std::mutex mutex;
  std::vector<TestFailure> failures;  // guarded by mutex
  std::vector<std::string> errors;    // guarded by mutex
  std::atomic<bool> cancelled{false};
};

RunExecutor::RunExecutor(RunStore& runs, const PipelineOptions& options, Clock& clock,
                         const std::atomic<bool>& stopping)
    : runs_(runs), options_(options), clock_(clock), stopping_(stopping) {}

std::string RunExecutor::ReleaseRoot(const std::string& state_dir, const std::string& app) {
  return state_dir + "/releases/" + app;
}

Status RunExecutor::Execute(const RunApp& app, const RunRecord& run) {
  Context ctx{app, run, ReleaseRoot(options_.state_dir, app.spec.name) + "/" + run.commit};
  for (auto stage : {&RunExecutor::CheckoutStage, &RunExecutor::BuildStage, &RunExecutor::TestStage,
                     &RunExecutor::SealStage}) {
    RETURN_IF_ERROR((this->*stage)(ctx));
    if (ctx.ended) return Status::Ok();
  }
  if (options_.deploy_hook) return DeployStage(ctx);
  RETURN_IF_ERROR(
      runs_.FinishRun(run.id, "succeeded", ctx.reuse ? "test" : "seal", "", clock_.WallMs()));
  spdlog::info("run {}: succeeded", run.id);
  return Status::Ok();
}

// Ends the run at `stage` with `status` and `error`; discards a half-made release.
Status RunExecutor::Finish(Context& ctx, const std::string& stage, const std::string& status,
                           const std::string& error) {
  ctx.ended = true;
  const std::int64_t id = ctx.id();
  const RunRecord& run = ctx.record;
  RETURN_IF_ERROR(runs_.FinishStage(id, stage, status == "succeeded" ? "succeeded" : status, error,
                                    clock_.WallMs()));
  if (status != "succeeded" && ctx.created_release) {
    ASSIGN_OR_RETURN(auto sealed, runs_.ReleaseDir(ctx.app.spec.name, run.commit));
    if (!sealed) (void)RemoveTree(ctx.release_dir);
  }
  RETURN_IF_ERROR(runs_.FinishRun(id, status, stage, error, clock_.WallMs()));
  if (status == "interrupted") {
    // Stopped by a daemon shutdown: run the newest tip again next time.
    RunRecord again = run;
    again.trigger = "restart";
    again.created_ms = clock_.WallMs();
    if (!run.branch.empty()) {
      auto b = runs_.GetBranch(run.app, run.branch);
      if (b.ok() && *b && !(*b)->commit.empty()) again.commit = (*b)->commit;
    }
    RETURN_IF_ERROR(runs_.CreateRun(again).status());
  }
  spdlog::info("run {}: {} at {}{}{}", id, status, stage, error.empty() ? "" : ": ",
               error.substr(0, 300));
  return Status::Ok();
}

// The run's log, and the stack's log store when the daemon gave a sink.
Status RunExecutor::AppendRunLogs(Context& ctx, const std::string& stage,
                                  const std::vector<LogLine>& lines) {
  if (options_.output_sink && !lines.empty()) {
    options_.output_sink(ctx.app.spec.name, ctx.record.commit, stage, lines);
  }
  return runs_.AppendLogs(ctx.id(), stage, lines);
}

void RunExecutor::StoreLog(Context& ctx, const std::string& stage, const std::string& text) {
  (void)AppendRunLogs(ctx, stage, {{clock_.WallMs(), text}});
}

Status RunExecutor::SkipStage(std::int64_t id, const std::string& stage) {
  RETURN_IF_ERROR(runs_.StartStage(id, stage, clock_.WallMs()));
  return runs_.FinishStage(id, stage, "skipped", "", clock_.WallMs());
}

// Build and test commands run sandboxed: the app's uid, its build_limits, the state dir
// hidden; the build may write its release directory, a test only its TMPDIR.
std::vector<std::string> RunExecutor::SandboxWrapper(Context& ctx, const std::string& stage,
                                                     const std::string& name,
                                                     const std::vector<std::string>& writable,
                                                     const std::vector<std::string>& read_only) {
  std::vector<std::string> w;
  if (options_.gravity_binary.empty()) return w;
  const config::StackApp& app = ctx.app.spec;
  if (app.build_sandbox == SandboxMode::kOff) {
    StoreLog(ctx, stage,
             "WARNING: build_sandbox: off — this command runs as root and can read the "
             "API token and every app's files");
    return w;
  }
  runtime::SandboxOptions so;
  so.uid = runtime::SandboxUid(app.name);
  so.limits = app.build_limits;
  so.cgroup = runtime::GroupName(options_.state_dir, name);
  so.cwd = ctx.release_dir;
  so.writable = writable;
  so.read_only = read_only;
  so.hidden = {options_.state_dir};
  so.hostname = app.name + "-build";
  w = {options_.gravity_binary, "_sandbox"};
  for (auto& a : so.ToArgs()) w.push_back(std::move(a));
  w.push_back("--");
  return w;
}

// A command sandboxed like a test file: the release read-only, `tmp` its only writable
// directory (and its TMPDIR), a quarter of the log budget, cancellable with the app.
CommandOptions RunExecutor::SandboxedLikeTest(Context& ctx, const std::string& stage,
                                              const std::string& name, const std::string& tmp,
                                              std::chrono::milliseconds timeout) {
  CommandOptions o;
  o.wrapper = SandboxWrapper(ctx, stage, name, {tmp}, {ctx.release_dir});
  o.cwd = ctx.release_dir;
  o.env = EnvironmentFor(o.wrapper, ctx.base_env);
  o.inherit_env = o.wrapper.empty();
  o.env["TMPDIR"] = tmp;
  o.timeout = timeout;
  o.head_bytes = options_.log_head_bytes / 4;
  o.tail_bytes = options_.log_tail_bytes / 4;
  o.cancel = &ctx.app.cancel;
  o.clock = &clock_;
  return o;
}

// Runs `o` with its process group recorded in the run store while it runs, so that a
// daemon restarted meanwhile stops what was left.
Result<CommandResult> RunExecutor::RunTracked(Context& ctx, CommandOptions o) {
  int pid = 0;
  o.on_start = [&](int p) {
    pid = p;
    auto start = ProcessStartTime(p);
    if (start.ok()) (void)runs_.AddProcess(ctx.id(), p, *start);
  };
  auto r = RunCommand(o);
  if (pid) (void)runs_.RemoveProcess(ctx.id(), pid);
  return r;
}

Status RunExecutor::CheckoutStage(Context& ctx) {
  const std::int64_t id = ctx.id();
  const std::string& app_name = ctx.app.spec.name;
  const std::string& commit = ctx.record.commit;
  RETURN_IF_ERROR(runs_.StartStage(id, "checkout", clock_.WallMs()));
  RETURN_IF_ERROR(runs_.SetReleaseDir(id, ctx.release_dir));
  ASSIGN_OR_RETURN(auto sealed_dir, runs_.ReleaseDir(app_name, commit));
  ctx.reuse = sealed_dir && ::access(ctx.release_dir.c_str(), F_OK) == 0;
  if (ctx.reuse) {
    StoreLog(ctx, "checkout",
             "release " + ctx.release_dir + " is already built, tested and sealed; reused");
  } else {
    RETURN_IF_ERROR(RemoveTree(ctx.release_dir));  // half-made leftovers
    RETURN_IF_ERROR(MakeDirs(ReleaseRoot(options_.state_dir, app_name)));
    ctx.created_release = true;
    Status exported = ctx.app.mirror.Export(commit, ctx.release_dir);
    if (!exported.ok()) return Finish(ctx, "checkout", "failed", exported.message());
    StoreLog(ctx, "checkout", "exported " + commit + " to " + ctx.release_dir);
  }
  auto spec = config::LoadAppSpec(ctx.release_dir + "/gravity.yml", "gravity.yml");
  if (!spec.ok()) return Finish(ctx, "checkout", "failed", spec.error());
  ctx.spec = std::move(*spec);
  RETURN_IF_ERROR(runs_.FinishStage(id, "checkout", "succeeded", "", clock_.WallMs()));
  if (stopping_.load()) {
    return Finish(ctx, "checkout", "interrupted", "interrupted: the daemon stopped");
  }
  ctx.base_env = {
      {"GRAVITY_APP", app_name},
      {"GRAVITY_COMMIT", commit},
      {"GRAVITY_BRANCH", ctx.record.branch},
      {"GRAVITY_RELEASE_DIR", ctx.release_dir},
  };
  return Status::Ok();
}

Status RunExecutor::BuildStage(Context& ctx) {
  const std::int64_t id = ctx.id();
  if (ctx.reuse) return SkipStage(id, "build");
  if (!ctx.spec.build || ctx.spec.build->command.empty()) return Status::Ok();
  RETURN_IF_ERROR(runs_.StartStage(id, "build", clock_.WallMs()));
  CommandOptions o;
  o.command = ctx.spec.build->command;
  o.wrapper =
      SandboxWrapper(ctx, "build", ctx.app.spec.name + "-run" + std::to_string(id) + "-build",
                     {ctx.release_dir}, {});
  o.cwd = ctx.release_dir;
  o.env = EnvironmentFor(o.wrapper, ctx.base_env);
  o.inherit_env = o.wrapper.empty();
  o.timeout = ctx.spec.build->timeout;
  o.head_bytes = options_.log_head_bytes;
  o.tail_bytes = options_.log_tail_bytes;
  o.cancel = &ctx.app.cancel;
  o.clock = &clock_;
  // The head of the output is stored as it comes (in small batches) so a running build
  // can be watched; the rest (tail, drop marker) when it ends.
  HeadLineBatcher head(clock_, "", [&](const std::vector<LogLine>& lines) {
    (void)AppendRunLogs(ctx, "build", lines);
  });
  head.AttachTo(o);
  auto r = RunTracked(ctx, std::move(o));
  head.Flush();
  if (!r.ok()) return Finish(ctx, "build", "failed", "build: " + r.error());
  RETURN_IF_ERROR(AppendRunLogs(ctx, "build", head.Unstreamed(r->log.Lines())));
  if (r->cancelled) return Finish(ctx, "build", "interrupted", "interrupted: the daemon stopped");
  if (!r->ok) {
    std::string tail = r->log.Tail(10);
    return Finish(
        ctx, "build", "failed",
        "build command " + r->Describe() + (tail.empty() ? "" : "; last output:\n" + tail));
  }
  return runs_.FinishStage(id, "build", "succeeded", "", clock_.WallMs());
}

Status RunExecutor::TestStage(Context& ctx) {
  const std::int64_t id = ctx.id();
  if (ctx.reuse) return SkipStage(id, "test");
  if (!ctx.spec.test || ctx.spec.test->command.empty()) return Status::Ok();
  RETURN_IF_ERROR(runs_.StartStage(id, "test", clock_.WallMs()));
  auto files = ExpandTests(ctx.release_dir, ctx.spec.test->files);
  if (!files.ok()) return Finish(ctx, "test", "failed", "test: " + files.error());
  ASSIGN_OR_RETURN(auto history, runs_.TestHistory(ctx.app.spec.name));
  int workers = std::max(1, ctx.spec.test->workers);
  TestSplit split = SplitTests(*files, history, workers);
  StoreLog(
      ctx, "test",
      std::to_string(files->size()) + " test files on " + std::to_string(workers) + " workers");
  std::string tmp_root =
      options_.state_dir + "/tmp/" + ctx.app.spec.name + "-run" + std::to_string(id);
  TestResults results;
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] { TestWorker(ctx, w, split.workers[w], tmp_root, results); });
  }
  for (auto& t : threads) t.join();
  (void)RemoveTree(tmp_root);
  if (results.cancelled) {
    return Finish(ctx, "test", "interrupted", "interrupted: the daemon stopped");
  }
  if (!results.errors.empty())
    return Finish(ctx, "test", "failed", "test: " + results.errors.front());
  if (!results.failures.empty()) {
    return Finish(ctx, "test", "failed", DescribeFailures(results.failures, files->size()));
  }
  return runs_.FinishStage(id, "test", "succeeded", "", clock_.WallMs());
}

// "test: N of M test files failed: a (why), b (why)", then each one's last output.
std::string RunExecutor::DescribeFailures(std::vector<TestFailure> failures, std::size_t total) {
  std::sort(failures.begin(), failures.end(),
            [](const TestFailure& a, const TestFailure& b) { return a.file < b.file; });
  std::vector<std::string> names;
  for (const auto& f : failures) names.push_back(f.file + " (" + f.result + ")");
  std::string error = "test: " + std::to_string(failures.size()) + " of " + std::to_string(total) +
                      " test files failed: " + Join(names, ", ");
  for (const auto& f : failures) {
    error += "\n--- " + f.file + " ---";
    if (!f.tail.empty()) error += "\n" + f.tail;
  }
  return error;
}

// One test worker: its own TMPDIR under `tmp_root`, then its share of the files in turn.
void RunExecutor::TestWorker(Context& ctx, int w, const std::vector<std::string>& files,
                             const std::string& tmp_root, TestResults& results) {
  std::string tmp = tmp_root + "/worker" + std::to_string(w);
  if (Status s = MakeDirs(tmp, 0700); !s.ok()) {
    std::lock_guard lock(results.mutex);
    results.errors.push_back(s.message());
    return;
  }
  for (const auto& file : files) {
    if (ctx.app.cancel || !RunTestFile(ctx, w, file, tmp, results)) {
      results.cancelled = true;
      return;
    }
  }
}

// Runs one test file on worker `w`, records its outcome; false when it was cancelled.
bool RunExecutor::RunTestFile(Context& ctx, int w, const std::string& file, const std::string& tmp,
                              TestResults& results) {
  const std::int64_t id = ctx.id();
  const std::string& app_name = ctx.app.spec.name;
  CommandOptions o = SandboxedLikeTest(
      ctx, "test", app_name + "-run" + std::to_string(id) + "-test" + std::to_string(w), tmp,
      ctx.spec.test->timeout);
  o.command = ReplaceAll(ctx.spec.test->command, "{file}", ShellQuote(file));
  o.env["GRAVITY_WORKER"] = std::to_string(w);
  o.env["GRAVITY_PORT_BASE"] =
      std::to_string(options_.test_port_base + 1000 * (ctx.app.index % 20) + 100 * w);
  o.env["GRAVITY_TEST_FILE"] = file;
  // As for the build: the head of the output is stored as it comes (in small batches) so
  // a running test can be watched; the rest when the file is done.
  HeadLineBatcher head(clock_, "[" + file + "] ", [&](const std::vector<LogLine>& lines) {
    (void)runs_.AppendLogs(id, "test", lines);
  });
  head.AttachTo(o);
  std::int64_t started_ms = clock_.WallMs();
  auto r = RunTracked(ctx, std::move(o));
  head.Flush();
  if (!r.ok()) {
    std::lock_guard lock(results.mutex);
    results.failures.push_back({file, r.error(), ""});
    return true;
  }
  if (r->cancelled) return false;
  std::vector<LogLine> lines = head.Unstreamed(r->log.Lines());
  lines.push_back({clock_.WallMs(), "[" + file + "] " + (r->ok ? "passed" : r->Describe()) +
                                        " in " + std::to_string(r->elapsed.count()) + "ms" +
                                        " (worker " + std::to_string(w) + ")"});
  (void)AppendRunLogs(ctx, "test", lines);
  (void)runs_.RecordTest(id, app_name,
                         {file, w, r->ok, r->elapsed.count(), r->Describe(), started_ms});
  if (!r->ok) {
    std::lock_guard lock(results.mutex);
    results.failures.push_back({file, r->Describe(), r->log.Tail(20)});
  }
  return true;
}

Status RunExecutor::SealStage(Context& ctx) {
  if (ctx.reuse) return Status::Ok();
  const std::int64_t id = ctx.id();
  RETURN_IF_ERROR(runs_.StartStage(id, "seal", clock_.WallMs()));
  Status sealed = Seal(ctx.release_dir);
  if (!sealed.ok()) return Finish(ctx, "seal", "failed", sealed.message());
  RETURN_IF_ERROR(
      runs_.AddRelease(ctx.app.spec.name, ctx.record.commit, ctx.release_dir, id, clock_.WallMs()));
  StoreLog(ctx, "seal", "release " + ctx.release_dir + " is now read-only");
  return runs_.FinishStage(id, "seal", "succeeded", "", clock_.WallMs());
}

Status RunExecutor::DeployStage(Context& ctx) {
  const std::int64_t id = ctx.id();
  RETURN_IF_ERROR(runs_.StartStage(id, "deploy", clock_.WallMs()));
  for (const auto& env : SplitNonEmpty(ctx.record.environments, ',')) {
    if (stopping_.load()) {
      // Not the next environment during a shutdown (nor one whose watch was cut short).
      return Finish(ctx, "deploy", "interrupted",
                    "interrupted: the daemon stopped before the deploy to " + env);
    }
    DeployRequest req;
    req.run_id = id;
    req.app = ctx.app.spec.name;
    req.environment = env;
    req.commit = ctx.record.commit;
    req.release_dir = ctx.release_dir;
    req.spec = ctx.spec;
    req.resumed = ctx.record.trigger == "restart";
    req.log = [this, &ctx, env](const std::string& line) {
      StoreLog(ctx, "deploy", "[" + env + "] " + line);
    };
    if (ctx.spec.verify && !ctx.spec.verify->command.empty()) {
      req.verify = [this, &ctx, env](const std::map<std::string, std::string>& candidate) {
        return Verify(ctx, env, candidate);
      };
    }
    Status st = options_.deploy_hook(req);
    if (!st.ok() && stopping_.load()) {
      // As a kill would leave it: the deployer settles the environment at its next start,
      // and the run is queued again.
      return Finish(
          ctx, "deploy", "interrupted",
          "interrupted: the daemon stopped during the deploy to " + env + ": " + st.message());
    }
    if (!st.ok()) return Finish(ctx, "deploy", "failed", "deploy to " + env + ": " + st.message());
  }
  RETURN_IF_ERROR(runs_.FinishStage(id, "deploy", "succeeded", "", clock_.WallMs()));
  return Finish(ctx, "deploy", "succeeded", "");
}

// The verify command, sandboxed like a test (the release read-only, its own temp
// directory), its output in the deploy stage's log.
Status RunExecutor::Verify(Context& ctx, const std::string& env,
                           const std::map<std::string, std::string>& candidate) {
  const std::int64_t id = ctx.id();
  const std::string name = ctx.app.spec.name + "-run" + std::to_string(id) + "-verify";
  std::string tmp = options_.state_dir + "/tmp/" + name;
  RETURN_IF_ERROR(MakeDirs(tmp, 0700));
  CommandOptions o = SandboxedLikeTest(ctx, "verify", name, tmp, ctx.spec.verify->timeout);
  o.command = ctx.spec.verify->command;
  for (const auto& [k, v] : candidate) o.env[k] = v;
  o.env["TMPDIR"] = tmp;
  auto r = RunTracked(ctx, std::move(o));
  (void)RemoveTree(tmp);
  if (!r.ok()) return Status::Error("verify: " + r.error());
  std::vector<LogLine> lines = r->log.Lines();
  for (auto& l : lines) l.text = "[" + env + "] [verify] " + l.text;
  lines.push_back({clock_.WallMs(), "[" + env + "] [verify] " + (r->ok ? "passed" : r->Describe()) +
                                        " in " + std::to_string(r->elapsed.count()) + "ms"});
  (void)runs_.AppendLogs(id, "deploy", lines);
  if (r->ok) return Status::Ok();
  std::string tail = r->log.Tail(20);
  return Status::FailedPrecondition(r->Describe() + (tail.empty() ? "" : ":\n" + tail));
}

}  // namespace gravity::pipeline
