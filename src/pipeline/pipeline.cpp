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

void Pipeline::Stop() {
  if (stopping_.exchange(true)) return;
  for (auto& [name, app] : apps_) {
    app->cancel = true;
    std::lock_guard lock(app->mutex);
    app->cv.notify_all();
  }
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
  if (!tips.ok()) {
    if (tips.error() != app->last_remote_error) {
      spdlog::warn("app {}: {} (polling continues)", app_name, tips.error());
    }
    app->last_remote_error = tips.error();
    RETURN_IF_ERROR(runs_.SetRemoteError(app_name, tips.error(), now));
    for (const auto& b : branches) {
      ASSIGN_OR_RETURN(auto prev, runs_.GetBranch(app_name, b));
      BranchState s{b, prev ? prev->commit : "", tips.error(), now};
      RETURN_IF_ERROR(runs_.SetBranch(app_name, s));
    }
    return Status::Ok();
  }
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
      RunRecord run;
      run.app = app_name;
      run.branch = branch;
      run.ref = branch;
      run.commit = tip.commit;
      run.subject = app->mirror->Subject(tip.commit);
      run.author = app->mirror->Author(tip.commit);
      run.environments = Join(envs_by_branch[branch], ",");
      run.trigger = trigger;
      run.created_ms = now;
      Status st = db_.Transaction([&]() -> Status {
        RETURN_IF_ERROR(runs_.SetBranch(app_name, {run.branch, run.commit, "", now}));
        return runs_.CreateRun(run).status();
      });
      RETURN_IF_ERROR(st);
      spdlog::info("app {}: new tip {} on {} ({}) -> run queued", app_name,
                   tip.commit.substr(0, 12), branch, trigger);
      queued = true;
    } else {
      RETURN_IF_ERROR(runs_.SetBranch(app_name, {branch, tip.commit, "", now}));
    }
  }
  if (queued) NotifyRunner(app);
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

