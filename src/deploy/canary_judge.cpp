#include "deploy/canary_judge.h"

#include <fmt/format.h>

#include <algorithm>

namespace gravity::deploy {

std::string FormatPercent(double share) {
  std::string s = fmt::format("{:.2f}", share * 100.0);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s + "%";
}

namespace {

std::string Requests(std::uint64_t n) {
  return std::to_string(n) + (n == 1 ? " request" : " requests");
}

std::string MainContext(const CanaryCounts& c) {
  double main_rate = c.main_requests ? static_cast<double>(c.main_errors_5xx) /
                                           static_cast<double>(c.main_requests)
                                     : 0.0;
  return "(main pool: " + FormatPercent(main_rate) + " over " + Requests(c.main_requests) + ")";
}

}  // namespace

CanaryVerdict JudgeCanary(const config::CanarySpec& spec, const CanaryCounts& counts,
                          bool window_over) {
  const std::uint64_t min = static_cast<std::uint64_t>(std::max(1, spec.min_requests));
  const std::uint64_t denominator = std::max(counts.requests, min);
  const double share = static_cast<double>(counts.errors_5xx) / static_cast<double>(denominator);
  CanaryVerdict v;
  if (share > spec.max_error_rate) {
    v.kind = CanaryVerdict::kFail;
    if (counts.requests >= min) {
      v.reason = "canary 5xx rate " + FormatPercent(share) + " over " + Requests(counts.requests) +
                 " exceeded " + FormatPercent(spec.max_error_rate) + " " + MainContext(counts);
    } else {
      v.reason = "canary 5xx rate " + FormatPercent(share) + " (" +
                 std::to_string(counts.errors_5xx) + " 5xx in " + Requests(counts.requests) +
                 ", counted over the minimum of " + std::to_string(min) + ") exceeded " +
                 FormatPercent(spec.max_error_rate) + " " + MainContext(counts);
    }
    return v;
  }
  if (!window_over) return v;
  v.kind = CanaryVerdict::kPass;
  v.reason = std::to_string(counts.errors_5xx) + " 5xx in " + Requests(counts.requests) + " (" +
             FormatPercent(counts.requests ? static_cast<double>(counts.errors_5xx) /
                                                 static_cast<double>(counts.requests)
                                           : 0.0) +
             ", limit " + FormatPercent(spec.max_error_rate) + ") " + MainContext(counts);
  if (counts.requests < min) {
    v.reason += counts.requests == 0
                    ? "; the canary got no traffic: promoted on its health checks alone"
                    : "; fewer than the " + std::to_string(min) +
                          " requests needed to judge a rate: promoted because even over " +
                          std::to_string(min) + " requests its 5xx stay within the limit";
  }
  return v;
}

}  // namespace gravity::deploy
