// Canary metric checks (canary.metrics) against a real Prometheus: Debian's `prometheus`
// scraping gravity-testapp's /metrics (a queue_depth gauge set by --metric-value) and the
// proxy's /metrics. First the check module alone, then whole canary deploys through the
// real proxy whose steps the checks decide.
#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

#include "deploy/deploy_fixture.h"
#include "deploy/metric_checks.h"
#include "support/prometheus.h"

namespace gravity::deploy {
namespace {

using ::testing::HasSubstr;

config::CanaryMetricCheck Check(const std::string& name, const std::string& query,
                                std::optional<double> max, std::optional<double> min = {}) {
  return {name, query, max, min};
}

// Two releases of an app, each exposing queue_depth{release=...}; Prometheus scrapes both.
class PrometheusChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [release, depth] : {std::pair{"busy", "250"}, std::pair{"calm", "3"}}) {
      test::TestAppOptions o;
      o.name = release;
      o.extra_args = {"--metric-value", std::string("queue_depth=") + depth};
      o.env = {{"GRAVITY_RELEASE", release}};
      auto app = test::TestApp::Start(o);
      ASSERT_TRUE(app.ok()) << app.error();
      apps_.push_back(std::move(*app));
    }
    auto p = test::Prometheus::Start({.static_targets = {apps_[0]->address(), apps_[1]->address()}});
    ASSERT_TRUE(p.ok()) << p.error();
    prometheus_ = std::move(*p);
    // Both scraped: two series.
    ASSERT_TRUE(test::WaitFor(
        [&] {
          auto body = prometheus_->Query("count(queue_depth)");
          return body.ok() && body->find("\"2\"") != std::string::npos;
        },
        60s, 200ms))
        << prometheus_->Logs();
    spec_.prometheus = prometheus_->url();
  }

  std::vector<MetricResult> Run(const std::string& release) {
    MetricContext ctx{release, "site", "staging", 5s};
    return RunMetricChecks(spec_, ctx, NowUnixMs());
  }

  static std::int64_t NowUnixMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::vector<std::unique_ptr<test::TestApp>> apps_;
  std::unique_ptr<test::Prometheus> prometheus_;
  config::CanarySpec spec_;
};

TEST_F(PrometheusChecks, OverItsMaxIsHighWithinIsPass) {
  spec_.metrics = {Check("queue_depth", "max(max_over_time(queue_depth{release=\"{{release}}\"}[{{window}}]))", 100)};
  auto busy = Run("busy");
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_EQ(busy[0].verdict, MetricVerdict::kHigh) << busy[0].detail;
  EXPECT_EQ(busy[0].canary_value, 250);
  EXPECT_EQ(busy[0].query, "max(max_over_time(queue_depth{release=\"busy\"}[5s]))");
  EXPECT_EQ(busy[0].detail, "queue_depth high: 250 above its max 100 (Prometheus)");
  auto calm = Run("calm");
  EXPECT_EQ(calm[0].verdict, MetricVerdict::kPass) << calm[0].detail;
  EXPECT_EQ(calm[0].canary_value, 3);
}

TEST_F(PrometheusChecks, MinChecksAndScalars) {
  spec_.metrics = {Check("depth_floor", "scalar(max(queue_depth{release=\"{{release}}\"}))", {}, 10)};
  EXPECT_EQ(Run("busy")[0].verdict, MetricVerdict::kPass) << Run("busy")[0].detail;
  auto calm = Run("calm");
  EXPECT_EQ(calm[0].verdict, MetricVerdict::kLow) << calm[0].detail;
  EXPECT_TRUE(calm[0].low_fails);
}

TEST_F(PrometheusChecks, TwoSeriesIsAnErrorNamingTheCount) {
  spec_.metrics = {Check("queue_depth", "queue_depth", 100)};
  auto r = Run("busy");
  EXPECT_EQ(r[0].verdict, MetricVerdict::kNoData);
  EXPECT_THAT(r[0].detail, HasSubstr("the query returned 2 series; a check needs one"));
}

TEST_F(PrometheusChecks, NoSeriesAndNaNAreNoData) {
  spec_.metrics = {Check("queue_depth", "queue_depth{release=\"{{release}}\"}", 100),
                   Check("ratio", "vector(0) / 0", 1)};
  auto r = Run("gone");
  EXPECT_EQ(r[0].verdict, MetricVerdict::kNoData);
  EXPECT_EQ(r[0].detail, "queue_depth: no data: the query returned no series");
  EXPECT_EQ(r[1].verdict, MetricVerdict::kNoData);
  EXPECT_EQ(r[1].detail, "ratio: no data: the query's value is NaN");
}

TEST_F(PrometheusChecks, BadPromQLShowsPrometheusErrorText) {
  spec_.metrics = {Check("queue_depth", "max(queue_depth{release=\"{{release}}\"}", 100)};
  auto r = Run("busy");
  EXPECT_EQ(r[0].verdict, MetricVerdict::kNoData);
  EXPECT_THAT(r[0].detail, HasSubstr("Prometheus refused the query (bad_data): invalid "
                                     "parameter \"query\": "));
  EXPECT_THAT(r[0].detail, HasSubstr("parse error"));
}

TEST_F(PrometheusChecks, StoppedServerIsUnavailableWithTheReason) {
  const std::string url = prometheus_->url();
  prometheus_.reset();  // stopped; nothing listens on its port any more
  spec_.metrics = {Check("queue_depth", "max(queue_depth)", 100)};
  auto r = Run("busy");
  EXPECT_EQ(r[0].verdict, MetricVerdict::kNoData);
  EXPECT_THAT(r[0].detail, HasSubstr("queue_depth: no data: Prometheus at " + url +
                                     " did not answer: "));
}

