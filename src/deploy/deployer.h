#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "config/spec.h"
#include "deploy/canary_analysis.h"
#include "deploy/proxy_control.h"
#include "deploy/records.h"
#include "runtime/supervisor.h"

namespace gravity::deploy {

// A sealed release handed over by the pipeline (or found on disk for rollback/promotion).
struct Release {
  std::string app;
  std::string commit;
  std::string release_dir;
  config::AppSpec spec;  // its gravity.yml
};

// Runs a release's verify command with the candidate's variables added to its environment
// ($GRAVITY_CANDIDATE_URL, _HOST, _HEADER); Ok when it passed, else why (its output's tail).
using VerifyHook = std::function<Status(const std::map<std::string, std::string>& candidate_env)>;

struct DeployOutcome {
  std::int64_t deployment_id = 0;
  std::string commit;
  bool reused_warm = false;            // rollback to warm instances (no new process)
  std::int64_t duration_ms = 0;        // call to traffic switched
  std::int64_t switched_after_ms = 0;  // the proxy's hand-over-to-switch figure
  std::int64_t start_ms = 0;           // time spent starting instances
  std::vector<std::string> instances;
};

// Where a deployment's progress lines go besides the log and the progress callback (e.g.
// the run's deploy-stage log). May be empty.
using LogSink = std::function<void(const std::string&)>;

struct DeployerOptions {
  // Health interval used when swapping back to warm instances (healthy_threshold 1).
  std::chrono::milliseconds warm_health_interval{200};
  // Before handing new instances to the proxy, wait (at most half the deploy timeout) until
  // each accepts connections, polling this often, so that the proxy's first health check
  // finds them listening instead of costing a whole interval. 0: hand them over at once.
  std::chrono::milliseconds listen_poll{5};
  // How many log lines of each failing instance an error message carries.
  int failure_log_lines = 8;
  // Canary deploys: how often the proxy's per-pool counters and the canary's instances are
  // checked during the observation window.
  std::chrono::milliseconds canary_poll_interval{250};
  // How the deployer waits between polls (listen wait, canary checks, drain wait). Empty:
  // the injected Clock's SleepFor (a FakeClock moves on at once).
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Red/black and canary deploys, rollback and promotion per environment, driving the proxy.
//
// One deployment at a time per environment (a per-environment mutex; a second caller
// waits). Each deployment is recorded in SQLite with the step it reached (starting,
// health_wait, switched, done), so that Reconcile() after a crash settles it: whatever the
// proxy serves is the truth; exactly one release stays live per environment; instances that
// are neither live nor warm are stopped; the record says what happened.
//
// Where the parts live: deployer.cpp (entry points, environment lookup, progress),
// deployment.cpp (one deployment, step by step), canary.cpp (the canary strategy),
// release_choice.cpp (rollback and promotion: which release), reconcile.cpp (settling after a
// crash, restoring what was live), retention.cpp (Tick: warm expiry, deferred stops, releases
// on disk), views.cpp (status and releases as JSON).
//
// Thread-safe: the stack is guarded by stack_mutex_; each environment's work by its own
// mutex in env_locks_ (guarded by locks_mutex_); the store, supervisor and proxy control
// are thread-safe themselves.
class Deployer {
 public:
  Deployer(store::Db& db, runtime::Supervisor& supervisor, ProxyControl& proxy, Clock& clock,
           DeployerOptions options = {});

  // Migrations. Call once before anything else.
  Status Init();
  // The apps and environments deployments are for; called at start and on stack changes.
  void SetStack(const config::StackSpec& stack);

  // Settles deployments a previous daemon left running (see class comment) and stops
  // instances no environment owns. Returns an error when the proxy cannot be asked; call
  // again later (Tick does) — nothing is stopped until the proxy has been asked.
  Status Reconcile();
  // For every environment whose live release has no running instances (e.g. after
  // `gravity down`), starts it again from its release directory (no rebuild); where the
  // stack now asks for another instance count, deploys the live release again with it.
  Status RestoreLive();

