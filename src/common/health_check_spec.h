#pragma once

// What a health check of one instance asks and how its answers are judged: the one type
// for it, below both gravity.yml's `health:` section (config::HealthSpec adds the
// deploy's wait to it) and the proxy's health checker (proxy::HealthSpec is this type).

#include <chrono>
#include <string>

namespace gravity {

struct HealthCheckSpec {
  std::string path = "/";     // GET this path
  int status = 200;           // healthy when the response has this status ...
  std::string body_contains;  // ... and its body contains this (empty: not checked)
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{2000};  // per probe
  int healthy_threshold = 2;                // consecutive passes to become healthy
  int unhealthy_threshold = 3;              // consecutive failures to become unhealthy

  bool operator==(const HealthCheckSpec&) const = default;
};

}  // namespace gravity
