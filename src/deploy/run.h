#pragma once

// Internal to the deployer: the state of one deployment in progress, handed from step to
// step (deployment.cpp, canary.cpp). Not thread-safe: one thread runs a deployment, holding
// its environment's lock.
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/commit.h"
#include "deploy/deployer.h"

namespace gravity::deploy {

struct Deployer::Run {
  Run(const config::StackApp& app, const config::EnvironmentSpec& env, const Release& release,
      DeploymentKind kind, const std::vector<std::string>& warm, const LogSink& log)
      : app(app),
        env(env),
        release(release),
        kind(kind),
        warm(warm),
        log(log),
        where(app.name + "/" + env.name) {}

  // "deploy of 3f2a9c1", as messages say it.
  std::string What() const { return std::string(Name(kind)) + " of " + ShortCommit(release.commit); }
  // The live release as messages name it.
  std::string LiveName() const {
    return rec.live_commit.empty() ? "(none)" : ShortCommit(rec.live_commit);
  }
  bool from_warm() const { return !warm.empty(); }

  const config::StackApp& app;
  const config::EnvironmentSpec& env;
  const Release& release;
  const DeploymentKind kind;
  const std::vector<std::string>& warm;  // non-empty: swap back to these running instances
  const LogSink& log;
  const VerifyHook* verify = nullptr;  // the verify step's runner, when the caller gave one
  const std::string where;  // "app/env"

  Clock::TimePoint t0, t_started;
  EnvironmentRecord rec;                      // the environment before this deployment
  DeploymentRecord d;                         // this deployment's record
  std::vector<runtime::InstanceInfo> started;  // the new (or warm) instances
  std::vector<runtime::InstanceInfo> baseline;  // canary.baseline: the live release's fresh ones
  ProxyRoute route;                           // what the proxy is asked to serve
  std::string judged;                         // why a canary was dropped after it got traffic
  // The verify step's weight-0 canary slot is in the proxy: a canary that never passes its
  // own gate must drop it.
  bool candidate_slot = false;
  // With a watch: the main pool's counters when the deployment began and just before the
  // switch (the previous release's window, which the new release is judged against).
  PoolRequests main_at_begin, main_before_switch;
};

struct Deployer::CanaryWatch {
  // The proxy's counters are cumulative per pool since it started: the canary is judged on
  // the deltas from these (reset to 0 when the proxy restarts).
  PoolRequests base_canary;
  PoolRequests base_main;
  PoolRequests base_baseline;
  PoolRequests step_canary;  // the readings at the start of the current step
  PoolRequests step_main;
  PoolRequests step_baseline;
  PoolRequests last_canary;  // the readings at the last check
  PoolRequests last_main;
  PoolRequests last_baseline;
  Clock::TimePoint deadline;  // the end of the current step's window
  std::string unhealthy;      // a canary target the proxy found unhealthy at the last check
  std::string legacy_verdict;  // the 5xx rule's reason when the step's window ended
};

}  // namespace gravity::deploy
