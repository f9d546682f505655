#include "deploy/deployer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "common/net.h"
#include "config/config.h"
#include "runtime/logs.h"

namespace gravity::deploy {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

std::string Short(const std::string& commit) { return commit.substr(0, 7); }

bool SameSet(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return !a.empty() && a == b;
}

std::vector<std::string> AddressesOf(const std::vector<ProxyTarget>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) out.push_back(t.address);
  return out;
}

// The calling thread's extra progress sink while a Deploy() with a `log` runs.
thread_local const std::function<void(const std::string&)>* t_log = nullptr;

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

Deployer::Deployer(store::Db& db, runtime::Supervisor& supervisor, ProxyControl& proxy,
                   Clock& clock, DeployerOptions options)
    : records_(db), supervisor_(supervisor), proxy_(proxy), clock_(clock), options_(options) {}

Status Deployer::Init() { return records_.Migrate(); }

void Deployer::SetStack(const config::StackSpec& stack) {
  std::lock_guard lock(stack_mutex_);
  stack_ = stack;
}

void Deployer::SetProgress(std::function<void(const std::string&)> progress) {
  progress_ = std::move(progress);
}

void Deployer::Progress(const std::string& line) {
  spdlog::info("{}", line);
  if (progress_) progress_(line);
  if (t_log && *t_log) (*t_log)(line);
}

std::int64_t Deployer::NowMs() const {
  return std::chrono::duration_cast<milliseconds>(clock_.WallNow().time_since_epoch()).count();
}

