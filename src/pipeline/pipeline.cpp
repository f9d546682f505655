#include "pipeline/pipeline.h"

#include <ftw.h>
#include <glob.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/fs.h"
#include "common/process.h"
#include "config/config.h"
#include "pipeline/command.h"
#include "pipeline/head_batcher.h"
#include "pipeline/splitter.h"
#include "pipeline/webhook.h"
#include "runtime/sandbox.h"

namespace gravity::pipeline {

namespace {

// A sandboxed command (non-empty `wrapper`) gets only SandboxBaseEnvironment() of the
// daemon's environment, plus `own`; a plain one inherits it all (then `own` is added).
std::map<std::string, std::string> EnvironmentFor(const std::vector<std::string>& wrapper,
                                                  const std::map<std::string, std::string>& own) {
  return wrapper.empty() ? own : runtime::SandboxEnvironment(own);
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
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

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

}  // namespace

Pipeline::Pipeline(store::Db& db, config::StackSpec stack, PipelineOptions options)
    : db_(db),
      runs_(db),
      stack_(std::move(stack)),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : Clock::Real()) {
  if (options_.state_dir.empty()) options_.state_dir = stack_.state_dir;
}

Pipeline::~Pipeline() { Stop(); }

std::int64_t Pipeline::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch())
      .count();
}

std::string Pipeline::ReleaseRoot(const std::string& app) const {
  return options_.state_dir + "/releases/" + app;
}

void Pipeline::SetDeployHook(DeployHook hook) { options_.deploy_hook = std::move(hook); }

Pipeline::AppState* Pipeline::Find(const std::string& app) {
  auto it = apps_.find(app);
  return it == apps_.end() ? nullptr : it->second.get();
}

Status Pipeline::Init() {
  RETURN_IF_ERROR(runs_.Migrate());
  RETURN_IF_ERROR(MakeDirs(options_.state_dir + "/repos"));
  RETURN_IF_ERROR(MakeDirs(options_.state_dir + "/releases"));
  int index = 0;
  for (const auto& app : stack_.apps) {
    auto state = std::make_unique<AppState>();
    state->spec = app;
    state->index = index++;
    ASSIGN_OR_RETURN(state->mirror,
                     Mirror::Open(options_.state_dir + "/repos/" + app.name + ".git", app.repo));
    apps_.emplace(app.name, std::move(state));
  }
  return Recover();
}

Status Pipeline::Recover() {
  (void)RemoveTree(options_.state_dir + "/tmp");
  ASSIGN_OR_RETURN(auto running, runs_.RunningRuns());
  for (const auto& run : running) {
    ASSIGN_OR_RETURN(auto procs, runs_.Processes(run.id));
    for (const auto& [pid, start] : procs) {
      auto now_start = ProcessStartTime(pid);
      if (now_start.ok() && *now_start == start) {
        spdlog::warn("run {}: stopping process group {} left by the previous daemon", run.id, pid);
        StopProcessGroup(pid, std::chrono::milliseconds(2000));
      }
      (void)runs_.RemoveProcess(run.id, pid);
    }
    std::string stage = run.stage.empty() ? "checkout" : run.stage;
    std::string error = "interrupted: the daemon stopped during the " + stage + " stage";
    RETURN_IF_ERROR(runs_.FinishStage(run.id, stage, "interrupted", error, NowMs()));
    RETURN_IF_ERROR(runs_.FinishRun(run.id, "interrupted", stage, error, NowMs()));
    ASSIGN_OR_RETURN(auto sealed, runs_.ReleaseDir(run.app, run.commit));
    if (!run.release_dir.empty() && !sealed) {
      spdlog::info("run {}: discarding half-made release {}", run.id, run.release_dir);
      RETURN_IF_ERROR(RemoveTree(run.release_dir));
    }
    AppState* app = Find(run.app);
    if (!app) continue;  // app removed from the stack
    RunRecord again = run;
    if (!run.branch.empty()) {
      ASSIGN_OR_RETURN(auto branch, runs_.GetBranch(run.app, run.branch));
      if (branch && !branch->commit.empty()) again.commit = branch->commit;
    }
    if (again.commit != run.commit) {
      again.subject = app->mirror->Subject(again.commit);
      again.author = app->mirror->Author(again.commit);
    }
    again.trigger = "restart";
    again.created_ms = NowMs();
    ASSIGN_OR_RETURN(auto id, runs_.CreateRun(again));
    spdlog::info("run {} of {} was interrupted; queued run {} for {}", run.id, run.app, id,
                 again.commit.substr(0, 12));
  }
  return Status::Ok();
}

