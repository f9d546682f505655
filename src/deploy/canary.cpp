// The canary strategy of Deployer: gate -> observe (CheckCanary, every canary_poll_interval)
// -> promote, or drop. The rest of a deployment — starting instances, recording the switch,
// warm instances — is shared with red/black (deployment.cpp). Rules in docs/deploy.md,
// "Canary".
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"
#include "deploy/canary_analysis.h"
#include "deploy/canary_judge.h"
#include "deploy/metric_checks.h"
#include "deploy/run.h"
#include "runtime/logs.h"

namespace gravity::deploy {

namespace {

using std::chrono::milliseconds;

// Counters that went down mean the proxy restarted: count from 0 again.
void ResetIfRestarted(const PoolRequests& now, PoolRequests& base) {
  if (now.total < base.total || now.errors_5xx < base.errors_5xx) base = {};
}

// After a failing 5xx verdict: how long the supervisor is given to see a canary instance's
// exit behind those errors (kCrashGracePolls x kCrashGracePoll).
constexpr int kCrashGracePolls = 10;
constexpr milliseconds kCrashGracePoll{50};

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
  Result<ProxyDeployOutcome> out = CanaryStepsLocked(run);
  // With the proxy unreachable it is unknown what it serves: Reconcile drops the pools,
  // waits for their drain and then stops the baseline (owned by no deployment).
  if (out.ok()) RetireBaseline(run, !out->switched);
  return out;
}

std::string Deployer::StartBaseline(Run& run) {
  std::optional<runtime::InstanceInfo> live;
  for (const auto& id : run.rec.live_instances) {
    if ((live = supervisor_.Get(id))) break;
  }
  if (!live) return "no live instance of " + run.LiveName() + " to start a baseline from";
  CanaryRecord& c = *run.d.canary;
  c.baseline_commit = live->spec.release;
  std::string error =
      StartMany(live->spec, static_cast<int>(run.started.size()), &run.baseline);
  for (const auto& i : run.baseline) c.baseline_instances.push_back(i.id);
  SaveStep(run, DeploymentStep::kCanaryGate);  // recorded before the proxy is asked
  if (!error.empty()) {
    return "the baseline (" + ShortCommit(c.baseline_commit) + ") did not start: " + error;
  }
  if (options_.listen_poll.count() > 0) {
    WaitListening(run.baseline, run.route.health.deploy_timeout / 2);
  }
  for (const auto& i : run.baseline) run.route.baseline_targets.push_back(i.address());
  Progress(run.where + ": baseline: " + std::to_string(run.baseline.size()) +
               " fresh instance(s) of " + ShortCommit(c.baseline_commit) +
               " started beside the canary",
           run.log);
  return "";
}

void Deployer::RetireBaseline(Run& run, bool drained) {
  if (run.baseline.empty()) return;
  std::vector<std::string> ids;
  for (const auto& i : run.baseline) ids.push_back(i.id);
  // A dropped canary waited for its pools to drain; after a promotion (or with the proxy
  // unreachable) the baseline drains now, so it stops once its drain timeout passed.
  std::int64_t at = NowMs() + (drained ? 0 : run.env.drain_timeout.count());
  MutexLock lock(pending_mutex_);
  pending_stops_.emplace_back(at, std::move(ids));
}

Result<ProxyDeployOutcome> Deployer::CanaryStepsLocked(Run& run) {
  const config::CanarySpec& spec = run.env.canary;
  const std::vector<config::CanaryStep> steps = spec.Steps();
  CanaryRecord& c = run.d.canary.emplace();
  c.weight = steps[0].weight;
  for (const auto& st : steps) c.duration_ms += st.duration.count();
  c.max_error_rate = spec.max_error_rate;
  c.min_requests = spec.min_requests;
  SaveStep(run, DeploymentStep::kCanaryGate);
  if (spec.baseline) {
    if (std::string why = StartBaseline(run); !why.empty()) {
      c.phase = CanaryPhase::kDropped;
      c.verdict = why;
      ProxyDeployOutcome out;
      out.error = why;
      return out;
    }
  }

  // 1. The health gate into the canary pool at the first step's share (main untouched
  // whatever happens).
  ASSIGN_OR_RETURN(ProxyDeployOutcome gate, proxy_.DeployCanary(run.route, steps[0].weight));
  if (gate.switched) run.candidate_slot = false;  // replaced by the canary's pools
  if (!gate.switched) {
    c.phase = CanaryPhase::kDropped;
    c.verdict = "did not become healthy";
    return gate;
  }

  // 2. Each step: its share, observed for its window (failing early on crashes, unhealthy
  // targets or the 5xx limit), then judged against the main pool.
  ASSIGN_OR_RETURN(CanaryWatch watch, StartWatch(run));
  std::string failure;
  for (std::size_t i = 0; i < steps.size() && failure.empty(); ++i) {
    if (i > 0) {
      Status st = proxy_.SetCanaryWeight(run.route.service, steps[i].weight);
      if (!st.ok()) {
        failure = "the proxy refused the canary's share of step " + std::to_string(i + 1) +
                  " (" + std::to_string(steps[i].weight) + "%): " + st.message();
        break;
      }
      c.weight = steps[i].weight;
    }
    ASSIGN_OR_RETURN(failure, RunCanaryStep(run, watch, i, steps));
  }
  if (!failure.empty()) return DropCanary(run, failure);

  // 3. Promote: the canary's targets become the main pool; the old main pool drains and
  // stays warm (recorded by the caller exactly as for red/black).
  c.phase = CanaryPhase::kPromoting;
  run.main_before_switch = watch.last_main;  // the previous release's window ends here
  SaveStep(run, DeploymentStep::kPromoting);
  // An error: unknown whether it switched; Reconcile decides by what is served.
  RETURN_IF_ERROR(proxy_.PromoteCanary(run.route.service));
  c.phase = CanaryPhase::kPromoted;
  Progress(run.where + ": canary " + ShortCommit(run.d.commit) + " promoted: " + c.verdict,
           run.log);
  return gate;
}

namespace {

// "step 2 of 3 (25% for 2m)"
std::string StepName(std::size_t i, const std::vector<config::CanaryStep>& steps) {
  return "step " + std::to_string(i + 1) + " of " + std::to_string(steps.size()) + " (" +
         std::to_string(steps[i].weight) + "% for " + FormatDuration(steps[i].duration) + ")";
}

// How often an inconclusive step is extended under no_traffic: extend before it fails.
constexpr int kMaxNoTrafficExtensions = 3;

// What a judged step's decision means: the next step (or promotion), one more window, or
// the canary dropped; `text` is the verdict or the reason.
struct StepVerdict {
  enum Kind { kDone, kExtend, kDropped } kind;
  std::string text;
};

StepVerdict Interpret(const config::CanarySpec& spec, const StepAnalysis& a, int extensions,
                      const std::string& where) {
  switch (a.decision) {
    case StepDecision::kPass:
      return {StepVerdict::kDone, where + ": pass, " + a.reason};
    case StepDecision::kFail:
      break;
    case StepDecision::kMarginal:
      if (extensions < 1) return {StepVerdict::kExtend, ""};
      return {StepVerdict::kDropped, where + ": still marginal after an extension: " + a.reason};
    case StepDecision::kInconclusive:
      switch (spec.no_traffic) {
        case config::NoTraffic::kFail:
          return {StepVerdict::kDropped, where + ": " + a.reason + " (no_traffic: fail)"};
        case config::NoTraffic::kExtend:
          if (extensions < kMaxNoTrafficExtensions) return {StepVerdict::kExtend, ""};
          return {StepVerdict::kDropped,
                  where + ": " + a.reason + "; still so after " +
                      std::to_string(kMaxNoTrafficExtensions) + " extensions (no_traffic: extend)"};
        case config::NoTraffic::kPass:
          return {StepVerdict::kDone, where + ": " + a.reason + " (no_traffic: pass)"};
      }
      break;
  }
  return {StepVerdict::kDropped, where + ": " + a.reason};
}

}  // namespace

Result<std::string> Deployer::RunCanaryStep(Run& run, CanaryWatch& watch, std::size_t i,
                                            const std::vector<config::CanaryStep>& steps) {
  const config::CanarySpec& spec = run.env.canary;
  CanaryRecord& c = *run.d.canary;
  CanaryStepRecord& rec = c.steps.emplace_back();
  rec.weight = steps[i].weight;
  rec.duration_ms = steps[i].duration.count();
  rec.started_at_ms = NowMs();
  watch.deadline = clock_.Now() + steps[i].duration;
  c.ends_at_ms = NowMs() + steps[i].duration.count();
  for (std::size_t k = i + 1; k < steps.size(); ++k) c.ends_at_ms += steps[k].duration.count();
  // The step's window starts at the last reading: the gate's for the first step, the
  // previous step's last check for the others.
  watch.step_canary = i == 0 ? watch.base_canary : watch.last_canary;
  watch.step_main = i == 0 ? watch.base_main : watch.last_main;
  watch.step_baseline = i == 0 ? watch.base_baseline : watch.last_baseline;
  SaveStep(run, DeploymentStep::kCanary);
  Progress(run.where + ": canary " + ShortCommit(run.d.commit) + " gets " +
               std::to_string(steps[i].weight) + "% of clients for " +
               FormatDuration(steps[i].duration) +
               (steps.size() > 1 ? " (" + StepName(i, steps) + ")" : ""),
           run.log);
  for (;;) {
    if (stopping_.load()) {
      return Status::Interrupted("the daemon is stopping during the canary's " +
                                 StepName(i, steps));
    }
    bool window_over = false;
    ASSIGN_OR_RETURN(std::string failure, CheckCanary(run, watch, &window_over));
    if (!failure.empty()) {
      rec.ended_at_ms = NowMs();
      rec.decision = "fail";
      return failure;
    }
    if (window_over) {
      // The window covers the step's extensions too.
      const StepAnalysis a =
          JudgeWindow(run, watch, steps[i].duration * (1 + rec.extensions), rec);
      const std::string where = StepName(i, steps);
      const StepVerdict v = Interpret(spec, a, rec.extensions, where);
      if (v.kind == StepVerdict::kDropped) {
        rec.ended_at_ms = NowMs();
        SaveStep(run, DeploymentStep::kCanary);
        return v.text;
      }
      if (v.kind == StepVerdict::kExtend) {
        ++rec.extensions;
        watch.deadline = clock_.Now() + steps[i].duration;
        c.ends_at_ms += steps[i].duration.count();
        SaveStep(run, DeploymentStep::kCanary);
        Progress(run.where + ": canary " + ShortCommit(run.d.commit) + " " + where +
                     " extended by " + FormatDuration(steps[i].duration) + ": " + a.reason,
                 run.log);
        continue;
      }
      rec.ended_at_ms = NowMs();
      c.verdict = watch.legacy_verdict + "; " + v.text;
      SaveStep(run, DeploymentStep::kCanary);
      return std::string();
    }
    SaveStep(run, DeploymentStep::kCanary);
    auto left = std::chrono::duration_cast<milliseconds>(watch.deadline - clock_.Now());
    Sleep(std::min<milliseconds>(options_.canary_poll_interval,
                                 std::max<milliseconds>(milliseconds(1), left)));
  }
}

Result<Deployer::CanaryWatch> Deployer::StartWatch(Run& run) {
  ASSIGN_OR_RETURN(auto first, proxy_.Service(run.route.service));
  if (!first || !first->has_canary) {
    return Status::Error("the proxy lost the canary pool of " + run.route.service +
                         " right after installing it");
  }
  CanaryWatch watch;
  watch.base_canary = first->canary_requests;
  watch.base_main = first->main_requests;
  watch.base_baseline = first->baseline_requests;
  if (!run.baseline.empty() && !first->has_baseline) {
    return Status::FailedPrecondition(
        "the proxy did not install the baseline pool of " + run.route.service +
        " (a proxy older than canary.baseline?)");
  }
  CanaryRecord& c = *run.d.canary;
  c.phase = CanaryPhase::kObserving;
  c.started_at_ms = NowMs();
  return watch;
}

StepAnalysis Deployer::JudgeWindow(Run& run, const CanaryWatch& watch, milliseconds window,
                                   CanaryStepRecord& rec) {
  const config::CanarySpec& spec = run.env.canary;
  // Against the fresh baseline when there is one (Kayenta's rule: not against the
  // long-warm main pool), else against the main pool.
  const bool vs_baseline = !run.baseline.empty();
  StepAnalysis a = AnalyzeWindow(spec, watch.last_canary.Since(watch.step_canary),
                                 vs_baseline ? watch.last_baseline.Since(watch.step_baseline)
                                             : watch.last_main.Since(watch.step_main),
                                 vs_baseline ? "baseline" : "main pool");
  // canary.metrics: the app's own figures from Prometheus join the score.
  AddMetricChecks(
      spec, RunMetricChecks(spec, {run.release.commit, run.app.name, run.env.name, window}, NowMs()),
      a);
  rec.analysis = AnalysisJson(a);
  rec.analysis["compared_with"] = vs_baseline ? "baseline" : "main pool";
  rec.decision = Name(a.decision);
  return a;
}

Result<std::string> Deployer::CheckCanary(Run& run, CanaryWatch& watch, bool* window_over) {
  ASSIGN_OR_RETURN(auto svc, proxy_.Service(run.route.service));
  if (!svc || !svc->has_canary) {
    return std::string("the canary pool was removed from the proxy while it was observed");
  }
  if (!run.baseline.empty() && !svc->has_baseline) {
    return std::string("the baseline pool was removed from the proxy while the canary was observed");
  }
  ResetIfRestarted(svc->canary_requests, watch.base_canary);
  ResetIfRestarted(svc->main_requests, watch.base_main);
  ResetIfRestarted(svc->baseline_requests, watch.base_baseline);
  watch.last_canary = svc->canary_requests;
  watch.last_main = svc->main_requests;
  watch.last_baseline = svc->baseline_requests;
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
  for (const auto& t : svc->baseline) {
    if (t.state != "unhealthy" || !watch.unhealthy.empty()) continue;
    watch.unhealthy = "baseline target " + t.address + " became unhealthy (" +
                      (t.last_error.empty() ? "failed health checks" : t.last_error) +
                      "): the canary cannot be compared with it";
  }
  CanaryVerdict verdict = JudgeCanary(run.env.canary, counts, clock_.Now() >= watch.deadline);
  if (verdict.kind == CanaryVerdict::kFail) {
    // A canary's 5xx are often its instance dying: the proxy sees the connection close a
    // moment before the supervisor can reap the process. That crash is the more precise
    // reason; give it a few polls to show.
    for (int i = 0; i < kCrashGracePolls; ++i) {
      Sleep(kCrashGracePoll);
      if (std::string crashed = CrashedCanary(run); !crashed.empty()) return crashed;
    }
    return verdict.reason;
  }
  if (verdict.kind == CanaryVerdict::kPass && watch.unhealthy.empty()) {
    watch.legacy_verdict = verdict.reason;
    *window_over = true;
  }
  return std::string();
}

std::string Deployer::CrashedCanary(const Run& run) {
  supervisor_.Tick();  // notice exits now rather than on the supervisor's next tick
  if (std::string crashed = CrashedIn(run.started, "canary"); !crashed.empty()) return crashed;
  std::string crashed = CrashedIn(run.baseline, "baseline");
  if (crashed.empty()) return crashed;
  const std::size_t eol = crashed.find('\n');
  return crashed.insert(eol == std::string::npos ? crashed.size() : eol,
                        " (the canary cannot be compared with it)");
}

std::string Deployer::CrashedIn(const std::vector<runtime::InstanceInfo>& instances,
                                const char* what) {
  for (const auto& i : instances) {
    auto cur = supervisor_.Get(i.id);
    bool crashed = !cur || cur->state != runtime::InstanceState::kRunning ||
                   cur->restarts > i.restarts || cur->process.pid != i.process.pid;
    if (!crashed) continue;
    std::string failure =
        std::string(what) + " instance " + i.address() + " (" + i.id + ") crashed";
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
    std::vector<std::string> leaving = run.route.targets;
    leaving.insert(leaving.end(), run.route.baseline_targets.begin(),
                   run.route.baseline_targets.end());
    WaitDrained(run.route.service, leaving, run.env.drain_timeout);
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