  // Red/black deploy of `release` onto app/env. `log` (optional) receives this deploy's
  // progress lines too (e.g. the run's deploy-stage log). Unknown app or environment:
  // NotFound; a deploy that did not go live: FailedPrecondition; the proxy could not be
  // asked: Unavailable or Interrupted.
  // `verify`: runs the release's verify command against the new instances (see
  // config::VerifySpec) once they are healthy and before they get traffic; without one,
  // or when the release has no verify:, there is no verify step.
  Result<DeployOutcome> Deploy(const std::string& env, const Release& release,
                               const LogSink& log = {}, const VerifyHook& verify = {});
  // True when `commit` is app/env's live release and all its live instances run: a run
  // resumed after a daemon restart then has nothing left to deploy.
  bool ServesLive(const std::string& app, const std::string& env, const std::string& commit);
  // Back to the warm previous instances, or to `to_commit` (a prefix is enough), relaunched
  // from disk when it is not warm. Empty env: the app's only environment, or an error.
  Result<DeployOutcome> Rollback(const std::string& app, const std::string& env,
                                 const std::string& to_commit);
  // Deploys the release live on `to_env`'s promote_from environment onto `to_env`.
  Result<DeployOutcome> Promote(const std::string& app, const std::string& to_env);
  // Stops every instance of app/env, removes its proxy service and forgets its records.
  Status RemoveEnvironment(const std::string& app, const std::string& env);

  // Periodic work: warm instances past keep_previous are stopped; a Reconcile that could
  // not reach the proxy is retried.
  void Tick();

  // The proxy routes http(s)://`host`/hooks/ to `address` (the daemon's webhook listener,
  // stack.yml `webhooks:`), as the service kWebhookService. Sent by Tick until the proxy
  // has taken it (the proxy may start after the daemon), and again whenever the proxy no
  // longer has it (e.g. lost its state).
  void RouteWebhooks(const std::string& host, const std::string& address);
  static constexpr const char* kWebhookService = "gravity-webhooks";  // no '.': no app's

  // JSON for `gravity status --json` and `gravity releases APP --json`.
  nlohmann::json StatusJson();
  Result<nlohmann::json> ReleasesJson(const std::string& app);
  // A watch holds its environment's lock: Rollback, Promote and RemoveEnvironment call this
  // first, so that a watch running on app/env ends at its next poll instead of making them
  // wait for it. Nothing when no watch runs there.
  void InterruptWatch(const std::string& app, const std::string& env) EXCLUDES(watch_mutex_);
  // The daemon is stopping: a canary step ends at its next poll and its deployment is left
  // running, settled by Reconcile when the daemon starts again (as after a kill); a watch
  // ends at its next poll with the new release live. Irreversible.
  void RequestStop() { stopping_.store(true); }
  // One deployment as the API shows it (its canary steps and watch included); nullopt when
  // there is no such deployment.
  Result<std::optional<nlohmann::json>> DeploymentView(std::int64_t id);

  // Progress lines ("site/staging: 2 instances started"), e.g. for `gravity up`.
  void SetProgress(std::function<void(const std::string&)> progress);

  Records& records() { return records_; }
  static std::string ServiceName(const std::string& app, const std::string& env) {
    return app + "." + env;
  }

 private:
  struct Run;          // one deployment in progress (deploy/run.h)
  struct CanaryWatch;  // a canary's observation window (deploy/run.h)

  // deployer.cpp
  std::mutex& EnvLock(const std::string& app, const std::string& env) EXCLUDES(locks_mutex_);
  Result<std::pair<config::StackApp, config::EnvironmentSpec>> FindEnv(const std::string& app,
                                                                       const std::string& env)
      EXCLUDES(stack_mutex_);
  config::StackSpec StackCopy() EXCLUDES(stack_mutex_);
  void MarkReconcilePending() EXCLUDES(stack_mutex_);
  std::vector<std::string> Addresses(const std::vector<std::string>& ids);
  void Progress(const std::string& line, const LogSink& log = {});
  void Sleep(std::chrono::milliseconds d);
  std::int64_t NowMs() const;