std::mutex& Deployer::EnvLock(const std::string& app, const std::string& env) {
  std::lock_guard lock(locks_mutex_);
  auto& m = env_locks_[app + "\n" + env];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

Result<std::pair<config::StackApp, config::EnvironmentSpec>> Deployer::FindEnv(
    const std::string& app, const std::string& env) {
  std::lock_guard lock(stack_mutex_);
  const config::StackApp* a = stack_.FindApp(app);
  if (!a) return Status::Error("no app named '" + app + "' in the stack");
  if (env.empty()) {
    if (a->environments.size() != 1) {
      return Status::Error("app '" + app + "' has " + std::to_string(a->environments.size()) +
                           " environments: name one with --env");
    }
    return std::make_pair(*a, a->environments[0]);
  }
  const config::EnvironmentSpec* e = a->FindEnvironment(env);
  if (!e) return Status::Error("app '" + app + "' has no environment named '" + env + "'");
  return std::make_pair(*a, *e);
}

std::vector<std::string> Deployer::Addresses(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    if (auto i = supervisor_.Get(id)) out.push_back(i->address());
  }
  return out;
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

Result<DeployOutcome> Deployer::Deploy(const std::string& env, const Release& release,
                                       std::function<void(const std::string&)> log) {
  ASSIGN_OR_RETURN(auto found, FindEnv(release.app, env));
  std::lock_guard lock(EnvLock(release.app, found.second.name));
  t_log = &log;
  auto out = RunLocked(found.first, found.second, release, "deploy", {});
  t_log = nullptr;
  return out;
}

milliseconds Deployer::WaitListening(const std::vector<runtime::InstanceInfo>& instances,
                                     milliseconds limit) {
  auto t0 = clock_.Now();
  std::vector<const runtime::InstanceInfo*> pending;
  for (const auto& i : instances) pending.push_back(&i);
  const long max_rounds = std::max<long>(1, limit.count() / options_.listen_poll.count());
  for (long round = 0; !pending.empty() && round < max_rounds; ++round) {
    if (clock_.Now() - t0 >= limit) break;
    if (round > 0) std::this_thread::sleep_for(options_.listen_poll);
    std::erase_if(pending, [](const runtime::InstanceInfo* i) { return LoopbackPortOpen(i->port); });
    if (round % 10 == 9) {
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
  }
  return std::chrono::duration_cast<milliseconds>(clock_.Now() - t0);
}

Result<DeployOutcome> Deployer::RunLocked(const config::StackApp& app,
                                          const config::EnvironmentSpec& env,
                                          const Release& release, const std::string& kind,
                                          const std::vector<std::string>& warm) {
  const std::string where = app.name + "/" + env.name;
  auto t0 = clock_.Now();
  ASSIGN_OR_RETURN(EnvironmentRecord rec, records_.Environment(app.name, env.name));
  DeploymentRecord d;
  d.app = app.name;
  d.environment = env.name;
  d.commit = release.commit;
  d.kind = kind;
  d.status = "running";
  d.step = "starting";
  d.previous_commit = rec.live_commit;
  d.started_at_ms = NowMs();
  ASSIGN_OR_RETURN(d.id, records_.InsertDeployment(d));
  RETURN_IF_ERROR(
      records_.TouchRelease(app.name, release.commit, release.release_dir, d.started_at_ms));

  auto fail = [&](const std::string& error, bool stop_new) -> Status {
    if (stop_new) supervisor_.Stop(d.instances);
    d.status = "failed";
    d.step = "done";
    d.error = error;
    d.finished_at_ms = NowMs();
    d.duration_ms = std::chrono::duration_cast<milliseconds>(clock_.Now() - t0).count();
    (void)records_.UpdateDeployment(d);
    Progress(where + ": " + kind + " of " + Short(release.commit) + " failed");
    return Status::Error(error);
  };

  // 1. Instances.
  std::vector<runtime::InstanceInfo> started;
  if (!warm.empty()) {
    d.instances = warm;
    for (const auto& id : warm) {
      auto i = supervisor_.Get(id);
      if (!i) return fail("warm instance " + id + " is gone", false);
      started.push_back(*i);
    }
  } else {
    if (release.spec.run.command.empty()) {
      return fail(where + ": release " + Short(release.commit) + " has no run command", false);
    }
    runtime::InstanceSpec spec;
    spec.app = app.name;
    spec.environment = env.name;
    spec.release = release.commit;
    spec.release_dir = release.release_dir;
    spec.command = release.spec.run.command;
    spec.env = env.env;
    // Started side by side: each is a fork/exec plus a record write.
    std::vector<std::future<Result<runtime::InstanceInfo>>> starting;
    for (int k = 0; k < env.instances; ++k) {
      starting.push_back(std::async(std::launch::async, [&] { return supervisor_.Start(spec); }));
    }
    std::string error;
    for (auto& f : starting) {
      auto i = f.get();
      if (!i.ok()) {
        if (error.empty()) error = i.error();
        continue;
      }
      d.instances.push_back(i->id);
      started.push_back(*i);
    }
    if (!error.empty()) return fail(error, true);
  }
  auto t_started = clock_.Now();
  Progress(where + ": " + std::to_string(started.size()) + " instance(s) of " +
           Short(release.commit) + (warm.empty() ? " started" : " warm") + ", waiting for health");

  // 2. The proxy's health gate and swap. Recorded (with the new instances) before the
  // proxy is asked, so a crash from here on knows them.
  d.step = "health_wait";
  (void)records_.UpdateDeployment(d);
  ProxyRoute route;
  route.service = ServiceName(app.name, env.name);
  route.hosts = {env.host};
  for (const auto& i : started) route.targets.push_back(i.address());
  route.health = release.spec.health;
  if (warm.empty() && options_.listen_poll.count() > 0) {
    auto waited = WaitListening(started, route.health.deploy_timeout / 2);
    route.health.deploy_timeout =
        std::max<config::Duration>(route.health.deploy_timeout - waited, milliseconds(500));
  }
  if (!warm.empty()) {
    route.health.healthy_threshold = 1;
    route.health.interval = std::min(route.health.interval, options_.warm_health_interval);
  }
  route.drain_timeout = env.drain_timeout;
  // Canary only when there is a live release whose instances run to compare against.
  bool live_running = false;
  for (const auto& id : rec.live_instances) live_running |= supervisor_.Get(id).has_value();
  const bool canary = env.strategy == config::Strategy::kCanary && warm.empty() &&
                      (kind == "deploy" || kind == "promote") && live_running;
  if (env.strategy == config::Strategy::kCanary && warm.empty() && !canary) {
    Progress(where + ": no live instances to compare a canary against: red/black " + kind);
  }
  std::string judged;  // why a canary was dropped after it got traffic
  auto outcome =
      canary ? CanaryLocked(where, route, env, d, started, &judged) : proxy_.Deploy(route);
  if (!outcome.ok()) {
    // Whether the proxy switched is unknown: leave the record running so that Reconcile
    // (from Tick, once the proxy answers) settles it by what the proxy serves.
    d.error = "proxy: " + outcome.error() + " (settled when the proxy answers again)";
    (void)records_.UpdateDeployment(d);
    {
      std::lock_guard lock(stack_mutex_);
      reconcile_pending_ = true;
    }
    Progress(where + ": " + kind + " of " + Short(release.commit) + " failed: proxy unreachable");
    return Status::Error(where + ": " + kind + " of " + Short(release.commit) +
                         " failed: cannot reach the proxy: " + outcome.error());
  }
  if (!outcome->switched) {
    std::string error =
        where + ": " + kind + " of " + Short(release.commit) + " failed, live release " +
        (rec.live_commit.empty() ? "(none)" : Short(rec.live_commit)) +
        " untouched: " + (judged.empty() ? FailureDetail(*outcome, started) : judged);
    return fail(error, warm.empty());
  }
  // A new instance whose process exited during the health wait cannot have answered the
  // checks: something else listens on its port. Put the previous targets back (they are
  // still running and healthy) and fail, so a release that cannot start never stays live.
  if (warm.empty()) {
    supervisor_.Tick();  // notice exits now rather than on the supervisor's next tick
    ProxyDeployOutcome exited;
    for (const auto& i : started) {
      auto now = supervisor_.Get(i.id);
      if (now && now->state == runtime::InstanceState::kRunning && now->restarts == 0 &&
          now->process.pid == i.process.pid) {
        continue;
      }
      exited.failures.push_back(
          {i.address(), "its process exited during the health check, yet the port answered: "
                        "another program listens there"});
    }
    if (!exited.failures.empty()) {
      exited.error = "the new instances did not stay up";
      ProxyRoute back = route;
      back.targets.clear();
      for (const auto& id : rec.live_instances) {
        if (auto i = supervisor_.Get(id)) back.targets.push_back(i->address());
      }
      back.health.healthy_threshold = 1;
      back.health.interval = std::min(back.health.interval, options_.warm_health_interval);
      Status restored = back.targets.empty() ? proxy_.Remove(route.service)
                                             : proxy_.Deploy(back).status();
      if (!restored.ok()) spdlog::error("{}: putting the previous targets back: {}", where,
                                        restored.message());
      return fail(where + ": " + kind + " of " + Short(release.commit) + " failed, live release " +
                      (rec.live_commit.empty() ? "(none)" : Short(rec.live_commit)) +
                      " put back: " + FailureDetail(exited, started),
                  true);
    }
  }

  // 3. Switched: record it (one transaction), then stop what is no longer needed.
  auto t_switched = clock_.Now();
  std::vector<std::string> retire;  // previous warm set, now superseded
  EnvironmentRecord next = rec;
  auto existing = [&](const std::vector<std::string>& ids) {
    std::vector<std::string> out;
    for (const auto& id : ids) {
      if (supervisor_.Get(id)) out.push_back(id);
    }
    return out;
  };
  // The previous live instances become warm (live and warm trade places on a rollback to
  // warm). When they are gone (e.g. restored after `gravity down`) the warm set stays.
  std::vector<std::string> old_live = existing(rec.live_instances);
  if (!old_live.empty()) {
    next.warm_commit = rec.live_commit;
    next.warm_instances = old_live;
  } else if (!warm.empty()) {
    next.warm_instances.clear();
  } else {
    next.warm_instances = existing(rec.warm_instances);
  }
  if (next.warm_commit == release.commit) next.warm_instances.clear();
  next.live_instances = d.instances;
  // Whatever was live or warm and is neither now is stopped (the warm set before this one).
  for (const auto& id : existing(rec.live_instances)) {
    if (!Contains(next.live_instances, id) && !Contains(next.warm_instances, id)) {
      retire.push_back(id);
    }
  }
  for (const auto& id : existing(rec.warm_instances)) {
    if (!Contains(next.live_instances, id) && !Contains(next.warm_instances, id)) {
      retire.push_back(id);
    }
  }
  if (!old_live.empty()) {
    next.warm_until_ms = NowMs() + env.drain_timeout.count() + env.keep_previous.count();
  }
  next.live_commit = release.commit;
  next.live_instances = d.instances;
  next.live_deployment = d.id;
  d.status = "succeeded";
  d.step = "switched";
  d.switched_after_ms = outcome->switched_after_ms;
  d.duration_ms = std::chrono::duration_cast<milliseconds>(t_switched - t0).count();
  d.finished_at_ms = NowMs();
  Status saved = records_.db().Transaction([&]() -> Status {
    RETURN_IF_ERROR(records_.SaveEnvironment(next));
    return records_.UpdateDeployment(d);
  });
  if (!saved.ok()) spdlog::error("{}: recording the switch: {}", where, saved.message());
  Progress(where + ": traffic switched to " + Short(release.commit) + " in " +
           std::to_string(d.duration_ms) + "ms");
  // The superseded warm set may still be draining (deploys quicker than drain_timeout):
  // stop it only once its drain deadline has passed.
  // Either way the stop happens in Tick, off the deploy's path (it waits for processes).
  std::int64_t drain_end = rec.warm_until_ms - env.keep_previous.count();
  if (!retire.empty()) {
    std::lock_guard lock(pending_mutex_);
    pending_stops_.emplace_back(std::max(drain_end, NowMs()), retire);
  }
  d.step = "done";
  (void)records_.UpdateDeployment(d);
  ApplyRetention(app);

  DeployOutcome out;
  out.deployment_id = d.id;
  out.commit = release.commit;
  out.reused_warm = !warm.empty();
  out.duration_ms = d.duration_ms;
  out.switched_after_ms = outcome->switched_after_ms;
  out.start_ms = std::chrono::duration_cast<milliseconds>(t_started - t0).count();
  out.instances = d.instances;
  return out;
}

Result<std::string> Deployer::ResolveCommit(const std::string& app, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto releases, records_.Releases(app));
  std::vector<std::string> matches;
  for (const auto& r : releases) {
    if (r.commit.rfind(prefix, 0) == 0) matches.push_back(r.commit);
  }
  if (matches.empty()) {
    return Status::Error("no release of '" + app + "' matches commit '" + prefix + "'");
  }
  if (matches.size() > 1) {
    return Status::Error("commit '" + prefix + "' is ambiguous: it matches " +
                         std::to_string(matches.size()) + " releases of '" + app + "'");
  }
  return matches[0];
}

Result<Release> Deployer::ReleaseFromDisk(const std::string& app, const std::string& commit) {
  ASSIGN_OR_RETURN(auto rel, records_.Release(app, commit));
  if (!rel || rel->removed) {
    return Status::Error("release " + Short(commit) + " of '" + app +
                         "' is no longer kept on disk (retention)");
  }
  auto spec = config::LoadAppSpec(rel->release_dir + "/gravity.yml");
  if (!spec.ok()) {
    return Status::Error("release " + Short(commit) + " of '" + app +
                         "' cannot be relaunched: " + spec.error());
  }
  Release r;
  r.app = app;
  r.commit = commit;
  r.release_dir = rel->release_dir;
  r.spec = *spec;
  return r;
}

Result<DeployOutcome> Deployer::Rollback(const std::string& app, const std::string& env,
                                         const std::string& to_commit) {
  ASSIGN_OR_RETURN(auto found, FindEnv(app, env));
  const auto& [stack_app, env_spec] = found;
  std::lock_guard lock(EnvLock(app, env_spec.name));
  ASSIGN_OR_RETURN(EnvironmentRecord rec, records_.Environment(app, env_spec.name));
  std::string target;
  if (!to_commit.empty()) {
    ASSIGN_OR_RETURN(target, ResolveCommit(app, to_commit));
  } else if (!rec.warm_commit.empty()) {
    target = rec.warm_commit;
  } else {
    ASSIGN_OR_RETURN(auto history, records_.Deployments(app, 200));
    for (const auto& d : history) {
      if (d.environment == env_spec.name && d.status == "succeeded" &&
          d.commit != rec.live_commit) {
        target = d.commit;
        break;
      }
    }
    if (target.empty()) {
      return Status::Error(app + "/" + env_spec.name + ": no earlier release to roll back to");
    }
  }
  if (target == rec.live_commit) {
    return Status::Error(app + "/" + env_spec.name + ": release " + Short(target) +
                         " is already live");
  }
  // Warm instances of that release, all still running: swap back to them.
  if (target == rec.warm_commit && !rec.warm_instances.empty()) {
    bool all_running = true;
    for (const auto& id : rec.warm_instances) {
      auto i = supervisor_.Get(id);
      all_running &= i && i->state == runtime::InstanceState::kRunning;
    }
    if (all_running) {
      auto rel = records_.Release(app, target);
      Release release;
      release.app = app;
      release.commit = target;
      if (rel.ok() && *rel) release.release_dir = (*rel)->release_dir;
      auto spec = config::LoadAppSpec(release.release_dir + "/gravity.yml");
      if (spec.ok()) release.spec = *spec;
      return RunLocked(stack_app, env_spec, release, "rollback", rec.warm_instances);
    }
  }
  ASSIGN_OR_RETURN(Release release, ReleaseFromDisk(app, target));
  return RunLocked(stack_app, env_spec, release, "rollback", {});
}

Result<DeployOutcome> Deployer::Promote(const std::string& app, const std::string& to_env) {
  ASSIGN_OR_RETURN(auto found, FindEnv(app, to_env));
  const auto& [stack_app, env_spec] = found;
  if (env_spec.promote_from.empty()) {
    return Status::Error(app + "/" + env_spec.name +
                         " does not receive promotions (it has no promote_from)");
  }
  ASSIGN_OR_RETURN(EnvironmentRecord source, records_.Environment(app, env_spec.promote_from));
  if (source.live_commit.empty()) {
    return Status::Error(app + "/" + env_spec.promote_from + " has no live release to promote");
  }
  std::lock_guard lock(EnvLock(app, env_spec.name));
  ASSIGN_OR_RETURN(EnvironmentRecord rec, records_.Environment(app, env_spec.name));
  if (rec.live_commit == source.live_commit) {
    return Status::Error(app + "/" + env_spec.name + ": release " + Short(source.live_commit) +
                         " is already live");
  }
  ASSIGN_OR_RETURN(Release release, ReleaseFromDisk(app, source.live_commit));
  return RunLocked(stack_app, env_spec, release, "promote", {});
}

Status Deployer::RemoveEnvironment(const std::string& app, const std::string& env) {
  std::lock_guard lock(EnvLock(app, env));
  supervisor_.StopAll(app, env);
  RETURN_IF_ERROR(proxy_.Remove(ServiceName(app, env)));
  return records_.db().Exec("DELETE FROM deploy_environments WHERE app = ? AND environment = ?",
                            {app, env});
}

void Deployer::ApplyRetention(const config::StackApp& app) {
  auto envs = records_.Environments();
  auto releases = records_.Releases(app.name);
  if (!envs.ok() || !releases.ok()) return;
  std::set<std::string> protect;
  for (const auto& e : *envs) {
    if (e.app != app.name) continue;
    protect.insert(e.live_commit);
    protect.insert(e.warm_commit);
  }
  int kept = 0;
  for (const auto& r : *releases) {
    if (r.removed) continue;
    if (protect.count(r.commit) || kept < app.keep_releases) {
      ++kept;
      continue;
    }
    // Never while an instance of it runs (e.g. a deployment in flight elsewhere).
    bool in_use = false;
    for (const auto& i : supervisor_.List()) {
      in_use |= i.spec.app == app.name && i.spec.release == r.commit;
    }
    if (in_use) continue;
    Status st = RemoveTree(r.release_dir);
    if (!st.ok()) {
      spdlog::warn("retention: removing {}: {}", r.release_dir, st.message());
      continue;
    }
    (void)records_.MarkReleaseRemoved(app.name, r.commit);
    Progress(app.name + ": release " + Short(r.commit) + " removed from disk (retention)");
  }
}

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
      if (result.ok()) result = Status::Error(app + "/" + env + ": a deployment is running");
      continue;
    }
    std::set<std::string> none;
    Status st = ReconcileLocked(app, env, none);
    if (!st.ok() && result.ok()) result = st;
  }
  std::lock_guard lock(stack_mutex_);
  reconcile_pending_ = !result.ok();
  return result;
}

