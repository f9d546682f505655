#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/health_check_spec.h"
#include "common/status.h"
#include "config/spec.h"

namespace gravity::deploy {

// What the deployer asks the proxy to serve for one environment (a proxy "service").
struct ProxyRoute {
  std::string service;             // "<app>.<env>"
  std::vector<std::string> hosts;  // from the environment's `host`
  std::string path_prefix = "/";
  std::vector<std::string> targets;  // "127.0.0.1:PORT" of the new instances
  config::HealthSpec health;         // health gate and deploy_timeout
  config::Duration drain_timeout = std::chrono::seconds(30);
  config::Duration hsts = config::Duration::zero();  // the environment's hsts: max-age
  // DeployCanary only: requests with `X-Gravity-Candidate: <token>` reach the canary pool
  // whatever its weight (the verify step).
  std::string candidate_token;
  // DeployCanary only: the baseline pool's targets (fresh instances of the live release),
  // gated with the canary's and given the same share of clients; empty: none.
  std::vector<std::string> baseline_targets;
  bool operator==(const ProxyRoute&) const = default;
};

// The proxy's verdict on a deploy it ran to the end.
struct ProxyDeployOutcome {
  bool switched = false;                // traffic now goes to the new targets
  std::int64_t switched_after_ms = 0;   // as measured by the proxy
  std::string error;                    // when not switched: one line
  std::vector<TargetFailure> failures;  // when not switched: per target
};

struct ProxyTarget {
  std::string address;
  std::string state;  // healthy | unhealthy | unknown | draining
  std::string last_error;
};

// Requests a pool has answered since the proxy started (counters; they restart at 0 when the
// proxy restarts), or in a window (the difference of two such readings): counts, and the
// latencies in the fine bins of common/latency_bins.h (latency[b]: requests in bin b; may be
// shorter than latency::kBins, or empty).
struct PoolRequests {
  std::uint64_t total = 0;
  std::uint64_t errors_5xx = 0;
  std::uint64_t errors_4xx = 0;
  std::vector<std::uint64_t> latency;

  std::uint64_t LatencyCount() const;
  // The q-quantile (0..1) of the latencies in milliseconds (a bin's middle); 0 when empty.
  double QuantileMs(double q) const;
  // This reading minus an earlier one. Counters that went down mean the proxy restarted:
  // then this whole reading.
  PoolRequests Since(const PoolRequests& base) const;
};

// The proxy's view of one service, with its pools (for canary analysis).
struct ProxyService {
  std::vector<ProxyTarget> main;  // without draining targets
  PoolRequests main_requests;
  bool has_canary = false;
  int canary_weight = 0;
  std::vector<ProxyTarget> canary;
  PoolRequests canary_requests;
  bool has_baseline = false;  // a canary's baseline pool
  std::vector<ProxyTarget> baseline;
  PoolRequests baseline_requests;
  std::map<std::string, std::int64_t> draining_in_flight;  // draining target -> requests
};

// The seam to `gravity proxy`'s control API (the real one adapts proxy::ControlClient;
// tests use a fake). Implementations must be thread-safe.
class ProxyControl {
 public:
  virtual ~ProxyControl() = default;
  // Health-gated swap. A Result error means the request may have reached the proxy but no
  // answer came back (connection lost, timeout): whether traffic switched is unknown. A
  // value means it is known: switched, or not (refused, unreachable, bad request — live
  // traffic untouched).
  virtual Result<ProxyDeployOutcome> Deploy(const ProxyRoute& route) = 0;
  // The main pool's targets of `service` as the proxy serves them now; nullopt when the
  // proxy has no such service. Error when the proxy cannot be asked.
  virtual Result<std::optional<std::vector<ProxyTarget>>> Targets(const std::string& service) = 0;
  virtual Status Remove(const std::string& service) = 0;
  // True while the proxy runs a deploy's health gate for `service` (one a daemon killed
  // mid-deploy handed it goes on): what it serves may still change. The default: never.
  virtual Result<bool> DeployInProgress(const std::string& service);

  // The canary pool (the defaults answer "not supported", for fakes that need no canary).
  // Health-gated like Deploy: `route.targets` become the service's second pool with
  // `weight`% of clients once all are healthy; error/value as for Deploy.
  virtual Result<ProxyDeployOutcome> DeployCanary(const ProxyRoute& route, int weight);
  // A new share of clients for the canary pool (no new health gate).
  virtual Status SetCanaryWeight(const std::string& service, int weight);
  // The canary's targets become the main pool; the old main targets drain.
  virtual Status PromoteCanary(const std::string& service);
  // The canary's targets drain; Ok when the service has no canary (or does not exist).
  virtual Status DropCanary(const std::string& service);
  // Both pools and their request counters; nullopt when the proxy has no such service.
  virtual Result<std::optional<ProxyService>> Service(const std::string& service);
};

}  // namespace gravity::deploy