void Pipeline::Start() {
  if (started_ || !options_.start_threads) return;
  started_ = true;
  for (auto& [name, app] : apps_) {
    AppState* a = app.get();
    a->watcher = std::thread([this, a] { WatchLoop(a); });
    a->runner = std::thread([this, a] { RunLoop(a); });
  }
}

void Pipeline::BeginStop() {
  stopping_ = true;
  for (auto& [name, app] : apps_) {
    app->cancel = true;
    std::lock_guard lock(app->mutex);
    app->cv.notify_all();
  }
}

void Pipeline::Stop() {
  if (stopped_.exchange(true)) return;
  BeginStop();
  for (auto& [name, app] : apps_) {
    if (app->watcher.joinable()) app->watcher.join();
    if (app->runner.joinable()) app->runner.join();
  }
}

Status Pipeline::TriggerFetch(const std::string& app_name, const std::string& trigger) {
  AppState* app = Find(app_name);
  if (!app) return Status::Error("no app '" + app_name + "' in the stack");
  std::lock_guard lock(app->mutex);
  app->fetch_requested = true;
  app->fetch_trigger = trigger;
  app->cv.notify_all();
  return Status::Ok();
}

void Pipeline::NotifyRunner(AppState* app) {
  std::lock_guard lock(app->mutex);
  app->run_requested = true;
  app->cv.notify_all();
}

void Pipeline::WatchLoop(AppState* app) {
  std::string trigger = "poll";
  while (!stopping_) {
    Status st = PollOnce(app->spec.name, trigger);
    if (!st.ok()) spdlog::error("app {}: {}", app->spec.name, st.message());
    std::unique_lock lock(app->mutex);
    app->cv.wait_for(lock, app->spec.poll_interval,
                     [&] { return stopping_ || app->fetch_requested; });
    trigger = app->fetch_requested ? app->fetch_trigger : "poll";
    app->fetch_requested = false;
  }
}