// Whole canary deploys: Prometheus scrapes the proxy's /metrics and, through file-based
// discovery kept up to date by a thread of the test, every running instance's /metrics.
class CanaryMetricsTest : public DeployFixture {
 protected:
  void SetUp() override {
    proxy_metrics_port_ = test::FreePort();
    DeployFixture::SetUp();
    auto p = test::Prometheus::Start(
        {.static_targets = {"127.0.0.1:" + std::to_string(proxy_metrics_port_)}});
    ASSERT_TRUE(p.ok()) << p.error();
    prometheus_ = std::move(*p);
    discovery_ = std::thread([this] { Discover(); });
    auto& env = stack_.apps[0].environments[0];  // staging
    env.strategy = config::Strategy::kCanary;
    env.canary.steps = {{50, 6s}};
    env.canary.min_requests = 20;
    env.canary.prometheus = prometheus_->url();
    deployer_->SetStack(stack_);
  }

  void TearDown() override {
    stop_ = true;
    if (discovery_.joinable()) discovery_.join();
    prometheus_.reset();
    DeployFixture::TearDown();
  }

  // Prometheus's app targets follow the supervisor's instances.
  void Discover() {
    std::vector<std::string> last;
    while (!stop_) {
      std::vector<std::string> now;
      for (const auto& i : supervisor_->List()) now.push_back(i.address());
      if (now != last && prometheus_->SetAppTargets(now).ok()) last = now;
      std::this_thread::sleep_for(100ms);
    }
  }

  void SetChecks(std::vector<config::CanaryMetricCheck> checks, const std::string& url = "") {
    auto& env = stack_.apps[0].environments[0];
    env.canary.metrics = std::move(checks);
    if (!url.empty()) env.canary.prometheus = url;
    deployer_->SetStack(stack_);
  }

  nlohmann::json LastStepMetric(const std::string& name) {
    auto d = deployer_->records().Deployments("site", 1).value().at(0);
    if (!d.canary) return nullptr;
    nlohmann::json c = CanaryJson(*d.canary);
    for (const auto& m : c["steps"].back()["analysis"]["metrics"]) {
      if (m["name"] == name) return m;
    }
    return nullptr;
  }

  // The canary's queue depth, over the step's window.
  static config::CanaryMetricCheck QueueDepth() {
    return Check("queue_depth",
                 "max(max_over_time(queue_depth{release=\"{{release}}\"}[{{window}}]))", 100);
  }

  std::unique_ptr<test::Prometheus> prometheus_;
  std::thread discovery_;
  std::atomic<bool> stop_{false};
};

TEST_F(CanaryMetricsTest, QueueOverItsMaxFailsTheStepNamingTheMetric) {
  auto first = deployer_->Deploy("staging", MakeRelease("r0", "--metric-value queue_depth=1"));
  ASSERT_TRUE(first.ok()) << first.error();
  SetChecks({QueueDepth()});
  auto out = deployer_->Deploy("staging", MakeRelease("r1", "--metric-value queue_depth=250"));
  ASSERT_FALSE(out.ok()) << "a canary over its queue_depth max was promoted";
  EXPECT_THAT(out.error(), HasSubstr("queue_depth high: 250 above its max 100 (Prometheus)"));
  EXPECT_EQ(Env("staging").live_commit, first->commit);
  nlohmann::json m = LastStepMetric("queue_depth");
  EXPECT_EQ(m["verdict"], "high") << m.dump();
  EXPECT_EQ(m["canary"], 250.0) << m.dump();
  EXPECT_EQ(m["source"], "prometheus") << m.dump();
  EXPECT_THAT(m["query"].get<std::string>(), HasSubstr("release=\"r1"));
}

TEST_F(CanaryMetricsTest, PassingChecksPromoteTheCanary) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r0")).ok());
  // The proxy is scraped too: its own target must be up.
  SetChecks({QueueDepth(), Check("proxy_scraped", "max(up{job=\"static\"})", {}, 1)});
  auto out = deployer_->Deploy("staging", MakeRelease("r1", "--metric-value queue_depth=3"));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(Env("staging").live_commit.substr(0, 2), "r1");
  EXPECT_EQ(LastStepMetric("queue_depth")["verdict"], "pass") << LastStepMetric("queue_depth");
  EXPECT_EQ(LastStepMetric("proxy_scraped")["verdict"], "pass") << LastStepMetric("proxy_scraped");
}

TEST_F(CanaryMetricsTest, PrometheusDownIsNeverAPass) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r0")).ok());
  const std::string down = "http://127.0.0.1:" + std::to_string(test::FreePort());
  SetChecks({QueueDepth()}, down);
  auto out = deployer_->Deploy("staging", MakeRelease("r1", "--metric-value queue_depth=3"));
  ASSERT_FALSE(out.ok()) << "promoted without its metric check";
  EXPECT_THAT(out.error(), HasSubstr("metric checks without a value, never passed on: "
                                     "queue_depth: no data: Prometheus at " + down +
                                     " did not answer"));
  EXPECT_EQ(LastStepMetric("queue_depth")["verdict"], "no data");
}

TEST_F(CanaryMetricsTest, BadPromQLFailsWithPrometheusErrorText) {
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r0")).ok());
  SetChecks({Check("queue_depth", "max(queue_depth{release=\"{{release}}\"}", 100)});
  auto out = deployer_->Deploy("staging", MakeRelease("r1", "--metric-value queue_depth=3"));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.error(), HasSubstr("queue_depth: no data: Prometheus refused the query "
                                     "(bad_data): invalid parameter \"query\""));
  EXPECT_THAT(out.error(), HasSubstr("parse error"));
}

}  // namespace
}  // namespace gravity::deploy