Status Deployer::ReconcileLocked(const std::string& app, const std::string& env,
                                 const std::set<std::string>&) {
  const std::string where = app + "/" + env;
  auto served = proxy_.Targets(ServiceName(app, env));
  if (!served.ok()) {
    return Status::Error(where + ": cannot ask the proxy what it serves: " + served.error());
  }
  std::vector<std::string> serving;
  if (*served) serving = AddressesOf(**served);
  ASSIGN_OR_RETURN(EnvironmentRecord rec, records_.Environment(app, env));
  ASSIGN_OR_RETURN(auto running, records_.RunningDeployments());
  bool changed = false;
  for (auto d : running) {
    if (d.app != app || d.environment != env) continue;
    std::vector<std::string> new_addrs = Addresses(d.instances);
    bool complete = new_addrs.size() == d.instances.size() && SameSet(new_addrs, serving);
    if (complete) {
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
      d.status = "succeeded";
      d.step = "done";
      d.error = "completed after a daemon restart: the proxy had switched traffic to it";
      changed = true;
    } else {
      if (d.step == "canary_gate" || d.step == "canary" || d.step == "promoting") {
        // A canary never promoted: drop its pool; the main pool is the live release.
        Status dropped = proxy_.DropCanary(ServiceName(app, env));
        if (!dropped.ok()) {
          return Status::Error(where + ": dropping an interrupted canary: " + dropped.message());
        }
        auto spec = FindEnv(app, env);
        WaitDrained(ServiceName(app, env), Addresses(d.instances),
                    spec.ok() ? spec->second.drain_timeout : std::chrono::seconds(30));
        auto c = nlohmann::json::parse(d.canary.empty() ? "{}" : d.canary, nullptr, false);
        if (c.is_object()) {
          c["phase"] = "dropped";
          c["verdict"] = "interrupted by a daemon restart";
          d.canary = c.dump();
        }
      }
      if (d.step == "health_wait" && !rec.live_instances.empty()) {
        // The proxy may still be running this deploy's health gate: hand it the live
        // targets again so that whatever it decides, it ends up serving the live release.
        std::vector<std::string> live_addrs = Addresses(rec.live_instances);
        if (SameSet(live_addrs, serving)) {
          ProxyRoute route;
          route.service = ServiceName(app, env);
          route.targets = live_addrs;
          if (auto a = FindEnv(app, env); a.ok()) {
            route.hosts = {a->second.host};
            route.drain_timeout = a->second.drain_timeout;
          }
          if (auto rel = ReleaseFromDisk(app, rec.live_commit); rel.ok()) {
            route.health = rel->spec.health;
          }
          route.health.healthy_threshold = 1;
          route.health.interval = std::min(route.health.interval, options_.warm_health_interval);
          auto again = proxy_.Deploy(route);
          if (!again.ok()) {
            return Status::Error(where + ": re-asserting the live targets: " + again.error());
          }
        }
      }
      std::vector<std::string> stop;
      for (const auto& id : d.instances) {
        if (!Contains(rec.live_instances, id) && !Contains(rec.warm_instances, id)) {
          stop.push_back(id);
        }
      }
      supervisor_.Stop(stop);
      d.status = d.error.empty() ? "interrupted" : "failed";
      if (d.error.empty()) {
        d.error = "interrupted at step '" + d.step + "' (daemon restarted); live release " +
                  (rec.live_commit.empty() ? "(none)" : Short(rec.live_commit)) + " kept";
      }
      d.step = "done";
    }
    d.finished_at_ms = NowMs();
    (void)records_.UpdateDeployment(d);
    spdlog::info("{}: deployment {} of {}: {}", where, d.id, Short(d.commit), d.error);
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
  // No deployment of this environment runs (the caller holds its lock): a canary pool the
  // proxy still has belongs to none (e.g. its gate finished after a restart) and goes.
  if (auto svc = proxy_.Service(ServiceName(app, env)); svc.ok() && *svc && (*svc)->has_canary) {
    spdlog::info("{}: dropping a canary pool no deployment owns", where);
    RETURN_IF_ERROR(proxy_.DropCanary(ServiceName(app, env)));
  }
  // Instances of this environment that are neither live nor warm are orphans.
  std::set<std::string> draining;
  {
    std::lock_guard lock(pending_mutex_);
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
    spdlog::info("{}: stopping {} instance(s) no deployment owns", where, orphans.size());
    supervisor_.Stop(orphans);
  }
  return Status::Ok();
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
    if (rescale) {
      Progress(e.app + "/" + e.environment + ": scaling live release " + Short(e.live_commit) +
               " from " + std::to_string(e.live_instances.size()) + " to " +
               std::to_string(found->second.instances) + " instances");
    } else {
      Progress(e.app + "/" + e.environment + ": starting live release " + Short(e.live_commit) +
               " again");
    }
    auto out = RunLocked(found->first, found->second, *release, rescale ? "scale" : "restore", {});
    if (!out.ok() && result.ok()) result = out.status();
  }
  return result;
}