Status Pipeline::PollOnce(const std::string& app_name, const std::string& trigger) {
  AppState* app = Find(app_name);
  if (!app) return Status::Error("no app '" + app_name + "' in the stack");
  std::map<std::string, std::vector<std::string>> envs_by_branch;  // not paused
  std::map<std::string, std::vector<std::string>> paused_by_branch;
  for (const auto& env : app->spec.environments) {
    if (env.branch.empty()) continue;
    ASSIGN_OR_RETURN(auto paused, runs_.Paused(app_name, env.name));
    (paused ? paused_by_branch : envs_by_branch)[env.branch].push_back(env.name);
  }
  std::vector<std::string> branches;
  for (const auto& [b, envs] : envs_by_branch) branches.push_back(b);
  for (const auto& [b, envs] : paused_by_branch) {
    if (!envs_by_branch.count(b)) branches.push_back(b);
  }
  if (branches.empty()) return Status::Ok();
  auto now = NowMs();
  auto tips = app->mirror->FetchBranches(branches);
  if (!tips.ok()) return RecordFetchFailure(app, branches, tips.error(), now);
  if (!app->last_remote_error.empty()) {
    spdlog::info("app {}: remote {} reachable again", app_name, app->spec.repo);
  }
  app->last_remote_error.clear();
  RETURN_IF_ERROR(runs_.SetRemoteError(app_name, "", now));
  bool queued = false;
  for (const auto& [branch, tip] : *tips) {
    ASSIGN_OR_RETURN(auto prev, runs_.GetBranch(app_name, branch));
    std::string prev_commit = prev ? prev->commit : "";
    if (!tip.error.empty()) {
      if (!prev || prev->error != tip.error) {
        spdlog::warn("app {}: {} (nothing deploys; polling continues)", app_name, tip.error);
      }
      RETURN_IF_ERROR(runs_.SetBranch(app_name, {branch, prev_commit, tip.error, now}));
      continue;
    }
    if (tip.commit != prev_commit) {
      // Paused environments let the tip go by; resuming deploys the branch's tip then.
      for (const auto& env : paused_by_branch[branch]) {
        RETURN_IF_ERROR(runs_.MarkMissed(app_name, env));
        spdlog::info("app {}: new tip {} on {}: {} is paused, not deployed there", app_name,
                     tip.commit.substr(0, 12), branch, env);
      }
      if (envs_by_branch[branch].empty()) {
        RETURN_IF_ERROR(runs_.SetBranch(app_name, {branch, tip.commit, "", now}));
        continue;
      }
      RETURN_IF_ERROR(
          QueueRunForTip(app, branch, tip.commit, envs_by_branch[branch], trigger, now));
      queued = true;
    } else {
      RETURN_IF_ERROR(runs_.SetBranch(app_name, {branch, tip.commit, "", now}));
    }
  }
  if (queued) NotifyRunner(app);
  return Status::Ok();
}

// The remote could not be fetched: logged once per new error, kept on the app and on each
// watched branch (whose last known commit stays).
Status Pipeline::RecordFetchFailure(AppState* app, const std::vector<std::string>& branches,
                                    const std::string& error, std::int64_t now) {
  const std::string& app_name = app->spec.name;
  if (error != app->last_remote_error) {
    spdlog::warn("app {}: {} (polling continues)", app_name, error);
  }
  app->last_remote_error = error;
  RETURN_IF_ERROR(runs_.SetRemoteError(app_name, error, now));
  for (const auto& b : branches) {
    ASSIGN_OR_RETURN(auto prev, runs_.GetBranch(app_name, b));
    BranchState s{b, prev ? prev->commit : "", error, now};
    RETURN_IF_ERROR(runs_.SetBranch(app_name, s));
  }
  return Status::Ok();
}

// A new tip of `branch`: records it and queues a run for `envs` in one transaction.
Status Pipeline::QueueRunForTip(AppState* app, const std::string& branch, const std::string& commit,
                                const std::vector<std::string>& envs, const std::string& trigger,
                                std::int64_t now) {
  const std::string& app_name = app->spec.name;
  RunRecord run;
  run.app = app_name;
  run.branch = branch;
  run.ref = branch;
  run.commit = commit;
  run.subject = app->mirror->Subject(commit);
  run.author = app->mirror->Author(commit);
  run.environments = Join(envs, ",");
  run.trigger = trigger;
  run.created_ms = now;
  Status st = db_.Transaction([&]() -> Status {
    RETURN_IF_ERROR(runs_.SetBranch(app_name, {run.branch, run.commit, "", now}));
    return runs_.CreateRun(run).status();
  });
  RETURN_IF_ERROR(st);
  spdlog::info("app {}: new tip {} on {} ({}) -> run queued", app_name, commit.substr(0, 12),
               branch, trigger);
  return Status::Ok();
}