Status Pipeline::Execute(AppState* app, const RunRecord& run) {
  const std::int64_t id = run.id;
  const std::string release_dir = ReleaseRoot(app->spec.name) + "/" + run.commit;
  bool created_release = false;
  // Ends the run at `stage` with `status` and `error`; discards a half-made release.
  auto finish = [&](const std::string& stage, const std::string& status,
                    const std::string& error) -> Status {
    RETURN_IF_ERROR(
        runs_.FinishStage(id, stage, status == "succeeded" ? "succeeded" : status, error, NowMs()));
    if (status != "succeeded" && created_release) {
      ASSIGN_OR_RETURN(auto sealed, runs_.ReleaseDir(app->spec.name, run.commit));
      if (!sealed) (void)RemoveTree(release_dir);
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
  };
  // The run's log, and the stack's log store when the daemon gave a sink.
  auto append_logs = [&, app_name = app->spec.name, commit = run.commit](
                         const std::string& stage, const std::vector<LogLine>& lines) {
    if (options_.output_sink && !lines.empty()) options_.output_sink(app_name, commit, stage, lines);
    return runs_.AppendLogs(id, stage, lines);
  };
  auto store_log = [&](const std::string& stage, const std::string& text) {
    (void)append_logs(stage, {{NowMs(), text}});
  };
  auto interrupted = [&] { return stopping_.load(); };

  // ---- checkout
  RETURN_IF_ERROR(runs_.StartStage(id, "checkout", NowMs()));
  RETURN_IF_ERROR(runs_.SetReleaseDir(id, release_dir));
  ASSIGN_OR_RETURN(auto sealed_dir, runs_.ReleaseDir(app->spec.name, run.commit));
  bool reuse = sealed_dir && ::access(release_dir.c_str(), F_OK) == 0;
  if (reuse) {
    store_log("checkout",
              "release " + release_dir + " is already built, tested and sealed; reused");
  } else {
    RETURN_IF_ERROR(RemoveTree(release_dir));  // half-made leftovers
    RETURN_IF_ERROR(MakeDirs(ReleaseRoot(app->spec.name)));
    created_release = true;
    Status exported = app->mirror->Export(run.commit, release_dir);
    if (!exported.ok()) return finish("checkout", "failed", exported.message());
    store_log("checkout", "exported " + run.commit + " to " + release_dir);
  }
  auto spec = config::LoadAppSpec(release_dir + "/gravity.yml", "gravity.yml");
  if (!spec.ok()) return finish("checkout", "failed", spec.error());
  RETURN_IF_ERROR(runs_.FinishStage(id, "checkout", "succeeded", "", NowMs()));
  if (interrupted()) return finish("checkout", "interrupted", "interrupted: the daemon stopped");

  std::map<std::string, std::string> base_env = {
      {"GRAVITY_APP", app->spec.name},
      {"GRAVITY_COMMIT", run.commit},
      {"GRAVITY_BRANCH", run.branch},
      {"GRAVITY_RELEASE_DIR", release_dir},
  };
  // Build and test commands run sandboxed: the app's uid, its build_limits, the state dir
  // hidden; the build may write its release directory, a test only its TMPDIR.
  auto sandbox_for = [&](const std::string& stage, const std::string& name,
                         const std::vector<std::string>& writable,
                         const std::vector<std::string>& read_only) {
    std::vector<std::string> w;
    if (options_.gravity_binary.empty()) return w;
    if (app->spec.build_sandbox == SandboxMode::kOff) {
      store_log(stage,
                "WARNING: build_sandbox: off — this command runs as root and can read the "
                "API token and every app's files");
      return w;
    }
    runtime::SandboxOptions so;
    so.uid = runtime::SandboxUid(app->spec.name);
    so.limits = app->spec.build_limits;
    so.cgroup = runtime::GroupName(options_.state_dir, name);
    so.cwd = release_dir;
    so.writable = writable;
    so.read_only = read_only;
    so.hidden = {options_.state_dir};
    so.hostname = app->spec.name + "-build";
    w = {options_.gravity_binary, "_sandbox"};
    for (auto& a : so.ToArgs()) w.push_back(std::move(a));
    w.push_back("--");
    return w;
  };
  // A command sandboxed like a test file: the release read-only, `tmp` its only writable
  // directory (and its TMPDIR), a quarter of the log budget, cancellable with the app.
  auto sandboxed = [&](const std::string& stage, const std::string& name, const std::string& tmp,
                       std::chrono::milliseconds timeout) {
    CommandOptions o;
    o.wrapper = sandbox_for(stage, name, {tmp}, {release_dir});
    o.cwd = release_dir;
    o.env = EnvironmentFor(o.wrapper, base_env);
    o.inherit_env = o.wrapper.empty();
    o.env["TMPDIR"] = tmp;
    o.timeout = timeout;
    o.head_bytes = options_.log_head_bytes / 4;
    o.tail_bytes = options_.log_tail_bytes / 4;
    o.cancel = &app->cancel;
    o.clock = &clock_;
    return o;
  };
  auto track = [&](int pid) {
    auto start = ProcessStartTime(pid);
    if (start.ok()) (void)runs_.AddProcess(id, pid, *start);
  };

  // ---- build
  if (reuse) {
    RETURN_IF_ERROR(runs_.StartStage(id, "build", NowMs()));
    RETURN_IF_ERROR(runs_.FinishStage(id, "build", "skipped", "", NowMs()));
  } else if (spec->build && !spec->build->command.empty()) {
    RETURN_IF_ERROR(runs_.StartStage(id, "build", NowMs()));
    CommandOptions o;
    o.command = spec->build->command;
    o.wrapper = sandbox_for("build", app->spec.name + "-run" + std::to_string(id) + "-build",
                            {release_dir}, {});
    o.cwd = release_dir;
    o.env = EnvironmentFor(o.wrapper, base_env);
    o.inherit_env = o.wrapper.empty();
    o.timeout = spec->build->timeout;
    o.head_bytes = options_.log_head_bytes;
    o.tail_bytes = options_.log_tail_bytes;
    o.cancel = &app->cancel;
    o.clock = &clock_;
    int pid = 0;
    o.on_start = [&](int p) {
      pid = p;
      track(p);
    };
    // The head of the output is stored as it comes (in small batches) so a running build
    // can be watched; the rest (tail, drop marker) when it ends.
    std::vector<LogLine> pending;
    std::size_t streamed = 0;
    auto last_flush = clock_.Now();
    auto flush = [&] {
      (void)append_logs("build", pending);
      streamed += pending.size();
      pending.clear();
      last_flush = clock_.Now();
    };
    o.on_head_line = [&](const LogLine& line) {
      pending.push_back(line);
      if (pending.size() >= 200) flush();
    };
    o.on_poll = [&] {
      if (!pending.empty() && clock_.Now() - last_flush > std::chrono::milliseconds(250)) flush();
    };
    auto r = RunCommand(o);
    if (pid) (void)runs_.RemoveProcess(id, pid);
    flush();
    if (!r.ok()) return finish("build", "failed", "build: " + r.error());
    std::vector<LogLine> all = r->log.Lines();
    RETURN_IF_ERROR(append_logs(
        "build",
        std::vector<LogLine>(all.begin() + std::min(streamed, all.size()), all.end())));
    if (r->cancelled) return finish("build", "interrupted", "interrupted: the daemon stopped");
    if (!r->ok) {
      std::string tail = r->log.Tail(10);
      return finish(
          "build", "failed",
          "build command " + r->Describe() + (tail.empty() ? "" : "; last output:\n" + tail));
    }
    RETURN_IF_ERROR(runs_.FinishStage(id, "build", "succeeded", "", NowMs()));
  }

  // ---- test
  if (reuse) {
    RETURN_IF_ERROR(runs_.StartStage(id, "test", NowMs()));
    RETURN_IF_ERROR(runs_.FinishStage(id, "test", "skipped", "", NowMs()));
  } else if (spec->test && !spec->test->command.empty()) {
    RETURN_IF_ERROR(runs_.StartStage(id, "test", NowMs()));
    auto files = ExpandTests(release_dir, spec->test->files);
    if (!files.ok()) return finish("test", "failed", "test: " + files.error());
    ASSIGN_OR_RETURN(auto history, runs_.TestHistory(app->spec.name));
    int workers = std::max(1, spec->test->workers);
    TestSplit split = SplitTests(*files, history, workers);
    store_log("test", std::to_string(files->size()) + " test files on " + std::to_string(workers) +
                          " workers");
    std::string tmp_root =
        options_.state_dir + "/tmp/" + app->spec.name + "-run" + std::to_string(id);
    struct Failure {
      std::string file, result, tail;
    };
    std::mutex fail_mutex;
    std::vector<Failure> failures;  // guarded by fail_mutex
    std::vector<std::string> errors;
    std::atomic<bool> cancelled{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        std::string tmp = tmp_root + "/worker" + std::to_string(w);
        if (Status s = MakeDirs(tmp, 0700); !s.ok()) {
          std::lock_guard lock(fail_mutex);
          errors.push_back(s.message());
          return;
        }
        for (const auto& file : split.workers[w]) {
          if (app->cancel) {
            cancelled = true;
            return;
          }
          CommandOptions o = sandboxed(
              "test", app->spec.name + "-run" + std::to_string(id) + "-test" + std::to_string(w),
              tmp, spec->test->timeout);
          o.command = ReplaceAll(spec->test->command, "{file}", ShellQuote(file));
          o.env["GRAVITY_WORKER"] = std::to_string(w);
          o.env["GRAVITY_PORT_BASE"] =
              std::to_string(options_.test_port_base + 1000 * (app->index % 20) + 100 * w);
          o.env["GRAVITY_TEST_FILE"] = file;
          int pid = 0;
          o.on_start = [&](int p) {
            pid = p;
            track(p);
          };
          // As for the build: the head of the output is stored as it comes (in small
          // batches) so a running test can be watched; the rest when the file is done.
          std::vector<LogLine> pending;
          std::size_t streamed = 0;
          auto last_flush = clock_.Now();
          auto flush = [&] {
            for (auto& l : pending) l.text = "[" + file + "] " + l.text;
            (void)runs_.AppendLogs(id, "test", pending);
            streamed += pending.size();
            pending.clear();
            last_flush = clock_.Now();
          };
          o.on_head_line = [&](const LogLine& line) {
            pending.push_back(line);
            if (pending.size() >= 200) flush();
          };
          o.on_poll = [&] {
            if (!pending.empty() && clock_.Now() - last_flush > std::chrono::milliseconds(250)) {
              flush();
            }
          };
          std::int64_t started_ms = NowMs();
          auto r = RunCommand(o);
          if (pid) (void)runs_.RemoveProcess(id, pid);
          flush();
          if (!r.ok()) {
            std::lock_guard lock(fail_mutex);
            failures.push_back({file, r.error(), ""});
            continue;
          }
          if (r->cancelled) {
            cancelled = true;
            return;
          }
          std::vector<LogLine> all = r->log.Lines();
          std::vector<LogLine> lines(all.begin() + std::min(streamed, all.size()), all.end());
          for (auto& l : lines) l.text = "[" + file + "] " + l.text;
          lines.push_back({NowMs(), "[" + file + "] " + (r->ok ? "passed" : r->Describe()) +
                                        " in " + std::to_string(r->elapsed.count()) + "ms" +
                                        " (worker " + std::to_string(w) + ")"});
          (void)append_logs("test", lines);
          (void)runs_.RecordTest(id, app->spec.name,
                                 {file, w, r->ok, r->elapsed.count(), r->Describe(), started_ms});
          if (!r->ok) {
            std::lock_guard lock(fail_mutex);
            failures.push_back({file, r->Describe(), r->log.Tail(20)});
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    (void)RemoveTree(tmp_root);
    if (cancelled) return finish("test", "interrupted", "interrupted: the daemon stopped");
    if (!errors.empty()) return finish("test", "failed", "test: " + errors.front());
    if (!failures.empty()) {
      std::sort(failures.begin(), failures.end(),
                [](const Failure& a, const Failure& b) { return a.file < b.file; });
      std::vector<std::string> names;
      for (const auto& f : failures) names.push_back(f.file + " (" + f.result + ")");
      std::string error = "test: " + std::to_string(failures.size()) + " of " +
                          std::to_string(files->size()) +
                          " test files failed: " + Join(names, ", ");
      for (const auto& f : failures) {
        error += "\n--- " + f.file + " ---";
        if (!f.tail.empty()) error += "\n" + f.tail;
      }
      return finish("test", "failed", error);
    }
    RETURN_IF_ERROR(runs_.FinishStage(id, "test", "succeeded", "", NowMs()));
  }

  // ---- seal
  if (!reuse) {
    RETURN_IF_ERROR(runs_.StartStage(id, "seal", NowMs()));
    Status sealed = Seal(release_dir);
    if (!sealed.ok()) return finish("seal", "failed", sealed.message());
    RETURN_IF_ERROR(runs_.AddRelease(app->spec.name, run.commit, release_dir, id, NowMs()));
    store_log("seal", "release " + release_dir + " is now read-only");
    RETURN_IF_ERROR(runs_.FinishStage(id, "seal", "succeeded", "", NowMs()));
  }

  // ---- deploy
  if (options_.deploy_hook) {
    RETURN_IF_ERROR(runs_.StartStage(id, "deploy", NowMs()));
    for (const auto& env : Split(run.environments, ',')) {
      DeployRequest req;
      req.run_id = id;
      req.app = app->spec.name;
      req.environment = env;
      req.commit = run.commit;
      req.release_dir = release_dir;
      req.spec = *spec;
      req.resumed = run.trigger == "restart";
      req.log = [&, env](const std::string& line) { store_log("deploy", "[" + env + "] " + line); };
      if (spec->verify && !spec->verify->command.empty()) {
        // The verify command, sandboxed like a test (the release read-only, its own temp
        // directory), its output in the deploy stage's log.
        req.verify = [&, env](const std::map<std::string, std::string>& candidate) -> Status {
          std::string tmp = options_.state_dir + "/tmp/" + app->spec.name + "-run" +
                            std::to_string(id) + "-verify";
          RETURN_IF_ERROR(MakeDirs(tmp, 0700));
          CommandOptions o = sandboxed(
              "verify", app->spec.name + "-run" + std::to_string(id) + "-verify", tmp,
              spec->verify->timeout);
          o.command = spec->verify->command;
          for (const auto& [k, v] : candidate) o.env[k] = v;
          o.env["TMPDIR"] = tmp;
          int pid = 0;
          o.on_start = [&](int p) {
            pid = p;
            track(p);
          };
          auto r = RunCommand(o);
          if (pid) (void)runs_.RemoveProcess(id, pid);
          (void)RemoveTree(tmp);
          if (!r.ok()) return Status::Error("verify: " + r.error());
          std::vector<LogLine> lines = r->log.Lines();
          for (auto& l : lines) l.text = "[" + env + "] [verify] " + l.text;
          lines.push_back({NowMs(), "[" + env + "] [verify] " +
                                        (r->ok ? "passed" : r->Describe()) + " in " +
                                        std::to_string(r->elapsed.count()) + "ms"});
          (void)runs_.AppendLogs(id, "deploy", lines);
          if (r->ok) return Status::Ok();
          std::string tail = r->log.Tail(20);
          return Status::FailedPrecondition(r->Describe() + (tail.empty() ? "" : ":\n" + tail));
        };
      }
      Status st = options_.deploy_hook(req);
      if (!st.ok()) return finish("deploy", "failed", "deploy to " + env + ": " + st.message());
    }
    RETURN_IF_ERROR(runs_.FinishStage(id, "deploy", "succeeded", "", NowMs()));
    return finish("deploy", "succeeded", "");
  }
  RETURN_IF_ERROR(runs_.FinishRun(id, "succeeded", reuse ? "test" : "seal", "", NowMs()));
  spdlog::info("run {}: succeeded", id);
  return Status::Ok();
}

}  // namespace gravity::pipeline
