#pragma once

// What a health check of one instance asks and how its answers are judged: the one type
// for it, below both gravity.yml's `health:` section (config::HealthSpec adds the
// deploy's wait to it) and the proxy's health checker (proxy::HealthSpec is this type);
// and its verdict on a target that failed.

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

// A target that failed its health gate, and why: the proxy's answer to a deploy it refused,
// as the control client and the deployer both see it.
struct TargetFailure {
  std::string target;  // "127.0.0.1:20001"
  std::string reason;  // "connection refused", "timed out after 2s", "body lacks 'X'", ...
};

}  // namespace gravity