Result<std::int64_t> Pipeline::RequestRun(const std::string& app_name, const std::string& ref_in,
                                          const std::string& env_in) {
  AppState* app = Find(app_name);
  if (!app) return Status::Error("no app '" + app_name + "' in the stack");
  const config::EnvironmentSpec* env = nullptr;
  if (!env_in.empty()) {
    env = app->spec.FindEnvironment(env_in);
    if (!env) return Status::Error("app '" + app_name + "' has no environment '" + env_in + "'");
  } else {
    for (const auto& e : app->spec.environments) {
      if (!e.branch.empty()) {
        env = &e;
        break;
      }
    }
    if (!env) return Status::Error("app '" + app_name + "' has no environment with a branch");
  }
  std::string ref = ref_in.empty() ? env->branch : ref_in;
  if (ref.empty()) {
    return Status::Error("environment '" + env->name + "' has no branch: give --ref");
  }
  ASSIGN_OR_RETURN(std::string commit, app->mirror->FetchAndResolve(ref));
  RunRecord run;
  run.app = app_name;
  run.ref = ref;
  auto branch_commit = app->mirror->Resolve("refs/heads/" + ref);
  if (branch_commit.ok() && *branch_commit == commit) run.branch = ref;
  run.commit = commit;
  run.subject = app->mirror->Subject(commit);
  run.author = app->mirror->Author(commit);
  run.environments = env->name;
  run.trigger = "manual";
  run.created_ms = NowMs();
  ASSIGN_OR_RETURN(auto id, runs_.CreateRun(run));
  NotifyRunner(app);
  return id;
}

Status Pipeline::Pause(const std::string& app_name, const std::string& env) {
  AppState* app = Find(app_name);
  if (!app) return Status::NotFound("no app '" + app_name + "' in the stack");
  if (!app->spec.FindEnvironment(env)) {
    return Status::NotFound("app '" + app_name + "' has no environment '" + env + "'");
  }
  RETURN_IF_ERROR(runs_.Pause(app_name, env, NowMs()));
  spdlog::info("app {}: automatic deploys to {} paused", app_name, env);
  return Status::Ok();
}

Result<std::int64_t> Pipeline::Resume(const std::string& app_name, const std::string& env) {
  AppState* app = Find(app_name);
  if (!app) return Status::NotFound("no app '" + app_name + "' in the stack");
  const config::EnvironmentSpec* spec = app->spec.FindEnvironment(env);
  if (!spec) return Status::NotFound("app '" + app_name + "' has no environment '" + env + "'");
  ASSIGN_OR_RETURN(auto was, runs_.Resume(app_name, env));
  spdlog::info("app {}: automatic deploys to {} resumed", app_name, env);
  if (!was || !was->missed || spec->branch.empty()) return std::int64_t{0};
  // What came in while paused: the branch's tip now.
  return RequestRun(app_name, spec->branch, env);
}

WebhookResponse Pipeline::HandleWebhook(const std::string& app_name, const std::string& event,
                                        const std::string& signature, const std::string& body) {
  AppState* app = Find(app_name);
  if (!app) return {404, "no app '" + app_name + "' in the stack"};
  if (app->spec.webhook_secret_file.empty()) {
    return {404, "webhooks are off for app '" + app_name + "' (no webhook_secret_file)"};
  }
  auto secret = ReadFile(app->spec.webhook_secret_file);
  if (!secret.ok()) return {500, "cannot read the webhook secret: " + secret.error()};
  std::string key = *secret;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (signature.empty()) return {401, "missing X-Hub-Signature-256"};
  if (!VerifySignature(key, body, signature)) {
    spdlog::warn("app {}: webhook with a wrong signature refused", app_name);
    return {401, "X-Hub-Signature-256 does not match the body"};
  }
  if (event == "ping") return {200, "pong"};
  if (!event.empty() && event != "push") return {202, "event '" + event + "' ignored"};
  auto push = ParsePushEvent(body);
  if (!push.ok()) return {400, push.error()};
  bool watched = false;
  for (const auto& e : app->spec.environments) {
    if (!push->branch.empty() && e.branch == push->branch) watched = true;
  }
  if (!watched) {
    return {202, "ref '" + push->ref + "' is not a branch any environment of '" + app_name +
                     "' watches; ignored"};
  }
  (void)TriggerFetch(app_name, "webhook");
  return {200, "fetch of '" + push->branch + "' triggered"};
}

