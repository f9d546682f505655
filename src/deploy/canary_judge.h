#pragma once

// The canary verdict: a pure function of the canary settings and the requests counted so
// far, so that the rule is unit-tested on its own. Rule (docs/deploy.md, "Canary"):
// the canary's 5xx share is errors_5xx / max(requests, min_requests); above max_error_rate
// it fails, at any check. With fewer than min_requests requests, the share is computed over
// min_requests, as if the missing requests had succeeded: a few errors can already fail a
// canary with little traffic, and little traffic cannot hide errors. When the window is
// over and it did not fail, it passes (also with little or no traffic: the verdict says so).

#include <cstdint>
#include <string>

#include "config/spec.h"

namespace gravity::deploy {

struct CanaryCounts {
  std::uint64_t requests = 0;  // answered by the canary pool during the window
  std::uint64_t errors_5xx = 0;
  std::uint64_t main_requests = 0;  // the main pool, same window (context for the verdict)
  std::uint64_t main_errors_5xx = 0;
};

struct CanaryVerdict {
  enum Kind { kContinue, kPass, kFail } kind = kContinue;
  // kFail: "canary 5xx rate 12.5% over 40 requests exceeded 1% (main pool: 0% over 360
  // requests)"; kPass: "0 5xx in 153 requests (0%, limit 1%)".
  std::string reason;
};

CanaryVerdict JudgeCanary(const config::CanarySpec& spec, const CanaryCounts& counts,
                          bool window_over);

// "12.5%", "1%", "0.25%" (at most two decimals, no trailing zeros).
std::string FormatPercent(double share);

}  // namespace gravity::deploy
