#include "deploy/canary_analysis.h"

#include <gtest/gtest.h>

#include <random>

#include "common/latency_bins.h"

namespace gravity::deploy {
namespace {

// `n` requests with latencies drawn around `ms` (+-10%, a fixed seed), `errors` of them 5xx.
PoolWindow Pool(std::uint64_t n, double ms, std::uint64_t errors = 0, unsigned seed = 1) {
  PoolWindow w;
  w.total = n;
  w.errors_5xx = errors;
  w.latency.assign(latency::kBins, 0);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(0.9, 1.1);
  for (std::uint64_t i = 0; i < n; ++i) {
    ++w.latency[latency::BinOf(static_cast<std::uint64_t>(ms * 1000 * jitter(rng)))];
  }
  return w;
}

const MetricResult& Metric(const StepAnalysis& a, const std::string& name) {
  for (const auto& m : a.metrics) {
    if (m.name == name) return m;
  }
  ADD_FAILURE() << "no metric " << name;
  return a.metrics.front();
}

TEST(CanaryAnalysisTest, SameBehaviourPasses) {
  config::CanarySpec spec;
  StepAnalysis a = AnalyzeWindow(spec, Pool(400, 2.0, 0, 1), Pool(4000, 2.0, 0, 2), "main pool");
  EXPECT_EQ(a.decision, StepDecision::kPass) << a.reason;
  EXPECT_EQ(a.score, 100);
  EXPECT_EQ(Metric(a, "latency").verdict, MetricVerdict::kPass);
  EXPECT_EQ(Metric(a, "5xx rate").verdict, MetricVerdict::kPass);
}

TEST(CanaryAnalysisTest, FiftyMillisecondsSlowerFailsOnLatency) {
  config::CanarySpec spec;
  StepAnalysis a = AnalyzeWindow(spec, Pool(100, 52.0), Pool(900, 2.0, 0, 2), "main pool");
  EXPECT_EQ(a.decision, StepDecision::kFail);
  const MetricResult& m = Metric(a, "latency");
  EXPECT_EQ(m.verdict, MetricVerdict::kHigh);
  EXPECT_LT(m.p_value, 1e-10);
  EXPECT_GT(m.effect, 10);  // +1000% and more
  EXPECT_EQ(a.score, 50);
  EXPECT_NE(a.reason.find("latency high: canary median"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("(score 50 < 75)"), std::string::npos) << a.reason;
}

TEST(CanaryAnalysisTest, SignificantButSmallShiftIsWithinTolerance) {
  // 8% slower, with enough requests that the shift is certain: not a failure at 20%.
  config::CanarySpec spec;
  StepAnalysis a = AnalyzeWindow(spec, Pool(5000, 108.0), Pool(5000, 100.0, 0, 2), "main pool");
  const MetricResult& m = Metric(a, "latency");
  EXPECT_LT(m.p_value, 1e-6);
  EXPECT_EQ(m.verdict, MetricVerdict::kPass) << m.detail;
  EXPECT_EQ(a.decision, StepDecision::kPass);
  // With a 5% tolerance it fails.
  spec.max_latency_increase = 0.05;
  EXPECT_EQ(AnalyzeWindow(spec, Pool(5000, 108.0), Pool(5000, 100.0, 0, 2), "main pool").decision,
            StepDecision::kFail);
}

TEST(CanaryAnalysisTest, CertainShiftBelowTheNoiseFloorPasses) {
  // A fresh instance's 0.17 ms against a warm one's 0.13 ms: +30%, certain, irrelevant.
  config::CanarySpec spec;
  StepAnalysis a = AnalyzeWindow(spec, Pool(2000, 0.17), Pool(20000, 0.13, 0, 2), "main pool");
  EXPECT_LT(Metric(a, "latency").p_value, 1e-10);
  EXPECT_EQ(Metric(a, "latency").verdict, MetricVerdict::kPass) << Metric(a, "latency").detail;
  spec.latency_noise = std::chrono::milliseconds(0);
  EXPECT_EQ(AnalyzeWindow(spec, Pool(2000, 0.17), Pool(20000, 0.13, 0, 2), "main pool").decision,
            StepDecision::kFail);
}

TEST(CanaryAnalysisTest, FasterCanaryIsLowAndPasses) {
  config::CanarySpec spec;
  StepAnalysis a = AnalyzeWindow(spec, Pool(300, 1.0), Pool(3000, 5.0, 0, 2), "main pool");
  EXPECT_EQ(Metric(a, "latency").verdict, MetricVerdict::kLow);
  EXPECT_EQ(a.decision, StepDecision::kPass);
}

TEST(CanaryAnalysisTest, TwoPercentErrorsFailOnTheAbsoluteLimit) {
  config::CanarySpec spec;  // max_error_rate 1%
  StepAnalysis a = AnalyzeWindow(spec, Pool(500, 2.0, 10), Pool(5000, 2.0, 0, 2), "main pool");
  EXPECT_EQ(a.decision, StepDecision::kFail);
  const MetricResult& m = Metric(a, "5xx rate");
  EXPECT_EQ(m.verdict, MetricVerdict::kHigh);
  EXPECT_DOUBLE_EQ(m.canary_value, 0.02);
  EXPECT_NE(m.detail.find("5xx rate high: canary 2% over 500 requests, main pool 0% over 5000 "
                          "(limit 1%)"),
            std::string::npos)
      << m.detail;
}

TEST(CanaryAnalysisTest, ErrorRateAboveTheComparisonFailsOnlyPastTheIncreaseTolerance) {
  config::CanarySpec spec;
  spec.max_error_rate = 0.5;  // the absolute limit out of the way
  // 3% against 1%: 2 points, significant over these counts.
  StepAnalysis a =
      AnalyzeWindow(spec, Pool(3000, 2.0, 90), Pool(3000, 2.0, 30, 2), "previous release");
  const MetricResult& m = Metric(a, "5xx rate");
  EXPECT_EQ(m.verdict, MetricVerdict::kHigh) << m.detail;
  EXPECT_LT(m.p_value, 0.001);
  EXPECT_NE(m.detail.find("previous release 1%"), std::string::npos) << m.detail;
  // Allowed 3 points more: passes.
  spec.max_error_increase = 0.03;
  EXPECT_EQ(AnalyzeWindow(spec, Pool(3000, 2.0, 90), Pool(3000, 2.0, 30, 2), "x").decision,
            StepDecision::kPass);
}

TEST(CanaryAnalysisTest, FourHundredsOnlyWhenAsked) {
  config::CanarySpec spec;
  PoolWindow c = Pool(1000, 2.0), b = Pool(1000, 2.0, 0, 2);
  c.errors_4xx = 200;
  b.errors_4xx = 10;
  EXPECT_EQ(AnalyzeWindow(spec, c, b, "main pool").decision, StepDecision::kPass);
  spec.judge_4xx = true;
  StepAnalysis a = AnalyzeWindow(spec, c, b, "main pool");
  EXPECT_EQ(Metric(a, "4xx rate").verdict, MetricVerdict::kHigh);
  // One of three metrics failed: 66, between the default thresholds? No: 66 < 75.
  EXPECT_EQ(a.decision, StepDecision::kFail);
  spec.marginal_score = 60;
  EXPECT_EQ(AnalyzeWindow(spec, c, b, "main pool").decision, StepDecision::kMarginal);
}

TEST(CanaryAnalysisTest, TooFewRequestsIsInconclusiveUnlessAlreadyFailing) {
  config::CanarySpec spec;  // min_requests 20
  StepAnalysis a = AnalyzeWindow(spec, Pool(5, 2.0), Pool(5000, 2.0, 0, 2), "main pool");
  EXPECT_EQ(a.decision, StepDecision::kInconclusive);
  EXPECT_NE(a.reason.find("5 canary requests, fewer than the 20 needed"), std::string::npos)
      << a.reason;
  // Nothing at all.
  EXPECT_EQ(AnalyzeWindow(spec, PoolWindow{}, PoolWindow{}, "main pool").decision,
            StepDecision::kInconclusive);
  // Errors with data while the comparison pool has too few for latency: fails on what is known.
  StepAnalysis f = AnalyzeWindow(spec, Pool(100, 2.0, 50), Pool(3, 2.0), "main pool");
  EXPECT_EQ(f.decision, StepDecision::kFail) << f.reason;
}

TEST(CanaryAnalysisTest, AHighMetricWithOthersUnknownIsNeverInconclusive) {
  // 5xx high, 4xx passing, latency without data in the comparison pool: with a marginal
  // threshold the known failure could pass, the step is marginal (extended, then dropped),
  // never handed to no_traffic.
  config::CanarySpec spec;
  spec.judge_4xx = true;
  spec.marginal_score = 60;
  PoolWindow c = Pool(1000, 2.0, 30), b = Pool(1000, 2.0, 0, 2);
  b.latency.clear();  // no latency data on the comparison side
  StepAnalysis a = AnalyzeWindow(spec, c, b, "main pool");
  EXPECT_EQ(a.decision, StepDecision::kMarginal) << a.reason;
  EXPECT_NE(a.reason.find("5xx rate high"), std::string::npos) << a.reason;
}

TEST(CanaryAnalysisTest, WindowsAreDeltasAndSurviveAProxyRestart) {
  PoolWindow before = Pool(100, 2.0, 1);
  PoolWindow now = before;
  now.total = 300;
  now.errors_5xx = 4;
  now.latency[latency::BinOf(2000)] += 200;
  PoolWindow d = now.Since(before);
  EXPECT_EQ(d.total, 200u);
  EXPECT_EQ(d.errors_5xx, 3u);
  EXPECT_EQ(d.LatencyCount(), 200u);
  // Counters went down: the proxy restarted, the window is everything since.
  PoolWindow restarted = Pool(10, 2.0);
  EXPECT_EQ(restarted.Since(before).total, 10u);
}

TEST(CanaryAnalysisTest, QuantilesFromBins) {
  PoolWindow w;
  w.latency.assign(latency::kBins, 0);
  w.latency[latency::BinOf(1000)] = 50;    // ~1 ms
  w.latency[latency::BinOf(100000)] = 50;  // ~100 ms
  EXPECT_NEAR(w.QuantileMs(0.5), 1.0, 0.07);
  EXPECT_NEAR(w.QuantileMs(0.9), 100.0, 6.5);
  EXPECT_DOUBLE_EQ(PoolWindow{}.QuantileMs(0.5), 0);
}

TEST(CanaryAnalysisTest, JsonCarriesEveryNumber) {
  config::CanarySpec spec;
  auto j = AnalysisJson(AnalyzeWindow(spec, Pool(100, 52.0), Pool(900, 2.0, 0, 2), "main pool"));
  EXPECT_EQ(j["decision"], "fail");
  EXPECT_EQ(j["metrics"].size(), 2u);
  EXPECT_EQ(j["metrics"][1]["name"], "latency");
  EXPECT_EQ(j["metrics"][1]["verdict"], "high");
  EXPECT_TRUE(j["metrics"][1].contains("p_value"));
  EXPECT_EQ(j["canary_latency_ms"].size(), 3u);
}

}  // namespace
}  // namespace gravity::deploy