void Pipeline::RunLoop(AppState* app) {
  while (!stopping_) {
    auto ran = RunNext(app->spec.name);
    if (!ran.ok()) spdlog::error("app {}: {}", app->spec.name, ran.error());
    if (ran.ok() && *ran) continue;
    std::unique_lock lock(app->mutex);
    app->cv.wait_for(lock, std::chrono::seconds(5),
                     [&] { return stopping_ || app->run_requested; });
    app->run_requested = false;
  }
}

Result<bool> Pipeline::RunNext(const std::string& app_name) {
  AppState* app = Find(app_name);
  if (!app) return Status::Error("no app '" + app_name + "' in the stack");
  if (stopping_) return false;
  ASSIGN_OR_RETURN(auto run, runs_.TakeNext(app_name, NowMs()));
  if (!run) return false;
  spdlog::info("run {}: {} {} ({}) started", run->id, app_name, run->commit.substr(0, 12),
               run->branch.empty() ? run->ref : run->branch);
  Status st = Execute(app, *run);
  if (!st.ok()) {
    // Store trouble: make sure the run does not stay `running`.
    spdlog::error("run {}: {}", run->id, st.message());
    (void)runs_.FinishRun(run->id, "failed", run->stage, st.message(), NowMs());
  }
  if (Status pruned = runs_.PruneLogs(app_name, options_.keep_logs_of_runs); !pruned.ok()) {
    spdlog::warn("app {}: pruning old logs: {}", app_name, pruned.message());
  }
  return true;
}

// What one run carries from stage to stage.
struct Pipeline::RunContext {
  AppState* app;
  const RunRecord& record;
  std::string release_dir;
  bool created_release = false;  // this run exported the release (not a sealed one reused)
  bool reuse = false;            // the release is already built, tested and sealed
  bool ended = false;            // Finish() was called: no further stage runs
  config::AppSpec spec;          // the release's gravity.yml, once checked out
  std::map<std::string, std::string> base_env;
  std::int64_t id() const { return record.id; }
};

struct Pipeline::TestFailure {
  std::string file, result, tail;
};

// What the test workers report; shared by the worker threads of one test stage.
struct Pipeline::TestResults {
  std::mutex mutex;
  std::vector<TestFailure> failures;  // guarded by mutex
  std::vector<std::string> errors;    // guarded by mutex
  std::atomic<bool> cancelled{false};
};

Status Pipeline::Execute(AppState* app, const RunRecord& run) {
  RunContext ctx{app, run, ReleaseRoot(app->spec.name) + "/" + run.commit};
  for (auto stage : {&Pipeline::CheckoutStage, &Pipeline::BuildStage, &Pipeline::TestStage,
                     &Pipeline::SealStage}) {
    RETURN_IF_ERROR((this->*stage)(ctx));
    if (ctx.ended) return Status::Ok();
  }
  if (options_.deploy_hook) return DeployStage(ctx);
  RETURN_IF_ERROR(runs_.FinishRun(run.id, "succeeded", ctx.reuse ? "test" : "seal", "", NowMs()));
  spdlog::info("run {}: succeeded", run.id);
  return Status::Ok();
}