void Deployer::Tick() {
  bool pending;
  {
    std::lock_guard lock(stack_mutex_);
    pending = reconcile_pending_;
  }
  if (pending) {
    Status st = Reconcile();
    if (!st.ok()) spdlog::debug("reconcile pending: {}", st.message());
  }
  std::int64_t now = NowMs();
  std::vector<std::string> due;
  {
    std::lock_guard lock(pending_mutex_);
    for (auto it = pending_stops_.begin(); it != pending_stops_.end();) {
      if (it->first <= now) {
        due.insert(due.end(), it->second.begin(), it->second.end());
        it = pending_stops_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (!due.empty()) {
    supervisor_.Stop(due);
    // Their releases may have been kept only because they were running.
    config::StackSpec stack;
    {
      std::lock_guard lock(stack_mutex_);
      stack = stack_;
    }
    for (const auto& app : stack.apps) ApplyRetention(app);
  }
  auto envs = records_.Environments();
  if (!envs.ok()) return;
  for (auto e : *envs) {
    if (e.warm_instances.empty() || now < e.warm_until_ms) continue;
    std::unique_lock lock(EnvLock(e.app, e.environment), std::try_to_lock);
    if (!lock.owns_lock()) continue;  // a deployment is running; next time
    auto fresh = records_.Environment(e.app, e.environment);
    if (!fresh.ok() || fresh->warm_instances.empty() || now < fresh->warm_until_ms) continue;
    std::vector<std::string> stop;
    for (const auto& id : fresh->warm_instances) {
      if (!Contains(fresh->live_instances, id)) stop.push_back(id);
    }
    fresh->warm_instances.clear();
    (void)records_.SaveEnvironment(*fresh);  // warm_commit stays: rollback relaunches it
    supervisor_.Stop(stop);
    Progress(e.app + "/" + e.environment + ": previous release " + Short(fresh->warm_commit) +
             " stopped (keep_previous elapsed)");
  }
}

json Deployer::StatusJson() {
  config::StackSpec stack;
  {
    std::lock_guard lock(stack_mutex_);
    stack = stack_;
  }
  auto instances = supervisor_.List();
  auto instance_json = [&](const std::string& id, const std::map<std::string, ProxyTarget>& health,
                           const std::string& role) {
    json j = {{"id", id}, {"role", role}};
    for (const auto& i : instances) {
      if (i.id != id) continue;
      j["port"] = i.port;
      j["pid"] = i.process.pid;
      j["state"] = runtime::InstanceStateName(i.state);
      j["restarts"] = i.restarts;
      j["release"] = i.spec.release;
      j["last_exit"] = i.last_exit;
      j["log"] = i.log_path;
      auto h = health.find(i.address());
      j["health"] =
          h == health.end() ? (role == "live" ? "unknown" : "out of traffic") : h->second.state;
      if (h != health.end() && !h->second.last_error.empty()) {
        j["health_error"] = h->second.last_error;
      }
    }
    if (!j.contains("state")) j["state"] = "gone";
    return j;
  };
  json apps = json::array();
  for (const auto& app : stack.apps) {
    json envs = json::array();
    for (const auto& env : app.environments) {
      auto rec = records_.Environment(app.name, env.name);
      json e = {{"name", env.name},
                {"host", env.host},
                {"branch", env.branch},
                {"promote_from", env.promote_from},
                {"instances_wanted", env.instances}};
      std::map<std::string, ProxyTarget> health;
      auto served = proxy_.Targets(ServiceName(app.name, env.name));
      if (served.ok() && *served) {
        for (const auto& t : **served) health[t.address] = t;
      } else if (!served.ok()) {
        e["proxy_error"] = served.error();
      }
      if (rec.ok()) {
        e["live_release"] = rec->live_commit.empty() ? json(nullptr) : json(rec->live_commit);
        json list = json::array();
        for (const auto& id : rec->live_instances)
          list.push_back(instance_json(id, health, "live"));
        e["instances"] = list;
        if (!rec->warm_instances.empty()) {
          json warm = json::array();
          for (const auto& id : rec->warm_instances) {
            warm.push_back(instance_json(id, health, "warm"));
          }
          e["warm"] = {
              {"commit", rec->warm_commit}, {"until_ms", rec->warm_until_ms}, {"instances", warm}};
        } else {
          e["warm"] = nullptr;
        }
        if (rec->live_deployment > 0) {
          auto d = records_.Deployment(rec->live_deployment);
          if (d.ok() && *d) e["live_since_ms"] = (*d)->finished_at_ms;
        }
      }
      auto history = records_.Deployments(app.name, 20);
      if (history.ok()) {
        for (const auto& d : *history) {
          if (d.environment != env.name) continue;
          e["last_deployment"] = {{"id", d.id},
                                  {"commit", d.commit},
                                  {"kind", d.kind},
                                  {"status", d.status},
                                  {"step", d.step},
                                  {"error", d.error},
                                  {"started_at_ms", d.started_at_ms},
                                  {"duration_ms", d.duration_ms}};
          if (!d.canary.empty()) {
            json c = json::parse(d.canary, nullptr, false);
            if (!c.is_discarded()) {
              e["last_deployment"]["canary"] = c;
              // A canary in progress: what `gravity status` shows while it is observed.
              if (d.status == "running") e["canary"] = c;
            }
          }
          break;
        }
      }
      envs.push_back(e);
    }
    apps.push_back({{"name", app.name}, {"environments", envs}});
  }
  return {{"apps", apps}};
}

Result<json> Deployer::ReleasesJson(const std::string& app) {
  {
    std::lock_guard lock(stack_mutex_);
    if (!stack_.FindApp(app)) return Status::Error("no app named '" + app + "' in the stack");
  }
  ASSIGN_OR_RETURN(auto releases, records_.Releases(app));
  ASSIGN_OR_RETURN(auto envs, records_.Environments());
  ASSIGN_OR_RETURN(auto history, records_.Deployments(app, 100));
  json list = json::array();
  for (const auto& r : releases) {
    json live_on = json::array(), warm_on = json::array();
    for (const auto& e : envs) {
      if (e.app != app) continue;
      if (e.live_commit == r.commit) live_on.push_back(e.environment);
      if (e.warm_commit == r.commit && !e.warm_instances.empty()) warm_on.push_back(e.environment);
    }
    list.push_back({{"commit", r.commit},
                    {"release_dir", r.release_dir},
                    {"on_disk", !r.removed},
                    {"live_on", live_on},
                    {"warm_on", warm_on},
                    {"first_deployed_ms", r.first_deployed_ms},
                    {"last_deployed_ms", r.last_deployed_ms}});
  }
  json deployments = json::array();
  for (const auto& d : history) {
    deployments.push_back(
        {{"id", d.id},
         {"environment", d.environment},
         {"commit", d.commit},
         {"kind", d.kind},
         {"status", d.status},
         {"error", d.error},
         {"previous_commit", d.previous_commit},
         {"started_at_ms", d.started_at_ms},
         {"finished_at_ms", d.finished_at_ms},
         {"duration_ms", d.duration_ms},
         {"switched_after_ms", d.switched_after_ms},
         {"canary", d.canary.empty() ? json(nullptr) : json::parse(d.canary, nullptr, false)}});
  }
  return json{{"app", app}, {"releases", list}, {"deployments", deployments}};
}

}  // namespace gravity::deploy
