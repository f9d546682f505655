// Settling what a previous daemon left (Reconcile: the proxy is the truth) and bringing
// live releases back after `gravity down` or a changed instance count (RestoreLive).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/commit.h"
#include "deploy/deployer.h"

namespace gravity::deploy {

namespace {

bool SameSet(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return !a.empty() && a == b;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool IsCanaryStep(DeploymentStep step) {
  return step == DeploymentStep::kVerify || step == DeploymentStep::kCanaryGate ||
         step == DeploymentStep::kCanary || step == DeploymentStep::kPromoting;
}

}  // namespace

Status Deployer::Reconcile() {
  ASSIGN_OR_RETURN(auto running, records_.RunningDeployments());
  ASSIGN_OR_RETURN(auto envs, records_.Environments());
  std::set<std::pair<std::string, std::string>> keys;
  for (const auto& d : running) keys.insert({d.app, d.environment});
  for (const auto& e : envs) keys.insert({e.app, e.environment});
  for (const auto& i : supervisor_.List()) keys.insert({i.spec.app, i.spec.environment});
  Status result;
  for (const auto& [app, env] : keys) {
    // A deployment running in this process (e.g. a canary being observed) owns its
    // environment: settle it later rather than wait for it.
    std::unique_lock lock(EnvLock(app, env), std::try_to_lock);
    if (!lock.owns_lock()) {
      if (result.ok()) result = Status::Conflict(app + "/" + env + ": a deployment is running");
      continue;
    }
    Status st = ReconcileLocked(app, env);
    if (!st.ok() && result.ok()) result = st;
  }
  MutexLock lock(stack_mutex_);
  reconcile_pending_ = !result.ok();
  return result;
}

Status Deployer::ReconcileLocked(const std::string& app, const std::string& env) {
  const std::string where = app + "/" + env;
  ASSIGN_OR_RETURN(auto all_running, records_.RunningDeployments());
  std::vector<DeploymentRecord> running;
  for (auto& d : all_running) {
    if (d.app == app && d.environment == env) running.push_back(std::move(d));
  }
  if (!running.empty()) {
    // A deploy the previous daemon handed the proxy may still be in its health gate: what
    // the proxy serves is not decided yet, and stopping its instances now would leave the
    // proxy switching to dead targets. Asked before what it serves, so that the answer
    // below is final.
    auto deciding = proxy_.DeployInProgress(ServiceName(app, env));
    if (!deciding.ok()) {
      return deciding.status().Prefixed(where + ": cannot ask the proxy what it serves");
    }
    if (*deciding) {
      return Status::Conflict(where +
                              ": the proxy is still health-checking the deploy a previous "
                              "daemon handed it; settled once it decides");
    }
  }
  auto served = proxy_.Targets(ServiceName(app, env));
  if (!served.ok()) {
    return served.status().Prefixed(where + ": cannot ask the proxy what it serves");
  }
  std::vector<std::string> serving;
  if (*served) {
    for (const auto& t : **served) serving.push_back(t.address);
  }
  ASSIGN_OR_RETURN(EnvironmentRecord rec, records_.Environment(app, env));
  bool changed = false;
  for (auto d : running) {
    ASSIGN_OR_RETURN(bool settled_changed, SettleInterrupted(d, rec, serving));
    changed |= settled_changed;
    d.finished_at_ms = NowMs();
    (void)records_.UpdateDeployment(d);
    spdlog::info("{}: deployment {} of {}: {}", where, d.id, ShortCommit(d.commit), d.error);
  }
  // The proxy is the truth: if it serves the warm set, that is what is live.
  if (!SameSet(Addresses(rec.live_instances), serving) &&
      SameSet(Addresses(rec.warm_instances), serving)) {
    std::swap(rec.live_commit, rec.warm_commit);
    std::swap(rec.live_instances, rec.warm_instances);
    rec.warm_until_ms = NowMs();
    changed = true;
  }
  if (changed) RETURN_IF_ERROR(records_.SaveEnvironment(rec));
  // No deployment of this environment runs (the caller holds its lock): a watch its live
  // deployment recorded as running was cut short by a restart.
  if (rec.live_deployment > 0) {
    auto live = records_.Deployment(rec.live_deployment);
    if (live.ok() && *live && (*live)->watch && (*live)->watch->phase == "watching") {
      DeploymentRecord d = **live;
      d.watch->phase = "ended";
      d.watch->verdict = "the daemon restarted during the watch; not resumed, the release stays live";
      (void)records_.UpdateDeployment(d);
    }
  }
  // No deployment of this environment runs (the caller holds its lock): a canary pool the
  // proxy still has belongs to none (e.g. its gate finished after a restart) and goes.
  if (auto svc = proxy_.Service(ServiceName(app, env)); svc.ok() && *svc && (*svc)->has_canary) {
    spdlog::info("{}: dropping a canary pool no deployment owns", where);
    RETURN_IF_ERROR(proxy_.DropCanary(ServiceName(app, env)));
  }
  StopOrphans(app, env, rec);
  return Status::Ok();
}

Status Deployer::SettleLeftBehind(const std::string& app, const std::string& env,
                                  std::chrono::milliseconds limit) {
  const auto deadline = clock_.Now() + limit;
  for (;;) {
    ASSIGN_OR_RETURN(auto running, records_.RunningDeployments());
    if (std::none_of(running.begin(), running.end(), [&](const DeploymentRecord& d) {
          return d.app == app && d.environment == env;
        })) {
      return Status::Ok();
    }
    Status st = ReconcileLocked(app, env);
    if (st.ok()) return Status::Ok();
    if (!st.IsConflict() || clock_.Now() >= deadline) {  // only a deciding proxy is waited for
      return Status::FailedPrecondition(app + "/" + env +
                                        ": an earlier deployment is not settled yet: " +
                                        st.message());
    }
    Sleep(std::chrono::milliseconds(200));
  }
}

Result<bool> Deployer::SettleInterrupted(DeploymentRecord& d, EnvironmentRecord& rec,
                                         const std::vector<std::string>& serving) {
  const std::string where = d.app + "/" + d.environment;
  const std::string service = ServiceName(d.app, d.environment);
  std::vector<std::string> new_addrs = Addresses(d.instances);
  if (new_addrs.size() == d.instances.size() && SameSet(new_addrs, serving)) {
    // The proxy switched before the daemon could record it: complete the record.
    std::vector<std::string> retire = rec.warm_instances;
    bool from_warm = SameSet(d.instances, rec.warm_instances);
    rec.warm_commit = rec.live_commit;
    rec.warm_instances = rec.live_instances;
    rec.warm_until_ms = NowMs();  // warm ones of an interrupted deploy are not kept
    rec.live_commit = d.commit;
    rec.live_instances = d.instances;
    rec.live_deployment = d.id;
    if (!from_warm) {
      std::vector<std::string> stop;
      for (const auto& id : retire) {
        if (!Contains(rec.live_instances, id)) stop.push_back(id);
      }
      supervisor_.Stop(stop);
    }
    d.status = DeploymentStatus::kSucceeded;
    d.step = DeploymentStep::kDone;
    d.error = "completed after a daemon restart: the proxy had switched traffic to it";
    // A promoted canary's baseline drains in the proxy: its instances (stopped next as
    // owned by no deployment) must not be cut off before.
    if (d.canary && !d.canary->baseline_instances.empty()) {
      auto spec = FindEnv(d.app, d.environment);
      WaitDrained(service, Addresses(d.canary->baseline_instances),
                  spec.ok() ? spec->second.drain_timeout : std::chrono::seconds(30));
    }
    return true;
  }
  if (IsCanaryStep(d.step)) {
    // A canary never promoted: drop its pool; the main pool is the live release.
    Status dropped = proxy_.DropCanary(service);
    if (!dropped.ok()) return dropped.Prefixed(where + ": dropping an interrupted canary");
    auto spec = FindEnv(d.app, d.environment);
    std::vector<std::string> leaving = Addresses(d.instances);
    if (d.canary) {
      // Its baseline drains with it; its instances are stopped next, as owned by none.
      for (auto& a : Addresses(d.canary->baseline_instances)) leaving.push_back(std::move(a));
    }
    WaitDrained(service, leaving,
                spec.ok() ? spec->second.drain_timeout : std::chrono::seconds(30));
    if (d.step != DeploymentStep::kVerify) {
      if (!d.canary) d.canary.emplace();  // a record from before the gate saved one
      d.canary->phase = CanaryPhase::kDropped;
      d.canary->verdict = "interrupted by a daemon restart";
    }
  }
  if (d.step == DeploymentStep::kHealthWait && !rec.live_instances.empty()) {
    RETURN_IF_ERROR(ReassertLive(d.app, d.environment, rec, serving));
  }
  std::vector<std::string> stop;
  for (const auto& id : d.instances) {
    if (!Contains(rec.live_instances, id) && !Contains(rec.warm_instances, id)) {
      stop.push_back(id);
    }
  }
  supervisor_.Stop(stop);
  d.status = d.error.empty() ? DeploymentStatus::kInterrupted : DeploymentStatus::kFailed;
  if (d.error.empty()) {
    d.error = "interrupted at step '" + std::string(Name(d.step)) +
              "' (daemon restarted); live release " +
              (rec.live_commit.empty() ? "(none)" : ShortCommit(rec.live_commit)) + " kept";
  }
  d.step = DeploymentStep::kDone;
  return false;
}

Status Deployer::ReassertLive(const std::string& app, const std::string& env,
                              const EnvironmentRecord& rec,
                              const std::vector<std::string>& serving) {
  // The proxy may still be running this deploy's health gate: hand it the live targets
  // again so that whatever it decides, it ends up serving the live release.
  std::vector<std::string> live_addrs = Addresses(rec.live_instances);
  if (!SameSet(live_addrs, serving)) return Status::Ok();
  ProxyRoute route;
  route.service = ServiceName(app, env);
  route.targets = live_addrs;
  if (auto a = FindEnv(app, env); a.ok()) {
    route.hosts = {a->second.host};
    route.drain_timeout = a->second.drain_timeout;
    route.hsts = a->second.hsts;
  }
  if (auto rel = ReleaseFromDisk(app, rec.live_commit); rel.ok()) route.health = rel->spec.health;
  route.health.healthy_threshold = 1;
  route.health.interval = std::min(route.health.interval, options_.warm_health_interval);
  const std::string where = app + "/" + env;
  auto again = proxy_.Deploy(route);
  if (!again.ok()) return again.status().Prefixed(where + ": re-asserting the live targets");
  if (!again->switched) {
    // Busy: the interrupted deploy's request reached the proxy only now. Nothing is
    // stopped; settled again once the proxy has decided.
    auto deciding = proxy_.DeployInProgress(route.service);
    if (!deciding.ok() || *deciding) {
      return Status::Conflict(where + ": re-asserting the live targets: " + again->error);
    }
    // Refused for their health: the proxy keeps serving them as it did.
    spdlog::warn("{}: the live targets did not pass a new health gate ({}); the proxy keeps "
                 "serving them",
                 where, again->error);
  }
  return Status::Ok();
}

void Deployer::StopOrphans(const std::string& app, const std::string& env,
                           const EnvironmentRecord& rec) {
  // Instances of this environment that are neither live nor warm are orphans (those
  // waiting for their drain deadline in pending_stops_ excepted).
  std::set<std::string> draining;
  {
    MutexLock lock(pending_mutex_);
    for (const auto& [when, ids] : pending_stops_) draining.insert(ids.begin(), ids.end());
  }
  std::vector<std::string> orphans;
  for (const auto& i : supervisor_.List()) {
    if (i.spec.app != app || i.spec.environment != env || draining.count(i.id)) continue;
    if (!Contains(rec.live_instances, i.id) && !Contains(rec.warm_instances, i.id)) {
      orphans.push_back(i.id);
    }
  }
  if (!orphans.empty()) {
    spdlog::info("{}: stopping {} instance(s) no deployment owns", app + "/" + env,
                 orphans.size());
    supervisor_.Stop(orphans);
  }
}

Status Deployer::RestoreLive() {
  ASSIGN_OR_RETURN(auto envs, records_.Environments());
  Status result;
  for (const auto& e : envs) {
    if (e.live_commit.empty()) continue;
    bool missing = e.live_instances.empty();
    for (const auto& id : e.live_instances) {
      auto i = supervisor_.Get(id);
      missing |= !i || i->state == runtime::InstanceState::kFailed;
    }
    auto found = FindEnv(e.app, e.environment);
    if (!found.ok()) continue;  // no longer in the stack
    // A changed instance count (gravity up with an edited stack restarts the daemon) is
    // applied as a red/black deploy of the same release: no rebuild, no gap in traffic.
    bool rescale = !missing && static_cast<int>(e.live_instances.size()) != found->second.instances;
    if (!missing && !rescale) continue;
    auto release = ReleaseFromDisk(e.app, e.live_commit);
    if (!release.ok()) {
      if (result.ok()) result = release.status();
      continue;
    }
    std::lock_guard lock(EnvLock(e.app, e.environment));
    const std::string where = e.app + "/" + e.environment;
    if (rescale) {
      Progress(where + ": scaling live release " + ShortCommit(e.live_commit) + " from " +
               std::to_string(e.live_instances.size()) + " to " +
               std::to_string(found->second.instances) + " instances");
    } else {
      Progress(where + ": starting live release " + ShortCommit(e.live_commit) + " again");
    }
    auto out = RunLocked(found->first, found->second, *release,
                         rescale ? DeploymentKind::kScale : DeploymentKind::kRestore, {});
    if (!out.ok() && result.ok()) result = out.status();
  }
  return result;
}

}  // namespace gravity::deploy
