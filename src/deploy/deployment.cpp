// One deployment, step by step: Begin (record it) -> StartInstances -> PrepareRoute ->
// HandOver (the proxy's health gate and swap, or the canary) -> CheckStayedUp ->
// RecordSwitch. Any step that fails ends in Fail, which leaves the live release as it was.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "common/net.h"
#include "deploy/run.h"
#include "runtime/logs.h"

namespace gravity::deploy {

namespace {

using std::chrono::milliseconds;

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::int64_t MsBetween(Clock::TimePoint from, Clock::TimePoint to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

}  // namespace

Result<DeployOutcome> Deployer::RunLocked(const config::StackApp& app,
                                          const config::EnvironmentSpec& env,
                                          const Release& release, DeploymentKind kind,
                                          const std::vector<std::string>& warm,
                                          const LogSink& log, const VerifyHook& verify) {
  Run run(app, env, release, kind, warm, log);
  if (verify) run.verify = &verify;
  RETURN_IF_ERROR(Begin(run));
  RETURN_IF_ERROR(StartInstances(run));
  PrepareRoute(run);
  ASSIGN_OR_RETURN(ProxyDeployOutcome outcome, HandOver(run));
  if (!outcome.switched) {
    std::string why = run.judged.empty() ? FailureDetail(outcome, run.started) : run.judged;
    return Fail(run,
                run.where + ": " + run.What() + " failed, live release " + run.LiveName() +
                    " untouched: " + why,
                !run.from_warm());
  }
  RETURN_IF_ERROR(CheckStayedUp(run));
  RecordSwitch(run, outcome);
  if (Watches(run)) RETURN_IF_ERROR(WatchLocked(run));

  DeployOutcome out;
  out.deployment_id = run.d.id;
  out.commit = release.commit;
  out.reused_warm = run.from_warm();
  out.duration_ms = run.d.duration_ms;
  out.switched_after_ms = outcome.switched_after_ms;
  out.start_ms = MsBetween(run.t0, run.t_started);
  out.instances = run.d.instances;
  return out;
}

Status Deployer::Begin(Run& run) {
  // The proxy's gate for a deploy left behind lasts at most its deploy timeout; the new
  // release's, plus a margin, bounds the wait.
  RETURN_IF_ERROR(SettleLeftBehind(run.app.name, run.env.name,
                                   run.release.spec.health.deploy_timeout + std::chrono::seconds(5)));
  run.t0 = clock_.Now();
  ASSIGN_OR_RETURN(run.rec, records_.Environment(run.app.name, run.env.name));
  DeploymentRecord& d = run.d;
  d.app = run.app.name;
  d.environment = run.env.name;
  d.commit = run.release.commit;
  d.kind = run.kind;
  d.status = DeploymentStatus::kRunning;
  d.step = DeploymentStep::kStarting;
  d.previous_commit = run.rec.live_commit;
  d.started_at_ms = NowMs();
  ASSIGN_OR_RETURN(d.id, records_.InsertDeployment(d));
  if (Watches(run)) {
    // The previous release's window starts now (an unreachable proxy: an empty window).
    auto reading = MainReading(ServiceName(run.app.name, run.env.name));
    if (reading.ok() && *reading) run.main_at_begin = **reading;
  }
  return records_.TouchRelease(run.app.name, run.release.commit, run.release.release_dir,
                               d.started_at_ms);
}

Status Deployer::Fail(Run& run, const std::string& error, bool stop_new) {
  if (stop_new) supervisor_.Stop(run.d.instances);
  run.d.status = DeploymentStatus::kFailed;
  run.d.step = DeploymentStep::kDone;
  run.d.error = error;
  run.d.finished_at_ms = NowMs();
  run.d.duration_ms = MsBetween(run.t0, clock_.Now());
  (void)records_.UpdateDeployment(run.d);
  Progress(run.where + ": " + run.What() + " failed", run.log);
  return Status::FailedPrecondition(error);
}

Status Deployer::StartInstances(Run& run) {
  if (run.from_warm()) {
    run.d.instances = run.warm;
    for (const auto& id : run.warm) {
      auto i = supervisor_.Get(id);
      if (!i) return Fail(run, "warm instance " + id + " is gone", false);
      run.started.push_back(*i);
    }
  } else {
    if (run.release.spec.run.command.empty()) {
      return Fail(run,
                  run.where + ": release " + ShortCommit(run.release.commit) +
                      " has no run command",
                  false);
    }
    runtime::InstanceSpec spec;
    spec.app = run.app.name;
    spec.environment = run.env.name;
    spec.release = run.release.commit;
    spec.release_dir = run.release.release_dir;
    spec.command = run.release.spec.run.command;
    spec.env = run.env.env;
    spec.sandbox = run.env.sandbox;
    spec.limits = run.env.limits;
    spec.data = run.env.data;
    std::string error = StartMany(spec, run.env.instances, &run.started);
    for (const auto& i : run.started) run.d.instances.push_back(i.id);
    if (!error.empty()) return Fail(run, error, true);
  }
  run.t_started = clock_.Now();
  Progress(run.where + ": " + std::to_string(run.started.size()) + " instance(s) of " +
               ShortCommit(run.release.commit) + (run.from_warm() ? " warm" : " started") +
               ", waiting for health",
           run.log);
  return Status::Ok();
}

std::string Deployer::StartMany(const runtime::InstanceSpec& spec, int n,
                                std::vector<runtime::InstanceInfo>* started) {
  // Started side by side: each is a fork/exec plus a record write.
  std::vector<std::future<Result<runtime::InstanceInfo>>> starting;
  for (int k = 0; k < n; ++k) {
    starting.push_back(std::async(std::launch::async, [&] { return supervisor_.Start(spec); }));
  }
  std::string error;
  for (auto& f : starting) {
    auto i = f.get();
    if (!i.ok()) {
      if (error.empty()) error = i.error();
      continue;
    }
    started->push_back(*i);
  }
  return error;
}

void Deployer::PrepareRoute(Run& run) {
  // Recorded (with the new instances) before the proxy is asked, so a crash from here on
  // knows them.
  run.d.step = DeploymentStep::kHealthWait;
  (void)records_.UpdateDeployment(run.d);
  ProxyRoute& route = run.route;
  route.service = ServiceName(run.app.name, run.env.name);
  route.hosts = {run.env.host};
  for (const auto& i : run.started) route.targets.push_back(i.address());
  route.health = run.release.spec.health;
  if (!run.from_warm() && options_.listen_poll.count() > 0) {
    auto waited = WaitListening(run.started, route.health.deploy_timeout / 2);
    route.health.deploy_timeout =
        std::max<config::Duration>(route.health.deploy_timeout - waited, milliseconds(500));
  }
  if (run.from_warm()) {
    route.health.healthy_threshold = 1;
    route.health.interval = std::min(route.health.interval, options_.warm_health_interval);
  }
  route.drain_timeout = run.env.drain_timeout;
  route.hsts = run.env.hsts;
}

Result<ProxyDeployOutcome> Deployer::HandOver(Run& run) {
  // Canary only when there is a live release whose instances run to compare against.
  bool live_running = false;
  for (const auto& id : run.rec.live_instances) live_running |= supervisor_.Get(id).has_value();
  const bool canary_strategy = run.env.strategy == config::Strategy::kCanary && !run.from_warm();
  const bool canary =
      canary_strategy &&
      (run.kind == DeploymentKind::kDeploy || run.kind == DeploymentKind::kPromote) &&
      live_running;
  if (canary_strategy && !canary) {
    Progress(run.where + ": no live instances to compare a canary against: red/black " +
                 std::string(Name(run.kind)),
             run.log);
  }
  if (!canary && Watches(run)) {
    auto reading = MainReading(run.route.service);
    if (reading.ok() && *reading) run.main_before_switch = **reading;
  }
  // The verify step needs the service in the proxy (its canary slot): on the first deploy
  // of an environment, with nothing live and so no clients yet, there is none.
  bool verifies = run.verify && run.release.spec.verify && !run.from_warm();
  if (verifies && !live_running) {
    verifies = false;
    Progress(run.where + ": nothing live yet: verify skipped for this first deploy", run.log);
  }
  Result<ProxyDeployOutcome> outcome = ProxyDeployOutcome{};
  if (verifies) {
    outcome = Verify(run);
    if (outcome.ok() && outcome->switched && !canary) {
      // Passed: the verified instances go live by the usual swap, which also applies the
      // route's settings (hosts, prefix, drain, HSTS); then the verify slot goes.
      outcome = proxy_.Deploy(run.route);
      DropCandidateSlot(run);
    } else if (outcome.ok() && outcome->switched) {
      outcome = CanaryLocked(run);  // the canary's first step replaces the verify slot
      // Unless the canary never got its pools (its baseline did not start, or the proxy
      // refused them): then the slot is still there, and goes now.
      DropCandidateSlot(run);
    }
  } else {
    outcome = canary ? CanaryLocked(run) : proxy_.Deploy(run.route);
  }
  if (outcome.ok()) return outcome;
  if (stopping_.load()) {
    // Left as a kill would leave it (running, no error): Reconcile settles it when the
    // daemon starts again, and records it as interrupted at its step.
    MarkReconcilePending();
    Progress(run.where + ": " + run.What() + " interrupted: " + outcome.error(), run.log);
    return Status::Interrupted(run.where + ": " + run.What() + " interrupted: " +
                               outcome.error() + " (settled when the daemon starts again)");
  }
  // Whether the proxy switched is unknown: leave the record running so that Reconcile
  // (from Tick, once the proxy answers) settles it by what the proxy serves.
  run.d.error = "proxy: " + outcome.error() + " (settled when the proxy answers again)";
  (void)records_.UpdateDeployment(run.d);
  MarkReconcilePending();
  Progress(run.where + ": " + run.What() + " failed: proxy unreachable", run.log);
  return Status::WithCode(outcome.status().code(),
                          run.where + ": " + run.What() +
                              " failed: cannot reach the proxy: " + outcome.error());
}

Status Deployer::CheckStayedUp(Run& run) {
  // A new instance whose process exited during the health wait cannot have answered the
  // checks: something else listens on its port. Put the previous targets back (they are
  // still running and healthy) and fail, so a release that cannot start never stays live.
  if (run.from_warm()) return Status::Ok();
  supervisor_.Tick();  // notice exits now rather than on the supervisor's next tick
  ProxyDeployOutcome exited;
  for (const auto& i : run.started) {
    auto now = supervisor_.Get(i.id);
    if (now && now->state == runtime::InstanceState::kRunning && now->restarts == 0 &&
        now->process.pid == i.process.pid) {
      continue;
    }
    exited.failures.push_back(
        {i.address(), "its process exited during the health check, yet the port answered: "
                      "another program listens there"});
  }
  if (exited.failures.empty()) return Status::Ok();
  exited.error = "the new instances did not stay up";
  ProxyRoute back = run.route;
  back.targets = Addresses(run.rec.live_instances);
  back.health.healthy_threshold = 1;
  back.health.interval = std::min(back.health.interval, options_.warm_health_interval);
  Status restored =
      back.targets.empty() ? proxy_.Remove(back.service) : proxy_.Deploy(back).status();
  if (!restored.ok()) {
    spdlog::error("{}: putting the previous targets back: {}", run.where, restored.message());
  }
  return Fail(run,
              run.where + ": " + run.What() + " failed, live release " + run.LiveName() +
                  " put back: " + FailureDetail(exited, run.started),
              true);
}

namespace {

// The environment once `d` has gone live on it: the previous live instances become warm
// (live and warm trade places on a rollback to warm; when they are gone, e.g. restored
// after `gravity down`, the warm set stays); *retire gets whatever was live or warm and is
// neither now.
EnvironmentRecord NextEnvironment(const EnvironmentRecord& rec, const DeploymentRecord& d,
                                  bool from_warm, const std::vector<std::string>& old_live,
                                  const std::vector<std::string>& old_warm,
                                  std::vector<std::string>* retire) {
  EnvironmentRecord next = rec;
  if (!old_live.empty()) {
    next.warm_commit = rec.live_commit;
    next.warm_instances = old_live;
  } else if (from_warm) {
    next.warm_instances.clear();
  } else {
    next.warm_instances = old_warm;
  }
  if (next.warm_commit == d.commit) next.warm_instances.clear();
  next.live_commit = d.commit;
  next.live_instances = d.instances;
  next.live_deployment = d.id;
  for (const auto* ids : {&old_live, &old_warm}) {
    for (const auto& id : *ids) {
      if (!Contains(next.live_instances, id) && !Contains(next.warm_instances, id)) {
        retire->push_back(id);
      }
    }
  }
  return next;
}

}  // namespace

void Deployer::RecordSwitch(Run& run, const ProxyDeployOutcome& outcome) {
  auto t_switched = clock_.Now();
  auto existing = [&](const std::vector<std::string>& ids) {
    std::vector<std::string> out;
    for (const auto& id : ids) {
      if (supervisor_.Get(id)) out.push_back(id);
    }
    return out;
  };
  std::vector<std::string> old_live = existing(run.rec.live_instances);
  std::vector<std::string> retire;  // the warm set before this one, now superseded
  EnvironmentRecord next = NextEnvironment(run.rec, run.d, run.from_warm(), old_live,
                                           existing(run.rec.warm_instances), &retire);
  if (!old_live.empty()) {
    // Warm at least until a watch ends, so that it can roll back to them.
    next.warm_until_ms = NowMs() + run.env.drain_timeout.count() +
                         std::max(run.env.keep_previous, run.env.watch).count();
  }
  DeploymentRecord& d = run.d;
  d.status = DeploymentStatus::kSucceeded;
  d.step = DeploymentStep::kSwitched;
  d.switched_after_ms = outcome.switched_after_ms;
  d.duration_ms = MsBetween(run.t0, t_switched);
  d.finished_at_ms = NowMs();
  // One transaction, then stop what is no longer needed.
  Status saved = records_.db().Transaction([&]() -> Status {
    RETURN_IF_ERROR(records_.SaveEnvironment(next));
    return records_.UpdateDeployment(d);
  });
  if (!saved.ok()) spdlog::error("{}: recording the switch: {}", run.where, saved.message());
  Progress(run.where + ": traffic switched to " + ShortCommit(run.release.commit) + " in " +
               std::to_string(d.duration_ms) + "ms",
           run.log);
  // The superseded warm set may still be draining (deploys quicker than drain_timeout):
  // stop it only once its drain deadline has passed, in Tick, off the deploy's path (it
  // waits for processes).
  std::int64_t drain_end = run.rec.warm_until_ms - run.env.keep_previous.count();
  if (!retire.empty()) {
    MutexLock lock(pending_mutex_);
    pending_stops_.emplace_back(std::max(drain_end, NowMs()), retire);
  }
  d.step = DeploymentStep::kDone;
  (void)records_.UpdateDeployment(d);
  ApplyRetention(run.app);
}

milliseconds Deployer::WaitListening(const std::vector<runtime::InstanceInfo>& instances,
                                     milliseconds limit) {
  auto t0 = clock_.Now();
  std::vector<const runtime::InstanceInfo*> pending;
  for (const auto& i : instances) pending.push_back(&i);
  const long max_rounds = std::max<long>(1, limit.count() / options_.listen_poll.count());
  for (long round = 0; !pending.empty() && round < max_rounds; ++round) {
    if (clock_.Now() - t0 >= limit) break;
    if (round > 0) Sleep(options_.listen_poll);
    std::erase_if(pending,
                  [](const runtime::InstanceInfo* i) { return LoopbackPortOpen(i->port); });
    if (round % 10 != 9) continue;
    // An instance that exited will not listen: the proxy's checks will say why.
    supervisor_.Tick();
    bool exited = false;
    for (const auto* i : pending) {
      auto now = supervisor_.Get(i->id);
      exited |= !now || now->state != runtime::InstanceState::kRunning ||
                now->process.pid != i->process.pid;
    }
    if (exited) break;
  }
  return std::chrono::duration_cast<milliseconds>(clock_.Now() - t0);
}

std::string Deployer::FailureDetail(const ProxyDeployOutcome& outcome,
                                    const std::vector<runtime::InstanceInfo>& instances) {
  std::string text =
      outcome.error.empty() ? "the new instances did not become healthy" : outcome.error;
  std::set<std::string> reported;
  auto describe = [&](const runtime::InstanceInfo& i, const std::string& reason) {
    text += "\n  " + i.address() + " (" + i.id + "): " + reason;
    auto now = supervisor_.Get(i.id);
    if (now && !now->last_exit.empty()) text += "; process " + now->last_exit;
    auto lines = runtime::TailLines(i.log_path, static_cast<size_t>(options_.failure_log_lines));
    if (lines.ok() && !lines->empty()) {
      text += "\n    last log lines:";
      for (const auto& l : *lines) text += "\n      " + l;
    }
    reported.insert(i.id);
  };
  for (const auto& f : outcome.failures) {
    for (const auto& i : instances) {
      if (i.address() == f.target) describe(i, f.reason);
    }
  }
  if (reported.empty() && outcome.error.empty()) {
    for (const auto& i : instances) describe(i, "not healthy");
  }
  return text;
}

}  // namespace gravity::deploy
