#pragma once

// The canary judge's analysis of one window of traffic: the canary pool against a
// comparison pool (the main pool during a canary step; the previous release during a
// watch), metric by metric, then a score that decides the step. Pure functions of the
// settings and the two windows, so each rule is unit-tested on its own. Rules in
// docs/deploy.md, "How a canary is judged".

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/spec.h"
#include "deploy/proxy_control.h"

namespace gravity::deploy {

// The requests one pool answered in the window judged.
using PoolWindow = PoolRequests;

enum class MetricVerdict { kPass, kHigh, kLow, kNoData };
const char* Name(MetricVerdict v);  // "pass" | "high" | "low" | "no data"

struct MetricResult {
  std::string name;  // "5xx rate" | "4xx rate" | "latency"
  MetricVerdict verdict = MetricVerdict::kNoData;
  std::uint64_t canary_samples = 0, baseline_samples = 0;
  double canary_value = 0, baseline_value = 0;  // rates (0..1), or median latency in ms
  double statistic = 0;  // z of the two-proportion test, or Mann-Whitney U
  double p_value = 1;    // one-sided: the canary worse
  double effect = 0;     // rate difference, or relative latency increase (0.2 = +20%)
  std::string detail;    // one line, numbers included
  // A metric check against Prometheus (metric_checks.h): its query as sent, its limit
  // (baseline_value holds it too) and whether a value below it is the bad side (min).
  std::string query;       // empty for the proxy's own metrics
  bool low_fails = false;  // min checks: Low counts against the score (latency Low does not)
  // No data that waiting cannot bring: Prometheus refused the query (bad PromQL) or its
  // answer can never be one value (several series, a matrix).
  bool unanswerable = false;
};

enum class StepDecision { kPass, kMarginal, kFail, kInconclusive };
const char* Name(StepDecision d);  // "pass" | "marginal" | "fail" | "inconclusive"

struct StepAnalysis {
  std::vector<MetricResult> metrics;
  int score = 0;  // 0-100: the share of metrics that passed
  StepDecision decision = StepDecision::kInconclusive;
  std::string reason;  // one line: what decided
  // Latency quantiles in ms, canary and comparison: p50, p90, p99.
  std::vector<double> canary_quantiles_ms, baseline_quantiles_ms;
};

// `subject` and `comparison` name the two in messages ("canary" against "main pool";
// "3f2a9c1" against "previous release").
StepAnalysis AnalyzeWindow(const config::CanarySpec& spec, const PoolWindow& canary,
                           const PoolWindow& baseline, const std::string& comparison,
                           const std::string& subject = "canary");

// The score, decision and reason of `a` from its metrics (AnalyzeWindow ends with it; metric
// checks added later decide again).
void DecideStep(const config::CanarySpec& spec, StepAnalysis& a);

nlohmann::json AnalysisJson(const StepAnalysis& a);

}  // namespace gravity::deploy
