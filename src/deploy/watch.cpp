// The watch after going live (environment `watch:`, docs/deploy.md "Watch"): the new live
// release is judged, window by window, against what the previous release answered before
// the switch and against its own first window; a regression swaps back to the previous
// release's warm instances at once. The caller holds the environment's lock, so a deploy
// that arrives meanwhile starts when the watch ends.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"
#include "deploy/canary_analysis.h"
#include "deploy/run.h"

namespace gravity::deploy {

namespace {

using std::chrono::milliseconds;

nlohmann::json WindowJson(const PoolRequests& w) {
  return {{"requests", w.total},
          {"errors_5xx", w.errors_5xx},
          {"errors_4xx", w.errors_4xx},
          {"latency_ms", {{"p50", w.QuantileMs(0.5)}, {"p90", w.QuantileMs(0.9)},
                          {"p99", w.QuantileMs(0.99)}}}};
}

// Windows judged: a tenth of the watch, 5 s to 30 s (each judged once, so the number of
// tests, and with it the chance of a false alarm, stays small).
milliseconds JudgedWindow(milliseconds watch) {
  return std::clamp<milliseconds>(watch / 10, std::chrono::seconds(5), std::chrono::seconds(30));
}

// The watch ends before its time (not judged to the end): recorded with why.
Status EndWatch(Records& records, DeploymentRecord& d, std::string verdict) {
  d.watch->phase = "ended";
  d.watch->verdict = std::move(verdict);
  (void)records.UpdateDeployment(d);
  return Status::Ok();
}

// The 5xx limit, checked at every reading: a release that breaks is caught within a poll.
bool OverErrorLimit(const config::CanarySpec& spec, const PoolRequests& current) {
  const auto min = static_cast<std::uint64_t>(std::max(1, spec.min_requests));
  return current.total >= min &&
         static_cast<double>(current.errors_5xx) >
             spec.max_error_rate * static_cast<double>(current.total);
}

}  // namespace

void Deployer::InterruptWatch(const std::string& app, const std::string& env) {
  MutexLock lock(watch_mutex_);
  const std::string key = app + "/" + env;
  if (watching_.count(key)) watch_interrupts_.insert(key);
}

bool Deployer::WatchInterrupted(const std::string& key) {
  MutexLock lock(watch_mutex_);
  return watch_interrupts_.count(key) > 0;
}

void Deployer::SetWatching(const std::string& key, bool on) {
  MutexLock lock(watch_mutex_);
  watch_interrupts_.erase(key);
  if (on) {
    watching_.insert(key);
  } else {
    watching_.erase(key);
  }
}

Result<std::optional<PoolRequests>> Deployer::MainReading(const std::string& service) {
  ASSIGN_OR_RETURN(auto svc, proxy_.Service(service));
  if (!svc) return std::optional<PoolRequests>();
  return std::optional<PoolRequests>(svc->main_requests);
}

bool Deployer::Watches(const Run& run) const {
  return run.env.watch > milliseconds(0) && run.kind != DeploymentKind::kRollback &&
         !run.rec.live_commit.empty();
}

Status Deployer::WatchLocked(Run& run) {
  SetWatching(run.where, true);
  Status st = WatchWindows(run);
  SetWatching(run.where, false);
  return st;
}

Status Deployer::WatchWindows(Run& run) {
  const config::CanarySpec& spec = run.env.canary;  // the judge's settings
  const std::string name = ShortCommit(run.release.commit);
  WatchRecord& w = run.d.watch.emplace();
  w.started_at_ms = NowMs();
  w.ends_at_ms = w.started_at_ms + run.env.watch.count();
  const PoolRequests previous = run.main_before_switch.Since(run.main_at_begin);
  w.previous = WindowJson(previous);
  (void)records_.UpdateDeployment(run.d);
  Progress(run.where + ": watching " + name + " for " + FormatDuration(run.env.watch) +
               " against " + ShortCommit(run.rec.live_commit) + " (kept warm meanwhile)",
           run.log);

  auto first = MainReading(run.route.service);
  if (!first.ok() || !*first) {
    return EndWatch(records_, run.d,
                    "not watched: the proxy could not be asked for the new release's requests");
  }
  const auto t_switch = clock_.Now();
  const auto deadline = t_switch + run.env.watch;
  const milliseconds window = JudgedWindow(run.env.watch);
  PoolRequests window_start = **first;
  auto window_began = t_switch;
  std::optional<PoolRequests> first_window;  // the release's own first window, once over
  std::string regression;
  while (clock_.Now() < deadline && regression.empty()) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_.Now());
    Sleep(std::min<milliseconds>(options_.canary_poll_interval,
                                 std::max<milliseconds>(milliseconds(1), left)));
    if (stopping_.load()) {
      Progress(run.where + ": watch of " + name + " ended: the daemon is stopping", run.log);
      return EndWatch(records_, run.d, "ended early: the daemon stopped during the watch");
    }
    if (WatchInterrupted(run.where)) {
      const std::string why =
          "ended early: a rollback, promotion or removal of " + run.where + " was asked for";
      Progress(run.where + ": watch of " + name + " " + why, run.log);
      return EndWatch(records_, run.d, why);
    }
    auto now = MainReading(run.route.service);
    if (!now.ok()) continue;  // the proxy restarting: judge at the next reading
    if (!*now) {
      return EndWatch(records_, run.d, "the service was removed from the proxy during the watch");
    }
    const PoolRequests current = (*now)->Since(window_start);
    const bool window_over = clock_.Now() - window_began >= window || clock_.Now() >= deadline;
    // The 5xx limit at every reading, the whole analysis once per window.
    if (!window_over && !OverErrorLimit(spec, current)) continue;
    StepAnalysis a = AnalyzeWindow(spec, current, previous, "previous release", name);
    w.analysis = AnalysisJson(a);
    if (a.decision == StepDecision::kFail) {
      regression = a.reason;
    } else if (first_window && window_over) {
      StepAnalysis b = AnalyzeWindow(spec, current, *first_window, "its first window", name);
      if (b.decision == StepDecision::kFail) {
        w.analysis = AnalysisJson(b);
        regression = b.reason;
      }
    }
    if (window_over) {
      if (!first_window) first_window = current;
      window_start = **now;
      window_began = clock_.Now();
    }
    (void)records_.UpdateDeployment(run.d);
  }
  if (regression.empty()) {
    w.phase = "passed";
    w.verdict = "no regression in " + FormatDuration(run.env.watch);
    (void)records_.UpdateDeployment(run.d);
    Progress(run.where + ": " + name + " passed its watch", run.log);
    return Status::Ok();
  }
  return AutoRollback(run, regression, clock_.Now() - t_switch);
}