// Ends the run at `stage` with `status` and `error`; discards a half-made release.
Status Pipeline::Finish(RunContext& ctx, const std::string& stage, const std::string& status,
                        const std::string& error) {
  ctx.ended = true;
  const std::int64_t id = ctx.id();
  const RunRecord& run = ctx.record;
  RETURN_IF_ERROR(
      runs_.FinishStage(id, stage, status == "succeeded" ? "succeeded" : status, error, NowMs()));
  if (status != "succeeded" && ctx.created_release) {
    ASSIGN_OR_RETURN(auto sealed, runs_.ReleaseDir(ctx.app->spec.name, run.commit));
    if (!sealed) (void)RemoveTree(ctx.release_dir);
  }
  RETURN_IF_ERROR(runs_.FinishRun(id, status, stage, error, NowMs()));
  if (status == "interrupted") {
    // Stopped by a daemon shutdown: run the newest tip again next time.
    RunRecord again = run;
    again.trigger = "restart";
    again.created_ms = NowMs();
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
Status Pipeline::AppendRunLogs(RunContext& ctx, const std::string& stage,
                               const std::vector<LogLine>& lines) {
  if (options_.output_sink && !lines.empty()) {
    options_.output_sink(ctx.app->spec.name, ctx.record.commit, stage, lines);
  }
  return runs_.AppendLogs(ctx.id(), stage, lines);
}

void Pipeline::StoreLog(RunContext& ctx, const std::string& stage, const std::string& text) {
  (void)AppendRunLogs(ctx, stage, {{NowMs(), text}});
}

Status Pipeline::SkipStage(std::int64_t id, const std::string& stage) {
  RETURN_IF_ERROR(runs_.StartStage(id, stage, NowMs()));
  return runs_.FinishStage(id, stage, "skipped", "", NowMs());
}

// Build and test commands run sandboxed: the app's uid, its build_limits, the state dir
// hidden; the build may write its release directory, a test only its TMPDIR.
std::vector<std::string> Pipeline::SandboxWrapper(RunContext& ctx, const std::string& stage,
                                                  const std::string& name,
                                                  const std::vector<std::string>& writable,
                                                  const std::vector<std::string>& read_only) {
  std::vector<std::string> w;
  if (options_.gravity_binary.empty()) return w;
  const config::StackApp& app = ctx.app->spec;
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
CommandOptions Pipeline::SandboxedLikeTest(RunContext& ctx, const std::string& stage,
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
  o.cancel = &ctx.app->cancel;
  o.clock = &clock_;
  return o;
}

// Runs `o` with its process group recorded in the run store while it runs, so that a
// daemon restarted meanwhile stops what was left.
Result<CommandResult> Pipeline::RunTracked(RunContext& ctx, CommandOptions o) {
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

Status Pipeline::CheckoutStage(RunContext& ctx) {
  const std::int64_t id = ctx.id();
  const std::string& app_name = ctx.app->spec.name;
  const std::string& commit = ctx.record.commit;
  RETURN_IF_ERROR(runs_.StartStage(id, "checkout", NowMs()));
  RETURN_IF_ERROR(runs_.SetReleaseDir(id, ctx.release_dir));
  ASSIGN_OR_RETURN(auto sealed_dir, runs_.ReleaseDir(app_name, commit));
  ctx.reuse = sealed_dir && ::access(ctx.release_dir.c_str(), F_OK) == 0;
  if (ctx.reuse) {
    StoreLog(ctx, "checkout",
             "release " + ctx.release_dir + " is already built, tested and sealed; reused");
  } else {
    RETURN_IF_ERROR(RemoveTree(ctx.release_dir));  // half-made leftovers
    RETURN_IF_ERROR(MakeDirs(ReleaseRoot(app_name)));
    ctx.created_release = true;
    Status exported = ctx.app->mirror->Export(commit, ctx.release_dir);
    if (!exported.ok()) return Finish(ctx, "checkout", "failed", exported.message());
    StoreLog(ctx, "checkout", "exported " + commit + " to " + ctx.release_dir);
  }
  auto spec = config::LoadAppSpec(ctx.release_dir + "/gravity.yml", "gravity.yml");
  if (!spec.ok()) return Finish(ctx, "checkout", "failed", spec.error());
  ctx.spec = std::move(*spec);
  RETURN_IF_ERROR(runs_.FinishStage(id, "checkout", "succeeded", "", NowMs()));
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

Status Pipeline::BuildStage(RunContext& ctx) {
  const std::int64_t id = ctx.id();
  if (ctx.reuse) return SkipStage(id, "build");
  if (!ctx.spec.build || ctx.spec.build->command.empty()) return Status::Ok();
  RETURN_IF_ERROR(runs_.StartStage(id, "build", NowMs()));
  CommandOptions o;
  o.command = ctx.spec.build->command;
  o.wrapper =
      SandboxWrapper(ctx, "build", ctx.app->spec.name + "-run" + std::to_string(id) + "-build",
                     {ctx.release_dir}, {});
  o.cwd = ctx.release_dir;
  o.env = EnvironmentFor(o.wrapper, ctx.base_env);
  o.inherit_env = o.wrapper.empty();
  o.timeout = ctx.spec.build->timeout;
  o.head_bytes = options_.log_head_bytes;
  o.tail_bytes = options_.log_tail_bytes;
  o.cancel = &ctx.app->cancel;
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
  return runs_.FinishStage(id, "build", "succeeded", "", NowMs());
}

Status Pipeline::TestStage(RunContext& ctx) {
  const std::int64_t id = ctx.id();
  if (ctx.reuse) return SkipStage(id, "test");
  if (!ctx.spec.test || ctx.spec.test->command.empty()) return Status::Ok();
  RETURN_IF_ERROR(runs_.StartStage(id, "test", NowMs()));
  auto files = ExpandTests(ctx.release_dir, ctx.spec.test->files);
  if (!files.ok()) return Finish(ctx, "test", "failed", "test: " + files.error());
  ASSIGN_OR_RETURN(auto history, runs_.TestHistory(ctx.app->spec.name));
  int workers = std::max(1, ctx.spec.test->workers);
  TestSplit split = SplitTests(*files, history, workers);
  StoreLog(
      ctx, "test",
      std::to_string(files->size()) + " test files on " + std::to_string(workers) + " workers");
  std::string tmp_root =
      options_.state_dir + "/tmp/" + ctx.app->spec.name + "-run" + std::to_string(id);
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
  return runs_.FinishStage(id, "test", "succeeded", "", NowMs());
}

// "test: N of M test files failed: a (why), b (why)", then each one's last output.
std::string Pipeline::DescribeFailures(std::vector<TestFailure> failures, std::size_t total) {
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
void Pipeline::TestWorker(RunContext& ctx, int w, const std::vector<std::string>& files,
                          const std::string& tmp_root, TestResults& results) {
  std::string tmp = tmp_root + "/worker" + std::to_string(w);
  if (Status s = MakeDirs(tmp, 0700); !s.ok()) {
    std::lock_guard lock(results.mutex);
    results.errors.push_back(s.message());
    return;
  }
  for (const auto& file : files) {
    if (ctx.app->cancel || !RunTestFile(ctx, w, file, tmp, results)) {
      results.cancelled = true;
      return;
    }
  }
}

// Runs one test file on worker `w`, records its outcome; false when it was cancelled.
bool Pipeline::RunTestFile(RunContext& ctx, int w, const std::string& file, const std::string& tmp,
                           TestResults& results) {
  const std::int64_t id = ctx.id();
  const std::string& app_name = ctx.app->spec.name;
  CommandOptions o = SandboxedLikeTest(
      ctx, "test", app_name + "-run" + std::to_string(id) + "-test" + std::to_string(w), tmp,
      ctx.spec.test->timeout);
  o.command = ReplaceAll(ctx.spec.test->command, "{file}", ShellQuote(file));
  o.env["GRAVITY_WORKER"] = std::to_string(w);
  o.env["GRAVITY_PORT_BASE"] =
      std::to_string(options_.test_port_base + 1000 * (ctx.app->index % 20) + 100 * w);
  o.env["GRAVITY_TEST_FILE"] = file;
  // As for the build: the head of the output is stored as it comes (in small batches) so
  // a running test can be watched; the rest when the file is done.
  HeadLineBatcher head(clock_, "[" + file + "] ", [&](const std::vector<LogLine>& lines) {
    (void)runs_.AppendLogs(id, "test", lines);
  });
  head.AttachTo(o);
  std::int64_t started_ms = NowMs();
  auto r = RunTracked(ctx, std::move(o));
  head.Flush();
  if (!r.ok()) {
    std::lock_guard lock(results.mutex);
    results.failures.push_back({file, r.error(), ""});
    return true;
  }
  if (r->cancelled) return false;
  std::vector<LogLine> lines = head.Unstreamed(r->log.Lines());
  lines.push_back({NowMs(), "[" + file + "] " + (r->ok ? "passed" : r->Describe()) + " in " +
                                std::to_string(r->elapsed.count()) + "ms" + " (worker " +
                                std::to_string(w) + ")"});
  (void)AppendRunLogs(ctx, "test", lines);
  (void)runs_.RecordTest(id, app_name,
                         {file, w, r->ok, r->elapsed.count(), r->Describe(), started_ms});
  if (!r->ok) {
    std::lock_guard lock(results.mutex);
    results.failures.push_back({file, r->Describe(), r->log.Tail(20)});
  }
  return true;
}

Status Pipeline::SealStage(RunContext& ctx) {
  if (ctx.reuse) return Status::Ok();
  const std::int64_t id = ctx.id();
  RETURN_IF_ERROR(runs_.StartStage(id, "seal", NowMs()));
  Status sealed = Seal(ctx.release_dir);
  if (!sealed.ok()) return Finish(ctx, "seal", "failed", sealed.message());
  RETURN_IF_ERROR(
      runs_.AddRelease(ctx.app->spec.name, ctx.record.commit, ctx.release_dir, id, NowMs()));
  StoreLog(ctx, "seal", "release " + ctx.release_dir + " is now read-only");
  return runs_.FinishStage(id, "seal", "succeeded", "", NowMs());
}

Status Pipeline::DeployStage(RunContext& ctx) {
  const std::int64_t id = ctx.id();
  RETURN_IF_ERROR(runs_.StartStage(id, "deploy", NowMs()));
  for (const auto& env : Split(ctx.record.environments, ',')) {
    if (stopping_.load()) {
      // Not the next environment during a shutdown (nor one whose watch was cut short).
      return Finish(ctx, "deploy", "interrupted",
                    "interrupted: the daemon stopped before the deploy to " + env);
    }
    DeployRequest req;
    req.run_id = id;
    req.app = ctx.app->spec.name;
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
      return Finish(ctx, "deploy", "interrupted",
                    "interrupted: the daemon stopped during the deploy to " + env + ": " +
                        st.message());
    }
    if (!st.ok()) return Finish(ctx, "deploy", "failed", "deploy to " + env + ": " + st.message());
  }
  RETURN_IF_ERROR(runs_.FinishStage(id, "deploy", "succeeded", "", NowMs()));
  return Finish(ctx, "deploy", "succeeded", "");
}

// The verify command, sandboxed like a test (the release read-only, its own temp
// directory), its output in the deploy stage's log.
Status Pipeline::Verify(RunContext& ctx, const std::string& env,
                        const std::map<std::string, std::string>& candidate) {
  const std::int64_t id = ctx.id();
  const std::string name = ctx.app->spec.name + "-run" + std::to_string(id) + "-verify";
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
  lines.push_back({NowMs(), "[" + env + "] [verify] " + (r->ok ? "passed" : r->Describe()) +
                                " in " + std::to_string(r->elapsed.count()) + "ms"});
  (void)runs_.AppendLogs(id, "deploy", lines);
  if (r->ok) return Status::Ok();
  std::string tail = r->log.Tail(20);
  return Status::FailedPrecondition(r->Describe() + (tail.empty() ? "" : ":\n" + tail));
}

}  // namespace gravity::pipeline
