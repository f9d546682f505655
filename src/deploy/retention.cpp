// Periodic work (Tick): a pending Reconcile retried, superseded instances stopped once
// their drain deadline passed, warm instances stopped after keep_previous, and releases on
// disk beyond keep_releases removed.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/commit.h"
#include "common/fs.h"
#include "deploy/deployer.h"

namespace gravity::deploy {

void Deployer::Tick() {
  bool pending;
  {
    MutexLock lock(stack_mutex_);
    pending = reconcile_pending_;
  }
  if (pending) {
    Status st = Reconcile();
    if (!st.ok()) spdlog::debug("reconcile pending: {}", st.message());
  }
  SendWebhookRoute();
  std::int64_t now = NowMs();
  StopDueInstances(now);
  StopExpiredWarm(now);
}

void Deployer::RouteWebhooks(const std::string& host, const std::string& address) {
  ProxyRoute route;
  route.service = kWebhookService;
  route.hosts = {host};
  route.path_prefix = "/hooks/";
  route.targets = {address};
  route.health.path = "/hooks";
  route.health.healthy_threshold = 1;
  route.health.interval = std::chrono::milliseconds(200);
  route.health.deploy_timeout = std::chrono::seconds(10);
  route.drain_timeout = std::chrono::seconds(5);
  MutexLock lock(stack_mutex_);
  webhook_route_ = route;
}

void Deployer::SendWebhookRoute() {
  std::optional<ProxyRoute> route;
  bool routed = false;
  {
    MutexLock lock(stack_mutex_);
    route = webhook_route_;
    routed = webhook_routed_;
    // Looked at every 10 s once routed, retried every second until then.
    if (NowMs() - webhook_checked_ms_ < (routed ? 10'000 : 1'000)) return;
    webhook_checked_ms_ = NowMs();
  }
  if (!route) return;
  if (routed) {
    // Still there? A proxy that lost its routes file gets it again.
    auto svc = proxy_.Service(kWebhookService);
    if (!svc.ok()) return;  // not answering: ask again later
    bool same = *svc && (*svc)->main.size() == 1 && (*svc)->main[0].address == route->targets[0];
    if (same) return;
    spdlog::warn("webhooks: the proxy no longer routes {}/hooks/: sending the route again",
                 route->hosts[0]);
  }
  auto out = proxy_.Deploy(*route);
  MutexLock lock(stack_mutex_);
  webhook_routed_ = out.ok() && out->switched;
  if (!webhook_routed_) {
    // Not up yet, or refused (e.g. another service claims the host and path): say why
    // once per reason, then retry.
    std::string why = out.ok() ? out->error : out.error();
    if (why != webhook_error_) spdlog::warn("webhooks: the proxy has not taken the route: {}", why);
    webhook_error_ = why;
    return;
  }
  webhook_error_.clear();
  spdlog::info("webhooks: the proxy routes {}/hooks/ to {}", route->hosts[0], route->targets[0]);
}

void Deployer::StopDueInstances(std::int64_t now) {
  std::vector<std::string> due;
  {
    MutexLock lock(pending_mutex_);
    for (auto it = pending_stops_.begin(); it != pending_stops_.end();) {
      if (it->first <= now) {
        due.insert(due.end(), it->second.begin(), it->second.end());
        it = pending_stops_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (due.empty()) return;
  supervisor_.Stop(due);
  // Their releases may have been kept only because they were running.
  for (const auto& app : StackCopy().apps) ApplyRetention(app);
}

void Deployer::StopExpiredWarm(std::int64_t now) {
  auto envs = records_.Environments();
  if (!envs.ok()) return;
  for (const auto& e : *envs) {
    if (e.warm_instances.empty() || now < e.warm_until_ms) continue;
    std::unique_lock lock(EnvLock(e.app, e.environment), std::try_to_lock);
    if (!lock.owns_lock()) continue;  // a deployment is running; next time
    auto fresh = records_.Environment(e.app, e.environment);
    if (!fresh.ok() || fresh->warm_instances.empty() || now < fresh->warm_until_ms) continue;
    std::vector<std::string> stop;
    for (const auto& id : fresh->warm_instances) {
      if (std::find(fresh->live_instances.begin(), fresh->live_instances.end(), id) ==
          fresh->live_instances.end()) {
        stop.push_back(id);
      }
    }
    fresh->warm_instances.clear();
    (void)records_.SaveEnvironment(*fresh);  // warm_commit stays: rollback relaunches it
    supervisor_.Stop(stop);
    Progress(e.app + "/" + e.environment + ": previous release " +
             ShortCommit(fresh->warm_commit) + " stopped (keep_previous elapsed)");
  }
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
    Progress(app.name + ": release " + ShortCommit(r.commit) + " removed from disk (retention)");
  }
}

}  // namespace gravity::deploy
