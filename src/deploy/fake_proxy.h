#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "deploy/proxy_control.h"

namespace gravity::deploy {

// The proxy seam for unit tests, with both pools. Serves per service the targets of the
// last successful deploy (`served`, the main pool), the canary pool (`canary`) and its
// baseline pool (`baseline`).
// Targets in `unhealthy` fail the main health gate; a service in `deploying` has a gate
// in progress (a deploy to it is refused as busy); `gate_fails` fails the canary's; `down`
// makes every main-pool call a transport error. Counters move only when the test says so
// (`on_poll` runs on every Service() call, i.e. on every check of a canary's observation).
// Thread-safe: every call takes mutex_; tests read and write the fields between calls.
class FakeProxy : public ProxyControl {
 public:
  Result<ProxyDeployOutcome> Deploy(const ProxyRoute& route) override {
    std::lock_guard lock(mutex_);
    routes.push_back(route);
    if (down) return Status::Unavailable("connect to proxy.sock: connection refused");
    ProxyDeployOutcome out;
    if (deploying.count(route.service)) {
      out.error = "a deploy of '" + route.service + "' is already in progress";
      return out;
    }
    for (const auto& t : route.targets) {
      if (unhealthy.count(t)) out.failures.push_back({t, "connection refused"});
    }
    if (!out.failures.empty()) {
      out.error = std::to_string(out.failures.size()) + " target(s) did not become healthy";
      return out;
    }
    served[route.service] = route.targets;
    out.switched = true;
    out.switched_after_ms = 5;
    return out;
  }
  Result<std::optional<std::vector<ProxyTarget>>> Targets(const std::string& service) override {
    std::lock_guard lock(mutex_);
    if (down) return Status::Unavailable("connect to proxy.sock: connection refused");
    auto it = served.find(service);
    if (it == served.end()) return std::optional<std::vector<ProxyTarget>>();
    std::vector<ProxyTarget> out;
    for (const auto& a : it->second) out.push_back({a, "healthy", ""});
    return std::optional<std::vector<ProxyTarget>>(out);
  }
  Result<bool> DeployInProgress(const std::string& service) override {
    bool in_progress;
    std::function<void()> hook;
    {
      std::lock_guard lock(mutex_);
      if (down) return Status::Unavailable("connect to proxy.sock: connection refused");
      in_progress = deploying.count(service) > 0;
      hook = after_deploy_in_progress;
    }
    if (hook) hook();
    return in_progress;
  }
  Status Remove(const std::string& service) override {
    std::lock_guard lock(mutex_);
    served.erase(service);
    return Status::Ok();
  }
  Result<ProxyDeployOutcome> DeployCanary(const ProxyRoute& route, int weight) override {
    std::lock_guard lock(mutex_);
    ++canary_deploys;
    ProxyDeployOutcome out;
    for (const auto& t : route.targets) {
      if (gate_fails) out.failures.push_back({t, "status 500 (expected 200)"});
    }
    if (!out.failures.empty()) {
      out.error = "1 target did not become healthy";
      return out;
    }
    canary[route.service] = route.targets;
    if (route.baseline_targets.empty()) {
      baseline.erase(route.service);
    } else {
      baseline[route.service] = route.baseline_targets;
    }
    canary_weight = weight;
    out.switched = true;
    return out;
  }
  Status SetCanaryWeight(const std::string& service, int weight) override {
    std::lock_guard lock(mutex_);
    if (!canary.count(service)) return Status::NotFound("service has no canary");
    canary_weight = weight;
    weights.push_back(weight);
    return Status::Ok();
  }
  Status PromoteCanary(const std::string& service) override {
    std::lock_guard lock(mutex_);
    if (!canary.count(service)) return Status::NotFound("service has no canary");
    served[service] = canary[service];
    canary.erase(service);
    baseline.erase(service);
    ++promotes;
    return Status::Ok();
  }
  Status DropCanary(const std::string& service) override {
    std::lock_guard lock(mutex_);
    baseline.erase(service);
    if (canary.erase(service)) ++drops;
    return Status::Ok();
  }
  Result<std::optional<ProxyService>> Service(const std::string& service) override {
    std::function<void()> hook;
    {
      std::lock_guard lock(mutex_);
      hook = on_poll;
    }
    if (hook) hook();
    std::lock_guard lock(mutex_);
    if (!served.count(service)) return std::optional<ProxyService>();
    ProxyService s;
    for (const auto& a : served[service]) s.main.push_back({a, "healthy", ""});
    s.main_requests = main_requests;
    if (canary.count(service)) {
      s.has_canary = true;
      s.canary_weight = canary_weight;
      for (const auto& a : canary[service]) s.canary.push_back({a, "healthy", ""});
      s.canary_requests = canary_requests;
    }
    if (baseline.count(service)) {
      s.has_baseline = true;
      for (const auto& a : baseline[service]) s.baseline.push_back({a, "healthy", ""});
      s.baseline_requests = baseline_requests;
    }
    return std::optional<ProxyService>(s);
  }

  std::mutex mutex_;
  bool down = false;
  std::set<std::string> unhealthy;
  std::set<std::string> deploying;  // services whose (earlier) health gate still runs
  bool gate_fails = false;
  std::map<std::string, std::vector<std::string>> served, canary, baseline;
  std::vector<ProxyRoute> routes;
  int canary_weight = 0;
  std::vector<int> weights;  // SetCanaryWeight calls, in order
  PoolRequests main_requests{1000, 3};   // from before a canary: not counted
  PoolRequests canary_requests{50, 50};  // an earlier canary's: not counted
  PoolRequests baseline_requests;
  std::function<void()> on_poll;
  std::function<void()> after_deploy_in_progress;  // runs after each answer, unlocked
  int canary_deploys = 0, promotes = 0, drops = 0;
};

}  // namespace gravity::deploy
