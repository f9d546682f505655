#include "pipeline/pipeline.h"

#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/process.h"
#include "common/strings.h"
#include "pipeline/run_executor.h"
#include "pipeline/webhook.h"

namespace gravity::pipeline {

Pipeline::Pipeline(store::Db& db, config::StackSpec stack, PipelineOptions options)
    : db_(db),
      runs_(db),
      stack_(std::move(stack)),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : Clock::Real()) {
  if (options_.state_dir.empty()) options_.state_dir = stack_.state_dir;
}

Pipeline::~Pipeline() { Stop(); }

std::string Pipeline::ReleaseRoot(const std::string& app) const {
  return RunExecutor::ReleaseRoot(options_.state_dir, app);
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
    RETURN_IF_ERROR(runs_.FinishStage(run.id, stage, "interrupted", error, clock_.WallMs()));
    RETURN_IF_ERROR(runs_.FinishRun(run.id, "interrupted", stage, error, clock_.WallMs()));
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
    again.created_ms = clock_.WallMs();
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
  auto now = clock_.WallMs();
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
  run.created_ms = clock_.WallMs();
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
  RETURN_IF_ERROR(runs_.Pause(app_name, env, clock_.WallMs()));
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
  ASSIGN_OR_RETURN(auto run, runs_.TakeNext(app_name, clock_.WallMs()));
  if (!run) return false;
  spdlog::info("run {}: {} {} ({}) started", run->id, app_name, run->commit.substr(0, 12),
               run->branch.empty() ? run->ref : run->branch);
  Status st = Execute(app, *run);
  if (!st.ok()) {
    // Store trouble: make sure the run does not stay `running`.
    spdlog::error("run {}: {}", run->id, st.message());
    (void)runs_.FinishRun(run->id, "failed", run->stage, st.message(), clock_.WallMs());
  }
  if (Status pruned = runs_.PruneLogs(app_name, options_.keep_logs_of_runs); !pruned.ok()) {
    spdlog::warn("app {}: pruning old logs: {}", app_name, pruned.message());
  }
  return true;
}

Status Pipeline::Execute(AppState* app, const RunRecord& run) {
  RunExecutor executor(runs_, options_, clock_, stopping_);
  return executor.Execute({app->spec, app->index, *app->mirror, app->cancel}, run);
}

}  // namespace gravity::pipeline