  // deployment.cpp: the deployment itself; the caller holds the environment's lock.
  // `warm` non-empty: swap to those running instances instead of starting new ones.
  Result<DeployOutcome> RunLocked(const config::StackApp& app, const config::EnvironmentSpec& env,
                                  const Release& release, DeploymentKind kind,
                                  const std::vector<std::string>& warm, const LogSink& log = {},
                                  const VerifyHook& verify = {});
  Status Begin(Run& run);
  Status Fail(Run& run, const std::string& error, bool stop_new);
  Status StartInstances(Run& run);
  void PrepareRoute(Run& run);
  Result<ProxyDeployOutcome> HandOver(Run& run);
  // The verify step (release spec.verify, with a runner): the new instances health-gated
  // into the canary slot with no share of clients, reachable with a one-off header; then
  // the command. switched: it passed (the instances are still in the canary slot).
  Result<ProxyDeployOutcome> Verify(Run& run);
  // Drops the verify step's slot from the proxy if it is still there (Run::candidate_slot).
  void DropCandidateSlot(Run& run);
  Status CheckStayedUp(Run& run);
  void RecordSwitch(Run& run, const ProxyDeployOutcome& outcome);
  // Polls until every instance accepts connections, one exits, or `limit` passes; returns
  // the time spent.
  std::chrono::milliseconds WaitListening(const std::vector<runtime::InstanceInfo>& instances,
                                          std::chrono::milliseconds limit);
  std::string FailureDetail(const ProxyDeployOutcome& outcome,
                            const std::vector<runtime::InstanceInfo>& instances);

  // canary.cpp: the canary strategy's part of a deployment (docs/deploy.md "Canary"):
  // health-gate the new instances into the proxy's canary pool, observe them for
  // canary.duration, then promote them (switched) or drop them (not switched; run.judged
  // holds the reason). A Result error means the proxy could not be asked: the record stays
  // running for Reconcile. The caller holds the environment's lock.
  Result<ProxyDeployOutcome> CanaryLocked(Run& run);
  Result<ProxyDeployOutcome> CanaryStepsLocked(Run& run);
  // canary.baseline: starts as many fresh instances of the live release as the canary has
  // (run.baseline, run.route.baseline_targets); "" or why they could not start. Then, once
  // the canary is promoted or dropped, RetireBaseline stops them after their drain.
  std::string StartBaseline(Run& run);
  // Starts n instances of spec side by side into *started; "" or the first error.
  std::string StartMany(const runtime::InstanceSpec& spec, int n,
                        std::vector<runtime::InstanceInfo>* started);
  void RetireBaseline(Run& run, bool drained);
  // One step (index i of steps): observed until its window ends, then judged by the
  // analysis; "" when it passed, or why the canary fails.
  Result<std::string> RunCanaryStep(Run& run, CanaryWatch& watch, std::size_t i,
                                    const std::vector<config::CanaryStep>& steps);
  // The step's window so far (`window` long) judged: the canary against the baseline or
  // the main pool, with the metric checks; recorded in the step's record.
  StepAnalysis JudgeWindow(Run& run, const CanaryWatch& watch, std::chrono::milliseconds window,
                           CanaryStepRecord& rec);
  // One check of the step's window: "" to go on, or why the canary fails (crash,
  // unhealthy, the 5xx limit). Updates the counts in run's canary record; *window_over when
  // the window ended without such a failure.
  Result<std::string> CheckCanary(Run& run, CanaryWatch& watch, bool* window_over);
  Result<CanaryWatch> StartWatch(Run& run);
  std::string CrashedCanary(const Run& run);
  std::string CrashedIn(const std::vector<runtime::InstanceInfo>& instances, const char* what);
  ProxyDeployOutcome DropCanary(Run& run, const std::string& failure);
  void SaveStep(Run& run, DeploymentStep step);
  // Waits (bounded by `timeout` plus a little) until the proxy no longer lists `targets` of
  // `service` as draining, so their instances can stop without cutting requests off.
  void WaitDrained(const std::string& service, const std::vector<std::string>& targets,
                   std::chrono::milliseconds timeout);

