#pragma once

// canary.prometheus and canary.metrics in stack.yml: the Prometheus server and the metric
// checks each canary step runs against it (docs/config.md, docs/deploy.md "Metric checks").
// Internal to src/config.

#include <string>
#include <string_view>
#include <vector>

#include "config/checker.h"
#include "config/spec.h"

namespace gravity::config {

// The placeholders a metric query may hold, filled per step by the deployer.
inline constexpr std::string_view kMetricPlaceholders[] = {"release", "app", "env", "window"};

// canary.prometheus: "http://host:port" with an optional path prefix.
void ReadPrometheusUrl(Checker& c, const Entry& e, const std::string& where, std::string& out);

// canary.metrics: [{name, query, max | min}, ...].
void ReadCanaryMetrics(Checker& c, const Entry& e, const std::string& where,
                       std::vector<CanaryMetricCheck>& out);

}  // namespace gravity::config
