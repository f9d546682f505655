#pragma once

// What workers route with: immutable snapshots of the services and their pools, published
// by the control plane and replaced as a whole. No Asio here.
// Thread-safety: immutable once published (PoolSnapshot::cursor and the Target and
// PoolStats atomics are the only mutable parts, and they are atomics).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/balancer.h"
#include "proxy/metrics.h"
#include "proxy/router.h"

namespace gravity::proxy {

struct PoolSnapshot {
  std::vector<std::shared_ptr<Target>> targets;
  std::shared_ptr<PoolStats> stats;
  mutable std::atomic<std::uint32_t> cursor{0};

  // The shared owner of `t` (a member of targets), or null.
  std::shared_ptr<Target> Owner(const Target* t) const {
    for (const auto& p : targets) {
      if (p.get() == t) return p;
    }
    return nullptr;
  }
};

struct ServiceSnapshot {
  std::string name;
  std::unique_ptr<PoolSnapshot> main;
  std::unique_ptr<PoolSnapshot> canary;  // null when there is none
  // Null when there is none; else it gets the same share of clients as the canary.
  std::unique_ptr<PoolSnapshot> baseline;
  int canary_weight = 0;
  std::string candidate_token;  // non-empty: X-Gravity-Candidate with it picks the canary
  std::string hsts;  // "max-age=N" for responses over HTTPS, or empty
};

struct RouteTable {
  Router router;
  std::vector<std::shared_ptr<const ServiceSnapshot>> services;  // by router index
};

}  // namespace gravity::proxy
