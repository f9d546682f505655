#pragma once

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
#include "config/spec.h"
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

struct DeployOutcome {
  std::int64_t deployment_id = 0;
  std::string commit;
  bool reused_warm = false;            // rollback to warm instances (no new process)
  std::int64_t duration_ms = 0;        // call to traffic switched
  std::int64_t switched_after_ms = 0;  // the proxy's hand-over-to-switch figure
  std::int64_t start_ms = 0;           // time spent starting instances
  std::vector<std::string> instances;
};

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
  // checked during the observation window, and how the deployer waits between checks
  // (empty: the real clock sleeps; tests advance a FakeClock instead).
  std::chrono::milliseconds canary_poll_interval{250};
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
  // progress lines too (e.g. the run's deploy-stage log).
  Result<DeployOutcome> Deploy(const std::string& env, const Release& release,
                               std::function<void(const std::string&)> log = {});
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

  // JSON for `gravity status --json` and `gravity releases APP --json`.
  nlohmann::json StatusJson();
  Result<nlohmann::json> ReleasesJson(const std::string& app);

  // Progress lines ("site/staging: 2 instances started"), e.g. for `gravity up`.
  void SetProgress(std::function<void(const std::string&)> progress);

  Records& records() { return records_; }
  static std::string ServiceName(const std::string& app, const std::string& env) {
    return app + "." + env;
  }

 private:
  std::mutex& EnvLock(const std::string& app, const std::string& env);
  Result<std::pair<config::StackApp, config::EnvironmentSpec>> FindEnv(const std::string& app,
                                                                       const std::string& env);
  // Polls until every instance accepts connections, one exits, or `limit` passes; returns
  // the time spent.
  std::chrono::milliseconds WaitListening(const std::vector<runtime::InstanceInfo>& instances,
                                          std::chrono::milliseconds limit);
  // The deployment itself; the caller holds the environment's lock. `warm` non-empty:
  // swap to those running instances instead of starting new ones.
  Result<DeployOutcome> RunLocked(const config::StackApp& app, const config::EnvironmentSpec& env,
                                  const Release& release, const std::string& kind,
                                  const std::vector<std::string>& warm);
  // The canary strategy's part of a deployment (docs/deploy.md "Canary"): health-gate the
  // new instances into the proxy's canary pool, observe them for canary.duration, then
  // promote them (switched) or drop them (not switched; `*judged` holds the reason). A
  // Result error means the proxy could not be asked: the record stays running for
  // Reconcile. The caller holds the environment's lock.
  Result<ProxyDeployOutcome> CanaryLocked(const std::string& where, const ProxyRoute& route,
                                          const config::EnvironmentSpec& env, DeploymentRecord& d,
                                          const std::vector<runtime::InstanceInfo>& started,
                                          std::string* judged);
  // The first of `started` that exited or was restarted since it started, described with
  // its exit and last log lines; "" when all still run. Ticks the supervisor first.
  std::string CrashedCanaryInstance(const std::vector<runtime::InstanceInfo>& started);
  void Sleep(std::chrono::milliseconds d);
  // Waits (bounded by `timeout` plus a little) until the proxy no longer lists `targets` of
  // `service` as draining, so their instances can stop without cutting requests off.
  void WaitDrained(const std::string& service, const std::vector<std::string>& targets,
                   std::chrono::milliseconds timeout);
  Status ReconcileLocked(const std::string& app_name, const std::string& env_name,
                         const std::set<std::string>& running_deployment_instances);
  Result<Release> ReleaseFromDisk(const std::string& app, const std::string& commit);
  Result<std::string> ResolveCommit(const std::string& app, const std::string& prefix);
  void ApplyRetention(const config::StackApp& app);
  std::vector<std::string> Addresses(const std::vector<std::string>& ids);
  std::string FailureDetail(const ProxyDeployOutcome& outcome,
                            const std::vector<runtime::InstanceInfo>& instances);
  void Progress(const std::string& line);
  std::int64_t NowMs() const;

  Records records_;
  runtime::Supervisor& supervisor_;
  ProxyControl& proxy_;
  Clock& clock_;
  const DeployerOptions options_;

  std::mutex stack_mutex_;
  config::StackSpec stack_;                           // guarded by stack_mutex_
  std::function<void(const std::string&)> progress_;  // set before use
  bool reconcile_pending_ = true;                     // guarded by stack_mutex_

  // Instances out of traffic that may still be draining in the proxy: stopped by Tick once
  // their drain deadline (wall ms) has passed.
  std::mutex pending_mutex_;
  std::vector<std::pair<std::int64_t, std::vector<std::string>>> pending_stops_;  // guarded

  std::mutex locks_mutex_;
  std::map<std::string, std::unique_ptr<std::mutex>> env_locks_;  // guarded by locks_mutex_
};

}  // namespace gravity::deploy
