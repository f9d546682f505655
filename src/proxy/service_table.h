#pragma once

// The services the proxy routes to, as the control thread owns them: each target with its
// health state machine and check loop, the pools, the draining targets, and the per-pool
// statistics. Every change goes the same way — Commit(): publish a new RouteTable to every
// worker, save the state file, drain what left the pools — so the control API only decides
// what changes.
// Thread-safety: everything here runs on the control thread (the io_context given).

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/config.h"
#include "proxy/health.h"
#include "proxy/internal.h"

namespace gravity::proxy {

struct TargetRuntime {
  TargetRuntime(std::shared_ptr<Target> t, HealthSpec h, HealthState initial)
      : target(std::move(t)),
        health(std::move(h)),
        machine(health.healthy_threshold, health.unhealthy_threshold, initial) {}
  std::shared_ptr<Target> target;
  HealthSpec health;
  HealthMachine machine;
  bool stopped = false;
};
using TargetRef = std::shared_ptr<TargetRuntime>;

struct PoolRuntime {
  std::vector<TargetRef> targets;
  HealthSpec health;
};

struct ServiceRuntime {
  ServiceSpec spec;  // hosts, prefix, timeouts; pools mirrored from below on save
  PoolRuntime main;
  std::optional<PoolRuntime> canary;
  // With a canary only: the live release's fresh instances the canary is compared with,
  // with the same share of clients, health-checked with the main pool's spec (the same
  // release).
  std::optional<PoolRuntime> baseline;
  int canary_weight = 0;
  std::string candidate_token;  // CanaryRequest::candidate_token; not persisted
  std::vector<TargetRef> draining;
  std::shared_ptr<PoolStats> main_stats = std::make_shared<PoolStats>();
  std::shared_ptr<PoolStats> canary_stats = std::make_shared<PoolStats>();
  std::shared_ptr<PoolStats> baseline_stats = std::make_shared<PoolStats>();
};

class ServiceTable {
 public:
  ServiceTable(asio::io_context& io, Clock& clock,
               const std::vector<std::unique_ptr<Worker>>& workers, std::string state_path)
      : io_(io), clock_(clock), workers_(workers), state_path_(std::move(state_path)) {}

  // Loads the state file (a bad one is reported and ignored) and starts health checks.
  void Restore();
  void Stop() { stopping_ = true; }  // waits give up; drains skip their wait for acks

  ServiceRuntime* Find(const std::string& name);
  ServiceRuntime& Create(const std::string& name);
  // Removes a service: out of routing at once, its targets drained.
  void Remove(const std::string& name);

  // A target with its own health checks, not yet in any pool.
  TargetRef NewTarget(const std::string& address, const HealthSpec& health, HealthState initial);
  std::vector<TargetRef> NewTargets(const PoolSpec& pool);  // unknown health, checks running
  void StopChecks(const TargetRef& t);
  void StopChecks(const std::vector<TargetRef>& ts);
  // Feeds a passive failure (a worker's failed connection) to target `id`'s machine.
  void PassiveFailure(std::uint64_t id, const std::string& reason);
  // Waits until every target is healthy or `timeout` passed; on failure says why per target.
  asio::awaitable<Status> WaitHealthy(const std::vector<TargetRef>& targets,
                                      milliseconds timeout, nlohmann::json* failures);

  // One deploy or canary deploy per service at a time, a first deploy (no service yet)
  // included: BeginDeploy is false while another one's health gate runs.
  bool BeginDeploy(const std::string& name) { return deploying_.insert(name).second; }
  void EndDeploy(const std::string& name) { deploying_.erase(name); }
  bool Deploying(const std::string& name) const { return deploying_.count(name) > 0; }
  // The services with a deploy in progress, for the listing.
  std::vector<std::string> DeploysInProgress() const {
    return {deploying_.begin(), deploying_.end()};
  }

  Status CheckRouteConflict(const ServiceSpec& spec) const;
  // Publishes and saves the table after a change to `svc`, then drains `leaving`.
  void Commit(ServiceRuntime& svc, std::vector<TargetRef> leaving, milliseconds drain_timeout);

  nlohmann::json Describe(const ServiceRuntime& svc) const;
  nlohmann::json DescribeAll() const;
  std::string RenderMetrics() const;
  std::size_t size() const { return services_.size(); }

 private:
  void Publish();
  void Save();
  void Drain(ServiceRuntime& svc, std::vector<TargetRef> targets, milliseconds timeout);
  void Feed(TargetRuntime& t, const CheckResult& r);
  void StartChecks(const TargetRef& t);
  asio::awaitable<void> CheckLoop(TargetRef t);
  std::vector<RouteKey> Keys() const;

  asio::io_context& io_;
  Clock& clock_;
  const std::vector<std::unique_ptr<Worker>>& workers_;
  const std::string state_path_;
  std::map<std::string, std::unique_ptr<ServiceRuntime>> services_;
  std::unordered_map<std::uint64_t, TargetRef> by_id_;
  std::set<std::string> deploying_;
  std::uint64_t next_target_id_ = 1;
  bool stopping_ = false;
  // Workers that applied the latest published table (a drain waits for all of them: only
  // then can no new request pick a removed target).
  std::shared_ptr<std::atomic<int>> last_publish_acks_;
};

}  // namespace gravity::proxy
