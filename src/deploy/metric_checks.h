#pragma once

// Canary metric checks against Prometheus (canary.metrics in stack.yml; docs/deploy.md
// "Metric checks"): what only the app knows — a queue's depth, business errors — judged
// beside the proxy's own 5xx and latency figures. Each check is an instant PromQL query
// (GET /api/v1/query over HTTP) whose one value is held to its max or min; each becomes
// one more metric of the step's analysis and score.
//
// The pieces are pure functions (placeholders, URL encoding, the response parser, the
// verdict) so each is unit-tested; PrometheusClient does the one blocking request.
// Thread-safety: none needed; a PrometheusClient is used by one thread.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/spec.h"
#include "deploy/canary_analysis.h"

namespace gravity::deploy {

// What a step fills into a query's placeholders.
struct MetricContext {
  std::string release;  // {{release}}: the canary's release (commit), as $GRAVITY_RELEASE
  std::string app;      // {{app}}
  std::string env;      // {{env}}
  std::chrono::milliseconds window{0};  // {{window}}: the step's duration
};

// A duration as PromQL writes it: "30s", "2m", "1h", "1500ms".
std::string PromDuration(std::chrono::milliseconds d);

// `query` with {{release}}, {{app}}, {{env}} and {{window}} replaced.
std::string FillPlaceholders(const std::string& query, const MetricContext& ctx);

// The value of an instant query from Prometheus's answer (HTTP status and body). Errors
// (Status::Unavailable for the server, InvalidArgument for the query, NotFound for no
// data) say what went wrong: Prometheus's own `error` text, an empty result, a result of
// several series (with their count), a NaN value. +Inf and -Inf are values.
Result<double> ParseQueryResponse(long http_status, const std::string& body);

// The check's verdict on `value` (or on why there is none: "no data" with that reason).
MetricResult EvaluateCheck(const config::CanaryMetricCheck& check, const Result<double>& value);

// Instant queries against one Prometheus server.
class PrometheusClient {
 public:
  // `base_url`: "http://127.0.0.1:9090" (canary.prometheus).
  explicit PrometheusClient(std::string base_url,
                            std::chrono::seconds timeout = std::chrono::seconds(5));

  // The query's value at `at_ms` (Unix ms).
  Result<double> Query(const std::string& promql, std::int64_t at_ms) const;

 private:
  const std::string base_url_;
  const std::chrono::seconds timeout_;
};

// Runs every check of `spec.metrics` at `at_ms`, each through `ctx`'s placeholders.
std::vector<MetricResult> RunMetricChecks(const config::CanarySpec& spec,
                                          const MetricContext& ctx, std::int64_t at_ms);

// Adds `checks` to the step's analysis and decides it again (DecideStep). A check without
// a value never lets the step pass: where the step would be inconclusive and no_traffic is
// pass, it fails instead (no_traffic: extend still extends it, no_traffic: fail fails it).
void AddMetricChecks(const config::CanarySpec& spec, std::vector<MetricResult> checks,
                     StepAnalysis& a);

}  // namespace gravity::deploy
