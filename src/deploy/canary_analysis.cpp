#include "deploy/canary_analysis.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/latency_bins.h"
#include "deploy/canary_judge.h"
#include "deploy/statistics.h"

namespace gravity::deploy {

namespace {

std::string Ms(double ms) {
  if (ms >= 100) return fmt::format("{:.0f} ms", ms);
  if (ms >= 10) return fmt::format("{:.1f} ms", ms);
  return fmt::format("{:.2f} ms", ms);
}

std::string P(double p) { return p < 0.0001 ? fmt::format("{:.1e}", p) : fmt::format("{:.4f}", p); }

std::string SignedPercent(double share) {
  return (share >= 0 ? "+" : "-") + FormatPercent(std::fabs(share));
}

// A rate metric: High when the canary's rate is above `absolute_max` (if > 0), or higher
// than the comparison's by more than max_error_increase at the confidence.
MetricResult RateMetric(const config::CanarySpec& spec, const std::string& name,
                        std::uint64_t k_c, std::uint64_t n_c, std::uint64_t k_b,
                        std::uint64_t n_b, double absolute_max, const std::string& subject,
                        const std::string& comparison) {
  MetricResult m;
  m.name = name;
  m.canary_samples = n_c;
  m.baseline_samples = n_b;
  const auto min = static_cast<std::uint64_t>(std::max(1, spec.min_requests));
  if (n_c < min) {
    m.detail = fmt::format("{}: {} {} requests, fewer than the {} needed", name, n_c, subject, min);
    return m;
  }
  stats::TwoProportions t = stats::TwoProportionZ(k_c, n_c, k_b, n_b);
  m.canary_value = static_cast<double>(k_c) / static_cast<double>(n_c);
  m.baseline_value = n_b ? static_cast<double>(k_b) / static_cast<double>(n_b) : 0.0;
  m.statistic = t.z;
  m.p_value = t.p_greater;
  m.effect = m.canary_value - m.baseline_value;
  const double alpha = 1.0 - spec.confidence;
  const std::string figures =
      fmt::format("{} {} over {} requests, {} {} over {}", subject, FormatPercent(m.canary_value),
                  n_c, comparison, FormatPercent(m.baseline_value), n_b);
  if (absolute_max > 0 && m.canary_value > absolute_max) {
    m.verdict = MetricVerdict::kHigh;
    m.detail = fmt::format("{} high: {} (limit {})", name, figures, FormatPercent(absolute_max));
    return m;
  }
  if (n_b >= min && t.p_greater < alpha && m.effect > spec.max_error_increase) {
    m.verdict = MetricVerdict::kHigh;
    m.detail = fmt::format("{} high: {}; two-proportion z={:.2f}, p={} < {}, {} points above "
                           "(tolerance {})",
                           name, figures, t.z, P(t.p_greater), P(alpha),
                           FormatPercent(m.effect), FormatPercent(spec.max_error_increase));
    return m;
  }
  m.verdict = MetricVerdict::kPass;
  m.detail = fmt::format("{} pass: {}; p={}", name, figures, P(t.p_greater));
  return m;
}

MetricResult LatencyMetric(const config::CanarySpec& spec, const PoolWindow& c,
                           const PoolWindow& b, const std::string& subject,
                           const std::string& comparison) {
  MetricResult m;
  m.name = "latency";
  m.canary_samples = c.LatencyCount();
  m.baseline_samples = b.LatencyCount();
  const auto min = static_cast<std::uint64_t>(std::max(1, spec.min_requests));
  if (m.canary_samples < min || m.baseline_samples < min) {
    m.detail = fmt::format("latency: {} {} and {} {} requests, fewer than the {} needed",
                           m.canary_samples, subject, m.baseline_samples, comparison, min);
    return m;
  }
  stats::MannWhitney u = stats::MannWhitneyU(stats::TiedSamples{c.latency, b.latency});
  m.canary_value = c.QuantileMs(0.5);
  m.baseline_value = b.QuantileMs(0.5);
  // The effect: the relative change of the median, the location shift the rank test is
  // about (p90 is shown, not judged: a few slow requests on a busy host move it at random).
  // A change below the noise floor does not count.
  const double noise_ms = static_cast<double>(spec.latency_noise.count());
  m.effect = std::fabs(m.canary_value - m.baseline_value) > noise_ms
                 ? m.canary_value / std::max(m.baseline_value, 0.001) - 1.0  // 1 us floor
                 : 0.0;
  m.statistic = u.u_x;
  m.p_value = u.p_greater;
  const double alpha = 1.0 - spec.confidence;
  const std::string figures = fmt::format(
      "{} median {} (p90 {}) over {} requests, {} {} (p90 {}) over {}; Mann-Whitney U={:.0f}",
      subject, Ms(m.canary_value), Ms(c.QuantileMs(0.9)), m.canary_samples, comparison,
      Ms(m.baseline_value), Ms(b.QuantileMs(0.9)), m.baseline_samples, u.u_x);
  if (u.p_greater < alpha && m.effect > spec.max_latency_increase) {
    m.verdict = MetricVerdict::kHigh;
    m.detail = fmt::format("latency high: {}, p={} < {}, {} (tolerance {})", figures,
                           P(u.p_greater), P(alpha), SignedPercent(m.effect),
                           SignedPercent(spec.max_latency_increase));
  } else if (u.p_less < alpha && m.effect < -spec.max_latency_increase) {
    m.verdict = MetricVerdict::kLow;
    m.p_value = u.p_less;
    m.detail = fmt::format("latency low (faster): {}, p={}, {}", figures, P(u.p_less),
                           SignedPercent(m.effect));
  } else {
    m.verdict = MetricVerdict::kPass;
    m.detail = fmt::format("latency pass: {}, p={}, {}", figures, P(u.p_greater),
                           SignedPercent(m.effect));
  }
  return m;
}

}  // namespace

const char* Name(MetricVerdict v) {
  switch (v) {
    case MetricVerdict::kPass: return "pass";
    case MetricVerdict::kHigh: return "high";
    case MetricVerdict::kLow: return "low";
    case MetricVerdict::kNoData: return "no data";
  }
  return "?";
}

const char* Name(StepDecision d) {
  switch (d) {
    case StepDecision::kPass: return "pass";
    case StepDecision::kMarginal: return "marginal";
    case StepDecision::kFail: return "fail";
    case StepDecision::kInconclusive: return "inconclusive";
  }
  return "?";
}

StepAnalysis AnalyzeWindow(const config::CanarySpec& spec, const PoolWindow& canary,
                           const PoolWindow& baseline, const std::string& comparison,
                           const std::string& subject) {
  StepAnalysis a;
  a.metrics.push_back(RateMetric(spec, "5xx rate", canary.errors_5xx, canary.total,
                                 baseline.errors_5xx, baseline.total, spec.max_error_rate,
                                 subject, comparison));
  if (spec.judge_4xx) {
    a.metrics.push_back(RateMetric(spec, "4xx rate", canary.errors_4xx, canary.total,
                                   baseline.errors_4xx, baseline.total, 0, subject, comparison));
  }
  a.metrics.push_back(LatencyMetric(spec, canary, baseline, subject, comparison));
  for (double q : {0.5, 0.9, 0.99}) {
    a.canary_quantiles_ms.push_back(canary.QuantileMs(q));
    a.baseline_quantiles_ms.push_back(baseline.QuantileMs(q));
  }
  DecideStep(spec, a);
  return a;
}

namespace {

// The metrics of one source: what the proxy measured (5xx, 4xx, latency) or the
// Prometheus checks (canary.metrics).
struct Tally {
  int all = 0, judged = 0, passed = 0;
};

}  // namespace

void DecideStep(const config::CanarySpec& spec, StepAnalysis& a) {
  // Each source is scored on its own and the step gets the lower score, so that passing
  // checks cannot outvote what the proxy saw (a 5xx-high canary stays failed however many
  // app checks pass), nor the proxy's passes a failing check.
  Tally proxy, checks;
  std::string high, missing;
  for (const auto& m : a.metrics) {
    Tally& t = m.query.empty() ? proxy : checks;
    ++t.all;
    if (m.verdict == MetricVerdict::kNoData) {
      missing += (missing.empty() ? "" : "; ") + m.detail;
      continue;
    }
    ++t.judged;
    if (m.verdict == MetricVerdict::kHigh || (m.verdict == MetricVerdict::kLow && m.low_fails)) {
      high += (high.empty() ? "" : "; ") + m.detail;
    } else {
      ++t.passed;
    }
  }
  // The lowest over the sources that have metrics of `f`'s kind.
  auto lowest = [&](auto f) {
    int v = 100;
    for (const Tally* t : {&proxy, &checks}) {
      if (t->all > 0) v = std::min(v, f(*t));
    }
    return v;
  };
  const int judged = proxy.judged + checks.judged;
  // Metrics without data count as failed for the score's lower bound: when even with them
  // passing the score is below marginal, the step fails on what is known.
  const int best =
      lowest([](const Tally& t) { return (t.passed + t.all - t.judged) * 100 / t.all; });
  a.score = judged ? lowest([](const Tally& t) {
    return t.judged ? t.passed * 100 / t.judged : 100;
  })
                   : 0;
  if (!high.empty() && best < spec.marginal_score) {
    a.decision = StepDecision::kFail;
    // A source with no data at all is not a 0: it is left out of the score shown.
    a.score = lowest([](const Tally& t) { return t.judged ? t.passed * 100 / t.all : 100; });
    a.reason = high + fmt::format(" (score {} < {})", a.score, spec.marginal_score);
    return;
  }
  if (!high.empty() && !missing.empty()) {
    // Something is worse and the rest unknown: never passed on for lack of data.
    a.decision = StepDecision::kMarginal;
    a.reason = high + fmt::format(" (score {} with metrics unknown: marginal)", a.score);
    return;
  }
  if (!missing.empty()) {
    a.decision = StepDecision::kInconclusive;
    a.reason = "inconclusive: " + missing;
    return;
  }
  if (a.score >= spec.pass_score) {
    a.decision = StepDecision::kPass;
    a.reason = fmt::format("score {} >= {}", a.score, spec.pass_score);
  } else if (a.score >= spec.marginal_score) {
    a.decision = StepDecision::kMarginal;
    a.reason = high + fmt::format(" (score {}, marginal: {} to {})", a.score,
                                  spec.marginal_score, spec.pass_score);
  } else {
    a.decision = StepDecision::kFail;
    a.reason = high + fmt::format(" (score {} < {})", a.score, spec.marginal_score);
  }
}

nlohmann::json AnalysisJson(const StepAnalysis& a) {
  nlohmann::json metrics = nlohmann::json::array();
  for (const auto& m : a.metrics) {
    metrics.push_back({{"name", m.name},
                       {"verdict", Name(m.verdict)},
                       {"canary_samples", m.canary_samples},
                       {"baseline_samples", m.baseline_samples},
                       {"canary", m.canary_value},
                       {"baseline", m.baseline_value},
                       {"statistic", m.statistic},
                       {"p_value", m.p_value},
                       {"effect", m.effect},
                       {"detail", m.detail}});
    if (!m.query.empty()) {
      metrics.back()["query"] = m.query;
      metrics.back()["source"] = "prometheus";
    }
  }
  return {{"score", a.score},
          {"decision", Name(a.decision)},
          {"reason", a.reason},
          {"metrics", metrics},
          {"quantiles", {"p50", "p90", "p99"}},
          {"canary_latency_ms", a.canary_quantiles_ms},
          {"baseline_latency_ms", a.baseline_quantiles_ms}};
}

}  // namespace gravity::deploy
