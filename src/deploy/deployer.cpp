// The Deployer's entry points and shared helpers; the steps live in the files named in
// deployer.h.
#include "deploy/deployer.h"

#include <spdlog/spdlog.h>

#include "common/commit.h"

namespace gravity::deploy {

Deployer::Deployer(store::Db& db, runtime::Supervisor& supervisor, ProxyControl& proxy,
                   Clock& clock, DeployerOptions options)
    : records_(db), supervisor_(supervisor), proxy_(proxy), clock_(clock), options_(options) {}

Status Deployer::Init() { return records_.Migrate(); }

void Deployer::SetStack(const config::StackSpec& stack) {
  MutexLock lock(stack_mutex_);
  stack_ = stack;
}

config::StackSpec Deployer::StackCopy() {
  MutexLock lock(stack_mutex_);
  return stack_;
}

void Deployer::MarkReconcilePending() {
  MutexLock lock(stack_mutex_);
  reconcile_pending_ = true;
}

void Deployer::SetProgress(std::function<void(const std::string&)> progress) {
  progress_ = std::move(progress);
}

void Deployer::Progress(const std::string& line, const LogSink& log) {
  spdlog::info("{}", line);
  if (progress_) progress_(line);
  if (log) log(line);
}

void Deployer::Sleep(std::chrono::milliseconds d) {
  if (options_.sleep) {
    options_.sleep(d);
  } else {
    clock_.SleepFor(d);
  }
}

std::int64_t Deployer::NowMs() const { return clock_.WallMs(); }

std::mutex& Deployer::EnvLock(const std::string& app, const std::string& env) {
  MutexLock lock(locks_mutex_);
  auto& m = env_locks_[app + "\n" + env];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

Result<std::pair<config::StackApp, config::EnvironmentSpec>> Deployer::FindEnv(
    const std::string& app, const std::string& env) {
  MutexLock lock(stack_mutex_);
  const config::StackApp* a = stack_.FindApp(app);
  if (!a) return Status::NotFound("no app named '" + app + "' in the stack");
  if (env.empty()) {
    if (a->environments.size() != 1) {
      return Status::InvalidArgument("app '" + app + "' has " +
                                     std::to_string(a->environments.size()) +
                                     " environments: name one with --env");
    }
    return std::make_pair(*a, a->environments[0]);
  }
  const config::EnvironmentSpec* e = a->FindEnvironment(env);
  if (!e) return Status::NotFound("app '" + app + "' has no environment named '" + env + "'");
  return std::make_pair(*a, *e);
}

std::vector<std::string> Deployer::Addresses(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    if (auto i = supervisor_.Get(id)) out.push_back(i->address());
  }
  return out;
}

Result<DeployOutcome> Deployer::Deploy(const std::string& env, const Release& release,
                                       const LogSink& log, const VerifyHook& verify) {
  ASSIGN_OR_RETURN(auto found, FindEnv(release.app, env));
  std::lock_guard lock(EnvLock(release.app, found.second.name));
  return RunLocked(found.first, found.second, release, DeploymentKind::kDeploy, {}, log, verify);
}

bool Deployer::ServesLive(const std::string& app, const std::string& env,
                          const std::string& commit) {
  auto found = FindEnv(app, env);
  if (!found.ok()) return false;
  std::lock_guard lock(EnvLock(app, found->second.name));
  auto rec = records_.Environment(app, found->second.name);
  if (!rec.ok() || rec->live_commit != commit || rec->live_instances.empty()) return false;
  for (const auto& id : rec->live_instances) {
    auto i = supervisor_.Get(id);
    if (!i || i->state == runtime::InstanceState::kFailed) return false;
  }
  return true;
}

Result<DeployOutcome> Deployer::Rollback(const std::string& app, const std::string& env,
                                         const std::string& to_commit) {
  ASSIGN_OR_RETURN(auto found, FindEnv(app, env));
  const auto& [stack_app, env_spec] = found;
  InterruptWatch(app, env_spec.name);
  std::lock_guard lock(EnvLock(app, env_spec.name));
  ASSIGN_OR_RETURN(EnvironmentRecord rec, records_.Environment(app, env_spec.name));
  ASSIGN_OR_RETURN(std::string target, RollbackTarget(app, env_spec.name, rec, to_commit));
  // Warm instances of that release, all still running: swap back to them.
  if (target == rec.warm_commit && !rec.warm_instances.empty()) {
    bool all_running = true;
    for (const auto& id : rec.warm_instances) {
      auto i = supervisor_.Get(id);
      all_running &= i && i->state == runtime::InstanceState::kRunning;
    }
    if (all_running) {
      return RunLocked(stack_app, env_spec, WarmRelease(app, target), DeploymentKind::kRollback,
                       rec.warm_instances);
    }
  }
  ASSIGN_OR_RETURN(Release release, ReleaseFromDisk(app, target));
  return RunLocked(stack_app, env_spec, release, DeploymentKind::kRollback, {});
}

Result<DeployOutcome> Deployer::Promote(const std::string& app, const std::string& to_env) {
  ASSIGN_OR_RETURN(auto found, FindEnv(app, to_env));
  const auto& [stack_app, env_spec] = found;
  if (env_spec.promote_from.empty()) {
    return Status::InvalidArgument(app + "/" + env_spec.name +
                                   " does not receive promotions (it has no promote_from)");
  }
  ASSIGN_OR_RETURN(EnvironmentRecord source, records_.Environment(app, env_spec.promote_from));
  if (source.live_commit.empty()) {
    return Status::FailedPrecondition(app + "/" + env_spec.promote_from +
                                      " has no live release to promote");
  }
  InterruptWatch(app, env_spec.name);
  std::lock_guard lock(EnvLock(app, env_spec.name));
  ASSIGN_OR_RETURN(EnvironmentRecord rec, records_.Environment(app, env_spec.name));
  if (rec.live_commit == source.live_commit) {
    return Status::Conflict(app + "/" + env_spec.name + ": release " +
                            ShortCommit(source.live_commit) + " is already live");
  }
  ASSIGN_OR_RETURN(Release release, ReleaseFromDisk(app, source.live_commit));
  return RunLocked(stack_app, env_spec, release, DeploymentKind::kPromote, {});
}

Status Deployer::RemoveEnvironment(const std::string& app, const std::string& env) {
  InterruptWatch(app, env);
  std::lock_guard lock(EnvLock(app, env));
  supervisor_.StopAll(app, env);
  RETURN_IF_ERROR(proxy_.Remove(ServiceName(app, env)));
  return records_.RemoveEnvironment(app, env);
}

}  // namespace gravity::deploy
