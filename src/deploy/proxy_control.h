#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
};

struct TargetFailure {
  std::string target;  // "127.0.0.1:20001"
  std::string reason;  // "connection refused", "body lacks 'X'", ...
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
};

}  // namespace gravity::deploy
