// The deployer's state as JSON documents: `gravity status --json` (StatusJson) and
// `gravity releases APP --json` (ReleasesJson). Kinds, statuses and steps become their
// names here.
#include <nlohmann/json.hpp>

#include "deploy/deployer.h"
#include "runtime/sandbox.h"

namespace gravity::deploy {

namespace {

using json = nlohmann::json;

json InstanceJson(const std::string& id, const std::string& role,
                  const std::vector<runtime::InstanceInfo>& instances,
                  const std::map<std::string, ProxyTarget>& health) {
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
}

json LastDeploymentJson(const DeploymentRecord& d) {
  json j = {{"id", d.id},
            {"commit", d.commit},
            {"kind", Name(d.kind)},
            {"status", Name(d.status)},
            {"step", Name(d.step)},
            {"error", d.error},
            {"started_at_ms", d.started_at_ms},
            {"duration_ms", d.duration_ms}};
  if (d.canary) j["canary"] = CanaryJson(*d.canary);
  if (d.watch) j["watch"] = WatchJson(*d.watch);
  return j;
}

}  // namespace

json DeploymentJson(const DeploymentRecord& d) {
  return {{"id", d.id},
          {"app", d.app},
          {"environment", d.environment},
          {"commit", d.commit},
          {"kind", Name(d.kind)},
          {"status", Name(d.status)},
          {"step", Name(d.step)},
          {"error", d.error},
          {"previous_commit", d.previous_commit},
          {"instances", d.instances},
          {"started_at_ms", d.started_at_ms},
          {"finished_at_ms", d.finished_at_ms},
          {"duration_ms", d.duration_ms},
          {"switched_after_ms", d.switched_after_ms},
          {"canary", d.canary ? CanaryJson(*d.canary) : json(nullptr)},
          {"watch", d.watch ? WatchJson(*d.watch) : json(nullptr)}};
}

Result<std::optional<json>> Deployer::DeploymentView(std::int64_t id) {
  ASSIGN_OR_RETURN(auto d, records_.Deployment(id));
  if (!d) return std::optional<json>();
  return std::optional<json>(DeploymentJson(*d));
}

json Deployer::StatusJson() {
  config::StackSpec stack = StackCopy();
  auto instances = supervisor_.List();
  json apps = json::array();
  for (const auto& app : stack.apps) {
    json envs = json::array();
    for (const auto& env : app.environments) {
      json e = {{"name", env.name},
                {"host", env.host},
                {"branch", env.branch},
                {"promote_from", env.promote_from},
                {"instances_wanted", env.instances},
                {"sandbox", env.sandbox == SandboxMode::kOff ? "off" : "strict"}};
      std::map<std::string, ProxyTarget> health;
      auto served = proxy_.Targets(ServiceName(app.name, env.name));
      if (served.ok() && *served) {
        for (const auto& t : **served) health[t.address] = t;
      } else if (!served.ok()) {
        e["proxy_error"] = served.error();
      }
      if (auto rec = records_.Environment(app.name, env.name); rec.ok()) {
        e["live_release"] = rec->live_commit.empty() ? json(nullptr) : json(rec->live_commit);
        json list = json::array();
        for (const auto& id : rec->live_instances) {
          list.push_back(InstanceJson(id, "live", instances, health));
        }
        e["instances"] = list;
        e["warm"] = nullptr;
        if (!rec->warm_instances.empty()) {
          json warm = json::array();
          for (const auto& id : rec->warm_instances) {
            warm.push_back(InstanceJson(id, "warm", instances, health));
          }
          e["warm"] = {
              {"commit", rec->warm_commit}, {"until_ms", rec->warm_until_ms}, {"instances", warm}};
        }
        if (rec->live_deployment > 0) {
          auto d = records_.Deployment(rec->live_deployment);
          if (d.ok() && *d) e["live_since_ms"] = (*d)->finished_at_ms;
        }
      }
      if (auto history = records_.Deployments(app.name, 20); history.ok()) {
        for (const auto& d : *history) {
          if (d.environment != env.name) continue;
          e["last_deployment"] = LastDeploymentJson(d);
          // A canary in progress: what `gravity status` shows while it is observed.
          if (d.canary && d.status == DeploymentStatus::kRunning) e["canary"] = CanaryJson(*d.canary);
          break;
        }
      }
      envs.push_back(e);
    }
    apps.push_back({{"name", app.name}, {"environments", envs}});
  }
  return {{"apps", apps}, {"sandbox", runtime::SandboxSummary()}};
}

Result<json> Deployer::ReleasesJson(const std::string& app) {
  {
    MutexLock lock(stack_mutex_);
    if (!stack_.FindApp(app)) return Status::NotFound("no app named '" + app + "' in the stack");
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
  for (const auto& d : history) deployments.push_back(DeploymentJson(d));
  return json{{"app", app}, {"releases", list}, {"deployments", deployments}};
}

}  // namespace gravity::deploy