  // watch.cpp: the watch after going live (environment `watch:`). An error when it rolled
  // back (or found a regression it could not roll back): the message says why.
  bool Watches(const Run& run) const;
  Status WatchLocked(Run& run);
  Status WatchWindows(Run& run);
  Status AutoRollback(Run& run, const std::string& regression, Clock::Duration after);
  bool WatchInterrupted(const std::string& key) EXCLUDES(watch_mutex_);
  void SetWatching(const std::string& key, bool on) EXCLUDES(watch_mutex_);
  // The main pool's counters of `service` now; nullopt when the proxy has no such service.
  Result<std::optional<PoolRequests>> MainReading(const std::string& service);

  // release_choice.cpp
  // What is known of a release: its directory and its gravity.yml; *problem says why it
  // cannot be relaunched from disk (removed by retention, spec unreadable).
  Release KnownRelease(const std::string& app, const std::string& commit, Status* problem);
  Result<Release> ReleaseFromDisk(const std::string& app, const std::string& commit);
  // The release of warm instances: its directory and spec as far as they are still known
  // (the instances run already, so neither is needed to swap back to them).
  Release WarmRelease(const std::string& app, const std::string& commit);
  Result<std::string> ResolveCommit(const std::string& app, const std::string& prefix);
  Result<std::string> RollbackTarget(const std::string& app, const std::string& env,
                                     const EnvironmentRecord& rec, const std::string& to_commit);

  // reconcile.cpp
  Status ReconcileLocked(const std::string& app, const std::string& env);
  // Before a new deployment (the caller holds the environment's lock, so none of this
  // process runs there): one left running (by a previous daemon, or by a lost proxy
  // answer) is settled first, waiting up to `limit` while the proxy still decides it.
  Status SettleLeftBehind(const std::string& app, const std::string& env,
                          std::chrono::milliseconds limit);
  // Settles one deployment a previous daemon left running; true when `rec` changed.
  Result<bool> SettleInterrupted(DeploymentRecord& d, EnvironmentRecord& rec,
                                 const std::vector<std::string>& serving);
  Status ReassertLive(const std::string& app, const std::string& env,
                      const EnvironmentRecord& rec, const std::vector<std::string>& serving);
  void StopOrphans(const std::string& app, const std::string& env, const EnvironmentRecord& rec);

  // retention.cpp
  void StopDueInstances(std::int64_t now);
  void SendWebhookRoute();
  void StopExpiredWarm(std::int64_t now);
  void ApplyRetention(const config::StackApp& app);

  Records records_;
  runtime::Supervisor& supervisor_;
  ProxyControl& proxy_;
  Clock& clock_;
  const DeployerOptions options_;

  std::function<void(const std::string&)> progress_;  // set before use

  Mutex stack_mutex_;
  config::StackSpec stack_ GUARDED_BY(stack_mutex_);
  bool reconcile_pending_ GUARDED_BY(stack_mutex_) = true;
  std::optional<ProxyRoute> webhook_route_ GUARDED_BY(stack_mutex_);
  bool webhook_routed_ GUARDED_BY(stack_mutex_) = false;  // the proxy had it at the last look
  std::int64_t webhook_checked_ms_ GUARDED_BY(stack_mutex_) = 0;
  std::string webhook_error_ GUARDED_BY(stack_mutex_);  // the last refusal, logged once

  // Instances out of traffic that may still be draining in the proxy: stopped by Tick once
  // their drain deadline (wall ms) has passed.
  Mutex pending_mutex_;
  std::vector<std::pair<std::int64_t, std::vector<std::string>>> pending_stops_
      GUARDED_BY(pending_mutex_);

  // One mutex per environment, held for the whole of a deployment, reconcile or expiry
  // of that environment (std::mutex: taken with try_lock / lock_guard where it is needed;
  // the analysis does not follow these per-key locks).
  Mutex locks_mutex_;
  std::map<std::string, std::unique_ptr<std::mutex>> env_locks_ GUARDED_BY(locks_mutex_);

  // Environments ("app/env") with a watch running, and those whose watch was asked to end.
  Mutex watch_mutex_;
  std::set<std::string> watching_ GUARDED_BY(watch_mutex_);
  std::set<std::string> watch_interrupts_ GUARDED_BY(watch_mutex_);
  std::atomic<bool> stopping_{false};  // RequestStop
};

}  // namespace gravity::deploy