Status Deployer::AutoRollback(Run& run, const std::string& regression, Clock::Duration after) {
  const std::string name = ShortCommit(run.release.commit);
  const std::string reason =
      "auto-rollback of " + name + " after " +
      FormatDuration(std::chrono::duration_cast<milliseconds>(after)) + ": " + regression;
  WatchRecord& w = *run.d.watch;
  auto rec = records_.Environment(run.app.name, run.env.name);
  bool warm_ready = rec.ok() && rec->warm_commit == run.rec.live_commit &&
                    !rec->warm_instances.empty();
  for (const auto& id : warm_ready ? rec->warm_instances : std::vector<std::string>{}) {
    auto i = supervisor_.Get(id);
    warm_ready &= i && i->state == runtime::InstanceState::kRunning;
  }
  if (!warm_ready) {
    w.phase = "ended";
    w.verdict = reason + "; not rolled back: the previous release's warm instances are gone";
    (void)records_.UpdateDeployment(run.d);
    spdlog::error("{}: {}", run.where, w.verdict);
    return Status::FailedPrecondition(run.where + ": " + w.verdict);
  }
  w.phase = "rolled_back";
  w.verdict = reason;
  run.d.error = reason;
  (void)records_.UpdateDeployment(run.d);
  Progress(run.where + ": " + reason, run.log);
  const std::vector<std::string> warm = rec->warm_instances;
  const Release previous = WarmRelease(run.app.name, run.rec.live_commit);
  auto back = RunLocked(run.app, run.env, previous, DeploymentKind::kRollback, warm, run.log);
  if (!back.ok()) {
    w.phase = "ended";
    w.verdict = reason + "; the rollback failed, " + name + " is still live: " + back.error();
    (void)records_.UpdateDeployment(run.d);
    return Status::FailedPrecondition(run.where + ": " + reason +
                                      "; the rollback failed: " + back.error());
  }
  run.d.status = DeploymentStatus::kFailed;  // live no more: the rollback's record is
  (void)records_.UpdateDeployment(run.d);
  return Status::FailedPrecondition(run.where + ": " + reason + " (live again: " +
                                    ShortCommit(run.rec.live_commit) + ", in " +
                                    std::to_string(back->switched_after_ms) + "ms)");
}

}  // namespace gravity::deploy
