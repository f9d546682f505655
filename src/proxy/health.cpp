#include "proxy/health.h"

#include "common/duration.h"

namespace gravity::proxy {

const char* HealthStateName(HealthState s) {
  switch (s) {
    case HealthState::kHealthy:
      return "healthy";
    case HealthState::kUnhealthy:
      return "unhealthy";
    default:
      return "unknown";
  }
}

HealthMachine::HealthMachine(int healthy_threshold, int unhealthy_threshold, HealthState initial)
    : healthy_threshold_(healthy_threshold < 1 ? 1 : healthy_threshold),
      unhealthy_threshold_(unhealthy_threshold < 1 ? 1 : unhealthy_threshold),
      state_(initial) {}

std::optional<HealthTransition> HealthMachine::Feed(const CheckResult& result,
                                                    Clock::TimePoint now) {
  ++checks_;
  HealthState next = state_;
  if (result.ok) {
    failures_ = 0;
    ++successes_;
    last_error_.clear();
    if (state_ != HealthState::kHealthy && successes_ >= healthy_threshold_) {
      next = HealthState::kHealthy;
    }
  } else {
    successes_ = 0;
    ++failures_;
    last_error_ = result.reason;
    if (state_ != HealthState::kUnhealthy && failures_ >= unhealthy_threshold_) {
      next = HealthState::kUnhealthy;
    }
  }
  if (next == state_) return std::nullopt;
  HealthTransition t{state_, next, result.ok ? std::string() : result.reason};
  state_ = next;
  since_ = now;
  return t;
}

CheckResult EvaluateResponse(const HealthSpec& spec, int status, std::string_view body) {
  if (status != spec.status) {
    return {false,
            "status " + std::to_string(status) + " (expected " + std::to_string(spec.status) + ")"};
  }
  if (!spec.body_contains.empty() && body.find(spec.body_contains) == std::string_view::npos) {
    return {false, "body lacks '" + spec.body_contains + "'"};
  }
  return {true, ""};
}

std::string TimedOutReason(milliseconds timeout) {
  return "timed out after " + FormatDuration(timeout);
}

}  // namespace gravity::proxy
