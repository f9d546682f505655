#pragma once

// Health of one target as a state machine fed check results (active checks and passive
// connection failures). It knows nothing of sockets or timers: the checker feeds it
// results stamped with the injected clock's time and acts on the transitions it returns.
// The operator's state (draining, out of traffic) is kept elsewhere (Target::draining).
// Thread-safety: not thread-safe; owned by the proxy's control thread.

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "proxy/config.h"

namespace gravity::proxy {

enum class HealthState { kUnknown, kHealthy, kUnhealthy };
const char* HealthStateName(HealthState s);

struct CheckResult {
  bool ok = false;
  std::string reason;  // empty when ok: "connection refused", "status 500 (expected 200)", ...
};

struct HealthTransition {
  HealthState from;
  HealthState to;
  std::string reason;  // the failure that caused it ("" for becoming healthy)
};

class HealthMachine {
 public:
  HealthMachine(int healthy_threshold, int unhealthy_threshold,
                HealthState initial = HealthState::kUnknown);

  // Feeds one result; returns the transition when the state changed.
  std::optional<HealthTransition> Feed(const CheckResult& result, Clock::TimePoint now);

  HealthState state() const { return state_; }
  // The most recent failure reason, "" once a check has succeeded since.
  const std::string& last_error() const { return last_error_; }
  Clock::TimePoint since() const { return since_; }  // when the state was entered
  int checks() const { return checks_; }

 private:
  int healthy_threshold_;
  int unhealthy_threshold_;
  HealthState state_;
  int successes_ = 0;  // consecutive
  int failures_ = 0;   // consecutive
  int checks_ = 0;
  std::string last_error_;
  Clock::TimePoint since_{};
};

// Judges a received response against the spec: ok, "status 500 (expected 200)" or
// "body lacks 'Automation for the people'".
CheckResult EvaluateResponse(const HealthSpec& spec, int status, std::string_view body);

// "timed out after 2s"
std::string TimedOutReason(milliseconds timeout);

}  // namespace gravity::proxy
