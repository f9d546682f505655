// The canary strategy of Deployer: gate -> observe (CheckCanary, every canary_poll_interval)
// -> promote, or drop. The rest of a deployment — starting instances, recording the switch,
// warm instances — is shared with red/black (deployment.cpp). Rules in docs/deploy.md,
// "Canary".
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"
#include "deploy/canary_judge.h"
#include "deploy/run.h"
#include "runtime/logs.h"

namespace gravity::deploy {

namespace {

using std::chrono::milliseconds;

// Counters that went down mean the proxy restarted: count from 0 again.
void ResetIfRestarted(const PoolRequests& now, PoolRequests& base) {
  if (now.total < base.total || now.errors_5xx < base.errors_5xx) base = {};
}

}  // namespace

void Deployer::SaveStep(Run& run, DeploymentStep step) {
  run.d.step = step;
  (void)records_.UpdateDeployment(run.d);
}

void Deployer::WaitDrained(const std::string& service, const std::vector<std::string>& targets,
                           milliseconds timeout) {
  // The proxy lists dropped targets as draining until every worker has left them and their
  // requests in flight have finished (or its drain timeout passed).
  const auto end = clock_.Now() + timeout + std::chrono::seconds(2);
  for (;;) {
    auto svc = proxy_.Service(service);
    if (!svc.ok() || !*svc) return;
    bool draining = false;
    for (const auto& t : targets) draining |= (*svc)->draining_in_flight.count(t) > 0;
    if (!draining || clock_.Now() >= end) return;
    Sleep(milliseconds(20));
  }
}

Result<ProxyDeployOutcome> Deployer::CanaryLocked(Run& run) {
  const config::CanarySpec& spec = run.env.canary;
  CanaryRecord& c = run.d.canary.emplace();
  c.weight = spec.weight;
  c.duration_ms = spec.duration.count();
  c.max_error_rate = spec.max_error_rate;
  c.min_requests = spec.min_requests;
  SaveStep(run, DeploymentStep::kCanaryGate);

  // 1. The health gate into the canary pool (main untouched whatever happens).
  ASSIGN_OR_RETURN(ProxyDeployOutcome gate, proxy_.DeployCanary(run.route, spec.weight));
  if (!gate.switched) {
    c.phase = CanaryPhase::kDropped;
    c.verdict = "did not become healthy";
    return gate;
  }

  // 2. Observe until the judge decides or something fails.
  ASSIGN_OR_RETURN(CanaryWatch watch, StartWatch(run));
  std::string failure;
  for (;;) {
    bool passed = false;
    ASSIGN_OR_RETURN(failure, CheckCanary(run, watch, &passed));
    if (!failure.empty() || passed) break;
    SaveStep(run, DeploymentStep::kCanary);
    auto left = std::chrono::duration_cast<milliseconds>(watch.deadline - clock_.Now());
    Sleep(std::min<milliseconds>(options_.canary_poll_interval,
                                 std::max<milliseconds>(milliseconds(1), left)));
  }
  if (!failure.empty()) return DropCanary(run, failure);

  // 3. Promote: the canary's targets become the main pool; the old main pool drains and
  // stays warm (recorded by the caller exactly as for red/black).
  c.phase = CanaryPhase::kPromoting;
  SaveStep(run, DeploymentStep::kPromoting);
  // An error: unknown whether it switched; Reconcile decides by what is served.
  RETURN_IF_ERROR(proxy_.PromoteCanary(run.route.service));
  c.phase = CanaryPhase::kPromoted;
  Progress(run.where + ": canary " + ShortCommit(run.d.commit) + " promoted: " + c.verdict,
           run.log);
  return gate;
}

Result<Deployer::CanaryWatch> Deployer::StartWatch(Run& run) {
  ASSIGN_OR_RETURN(auto first, proxy_.Service(run.route.service));
  if (!first || !first->has_canary) {
    return Status::Error("the proxy lost the canary pool of " + run.route.service +
                         " right after installing it");
  }
  const config::CanarySpec& spec = run.env.canary;
  CanaryWatch watch;
  watch.base_canary = first->canary_requests;
  watch.base_main = first->main_requests;
  watch.deadline = clock_.Now() + spec.duration;
  CanaryRecord& c = *run.d.canary;
  c.phase = CanaryPhase::kObserving;
  c.started_at_ms = NowMs();
  c.ends_at_ms = NowMs() + spec.duration.count();
  SaveStep(run, DeploymentStep::kCanary);
  Progress(run.where + ": canary " + ShortCommit(run.d.commit) + " gets " +
               std::to_string(spec.weight) + "% of clients for " + FormatDuration(spec.duration),
           run.log);
  return watch;
}

Result<std::string> Deployer::CheckCanary(Run& run, CanaryWatch& watch, bool* passed) {
  ASSIGN_OR_RETURN(auto svc, proxy_.Service(run.route.service));
  if (!svc || !svc->has_canary) {
    return std::string("the canary pool was removed from the proxy while it was observed");
  }
  ResetIfRestarted(svc->canary_requests, watch.base_canary);
  ResetIfRestarted(svc->main_requests, watch.base_main);
  CanaryCounts counts;
  counts.requests = svc->canary_requests.total - watch.base_canary.total;
  counts.errors_5xx = svc->canary_requests.errors_5xx - watch.base_canary.errors_5xx;
  counts.main_requests = svc->main_requests.total - watch.base_main.total;
  counts.main_errors_5xx = svc->main_requests.errors_5xx - watch.base_main.errors_5xx;
  CanaryRecord& c = *run.d.canary;
  c.requests = counts.requests;
  c.errors_5xx = counts.errors_5xx;
  c.error_rate = counts.requests ? static_cast<double>(counts.errors_5xx) /
                                       static_cast<double>(counts.requests)
                                 : 0.0;
  c.main_requests = counts.main_requests;
  c.main_errors_5xx = counts.main_errors_5xx;

  // An instance that crashed (or is being restarted) fails the canary at once.
  if (std::string crashed = CrashedCanary(run); !crashed.empty()) return crashed;
  // An unhealthy target fails it at the next check (by then the supervisor has usually
  // seen a crash behind it, which is the more precise reason).
  if (!watch.unhealthy.empty()) return watch.unhealthy;
  for (const auto& t : svc->canary) {
    if (t.state != "unhealthy") continue;
    watch.unhealthy = "canary target " + t.address + " became unhealthy: " +
                      (t.last_error.empty() ? "failed health checks" : t.last_error);
    break;
  }
  CanaryVerdict verdict = JudgeCanary(run.env.canary, counts, clock_.Now() >= watch.deadline);
  if (verdict.kind == CanaryVerdict::kFail) return verdict.reason;
  if (verdict.kind == CanaryVerdict::kPass && watch.unhealthy.empty()) {
    c.verdict = verdict.reason;
    *passed = true;
  }
  return std::string();
}

std::string Deployer::CrashedCanary(const Run& run) {
  supervisor_.Tick();  // notice exits now rather than on the supervisor's next tick
  for (const auto& i : run.started) {
    auto cur = supervisor_.Get(i.id);
    bool crashed = !cur || cur->state != runtime::InstanceState::kRunning ||
                   cur->restarts > i.restarts || cur->process.pid != i.process.pid;
    if (!crashed) continue;
    std::string failure = "canary instance " + i.address() + " (" + i.id + ") crashed";
    std::string exit = cur ? cur->last_exit : "";
    if (!exit.empty()) failure += ": process " + exit;
    auto lines = runtime::TailLines(i.log_path, static_cast<size_t>(options_.failure_log_lines));
    if (lines.ok() && !lines->empty()) {
      failure += "\n    last log lines:";
      for (const auto& l : *lines) failure += "\n      " + l;
    }
    return failure;
  }
  return "";
}

ProxyDeployOutcome Deployer::DropCanary(Run& run, const std::string& failure) {
  // The canary's targets drain out of traffic; the main pool never changed.
  run.d.canary->phase = CanaryPhase::kDropped;
  run.d.canary->verdict = failure;
  SaveStep(run, DeploymentStep::kCanary);
  Status dropped = proxy_.DropCanary(run.route.service);
  if (!dropped.ok()) {
    // The instances stop later; the proxy falls back to main for an unroutable canary,
    // and Reconcile (pending) removes the pool once the proxy answers.
    spdlog::error("{}: dropping the canary pool: {}", run.where, dropped.message());
    MarkReconcilePending();
  } else {
    WaitDrained(run.route.service, run.route.targets, run.env.drain_timeout);
  }
  Progress(run.where + ": canary " + ShortCommit(run.d.commit) +
               " dropped: " + failure.substr(0, failure.find('\n')),
           run.log);
  run.judged = failure;
  ProxyDeployOutcome out;
  out.error = failure;
  return out;
}

}  // namespace gravity::deploy
