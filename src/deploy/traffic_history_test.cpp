#include "deploy/traffic_history.h"

#include <gtest/gtest.h>

#include <mutex>

#include "common/latency_bins.h"

namespace gravity::deploy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A proxy whose services' counters the test sets between samples.
class CountingProxy : public ProxyControl {
 public:
  Result<ProxyDeployOutcome> Deploy(const ProxyRoute&) override { return ProxyDeployOutcome{}; }
  Result<std::optional<std::vector<ProxyTarget>>> Targets(const std::string&) override {
    return std::optional<std::vector<ProxyTarget>>();
  }
  Status Remove(const std::string&) override { return Status::Ok(); }
  Result<std::optional<ProxyService>> Service(const std::string& service) override {
    std::lock_guard lock(mutex_);
    if (down_) return Status::Unavailable("proxy down");
    auto s = services_.find(service);
    if (s == services_.end()) return std::optional<ProxyService>();
    return std::optional<ProxyService>(s->second);
  }
  void Set(const std::string& service, ProxyService s) {
    std::lock_guard lock(mutex_);
    services_[service] = std::move(s);
  }
  void SetDown(bool down) {
    std::lock_guard lock(mutex_);
    down_ = down;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, ProxyService> services_;  // guarded by mutex_
  bool down_ = false;                             // guarded by mutex_
};

// `n` requests of `micros` each on top of `base`, `e5` of them 5xx.
PoolRequests Add(PoolRequests base, std::uint64_t n, std::uint64_t micros, std::uint64_t e5 = 0,
                 std::uint64_t e4 = 0) {
  base.total += n;
  base.errors_5xx += e5;
  base.errors_4xx += e4;
  base.latency.resize(latency::kBins);
  base.latency[latency::BinOf(micros)] += n;
  return base;
}

config::StackSpec Stack() {
  config::StackSpec stack;
  config::StackApp app;
  app.name = "site";
  config::EnvironmentSpec staging;
  staging.name = "staging";
  config::EnvironmentSpec production;
  production.name = "production";
  app.environments = {staging, production};
  stack.apps.push_back(app);
  return stack;
}

class TrafficHistoryTest : public ::testing::Test {
 protected:
  TrafficHistoryTest() : history_(proxy_, clock_, {seconds(10), 4}) {
    history_.SetStack(Stack());
  }
  void Main(const PoolRequests& main) {
    main_ = main;
    ProxyService s;
    s.main_requests = main;
    proxy_.Set("site.staging", s);
  }
  // Advances the clock by one resolution and samples.
  void Tick() {
    clock_.Advance(seconds(10));
    history_.Sample();
  }
  std::vector<TrafficSeries> Staging() { return history_.Series("site", "staging").value(); }

  CountingProxy proxy_;
  FakeClock clock_;
  TrafficHistory history_;
  PoolRequests main_;
};

TEST_F(TrafficHistoryTest, FirstReadingIsOnlyABase) {
  Main(Add({}, 500, 1000));
  history_.Sample();
  auto s = Staging();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].pool, "main");
  EXPECT_TRUE(s[0].points.empty());
}

TEST_F(TrafficHistoryTest, PointIsTheIntervalsRateErrorsAndQuantiles) {
  Main(Add({}, 1000, 50'000));  // before the history: not counted
  history_.Sample();
  // 100 requests in 10 s: 98 fast (2 ms), 2 slow (400 ms); 5 are 5xx, 3 are 4xx.
  Main(Add(Add(main_, 98, 2000, 5, 3), 2, 400'000));
  Tick();
  auto s = Staging();
  ASSERT_EQ(s[0].points.size(), 1u);
  const TrafficPoint& p = s[0].points[0];
  EXPECT_EQ(p.requests, 100u);
  EXPECT_EQ(p.errors_5xx, 5u);
  EXPECT_EQ(p.errors_4xx, 3u);
  EXPECT_DOUBLE_EQ(p.seconds, 10);
  EXPECT_DOUBLE_EQ(p.RequestsPerSecond(), 10);
  EXPECT_DOUBLE_EQ(p.ErrorRate(), 0.05);
  // p50 in the 2 ms bin, p99 in the 400 ms bin (within a bin's 6.25%), not the old 50 ms.
  EXPECT_NEAR(p.p50_ms, 2, 2 * 0.0625);
  EXPECT_NEAR(p.p99_ms, 400, 400 * 0.0625);
  EXPECT_EQ(p.t_ms, std::chrono::duration_cast<milliseconds>(
                        clock_.WallNow().time_since_epoch()).count());
}

TEST_F(TrafficHistoryTest, QuietIntervalIsZeroNotAGap) {
  Main(Add({}, 10, 1000));
  history_.Sample();
  Tick();
  auto p = Staging()[0].points.at(0);
  EXPECT_EQ(p.requests, 0u);
  EXPECT_EQ(p.RequestsPerSecond(), 0);
  EXPECT_EQ(p.ErrorRate(), 0);
  EXPECT_EQ(p.p99_ms, 0);
}

TEST_F(TrafficHistoryTest, RingKeepsTheNewestPointsOldestFirst) {
  Main({});
  history_.Sample();
  for (std::uint64_t i = 1; i <= 6; ++i) {
    Main(Add(main_, i * 10, 1000));
    Tick();
  }
  auto points = Staging()[0].points;
  ASSERT_EQ(points.size(), 4u);  // the capacity
  EXPECT_EQ(points[0].requests, 30u);
  EXPECT_EQ(points[1].requests, 40u);
  EXPECT_EQ(points[2].requests, 50u);
  EXPECT_EQ(points[3].requests, 60u);
  for (std::size_t i = 1; i < points.size(); ++i) EXPECT_LT(points[i - 1].t_ms, points[i].t_ms);
}

TEST_F(TrafficHistoryTest, CounterResetIsANewBaseNeverNegative) {
  Main(Add({}, 5000, 1000, 40));
  history_.Sample();
  Main(Add(main_, 100, 1000));
  Tick();
  // The proxy restarted: its counters begin again, 30 requests since.
  Main(Add({}, 30, 3000, 3));
  Tick();
  Main(Add(main_, 20, 3000));
  Tick();
  auto points = Staging()[0].points;
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].requests, 100u);
  EXPECT_EQ(points[1].requests, 30u);
  EXPECT_EQ(points[1].errors_5xx, 3u);
  EXPECT_DOUBLE_EQ(points[1].ErrorRate(), 0.1);
  EXPECT_NEAR(points[1].p50_ms, 3, 3 * 0.0625);
  EXPECT_EQ(points[2].requests, 20u);
  EXPECT_EQ(points[2].errors_5xx, 0u);
}

TEST_F(TrafficHistoryTest, FailedReadingAddsNoPointAndTheNextCoversTheGap) {
  Main({});
  history_.Sample();
  proxy_.SetDown(true);
  Tick();
  EXPECT_TRUE(Staging()[0].points.empty());
  proxy_.SetDown(false);
  Main(Add(main_, 200, 1000));
  Tick();
  auto points = Staging()[0].points;
  ASSERT_EQ(points.size(), 1u);
  EXPECT_DOUBLE_EQ(points[0].seconds, 20);
  EXPECT_DOUBLE_EQ(points[0].RequestsPerSecond(), 10);
}

TEST_F(TrafficHistoryTest, CanaryPoolHasItsOwnSeriesAndANewBaseWhenItReturns) {
  ProxyService s;
  s.has_canary = true;
  s.canary_requests = Add({}, 7, 1000);
  proxy_.Set("site.staging", s);
  history_.Sample();
  s.main_requests = Add(s.main_requests, 90, 1000);
  s.canary_requests = Add(s.canary_requests, 10, 8000, 1);
  proxy_.Set("site.staging", s);
  Tick();
  auto series = Staging();
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].pool, "main");
  EXPECT_EQ(series[1].pool, "canary");
  EXPECT_EQ(series[0].points.at(0).requests, 90u);
  EXPECT_EQ(series[1].points.at(0).requests, 10u);
  EXPECT_DOUBLE_EQ(series[1].points.at(0).ErrorRate(), 0.1);
  // The canary ends, then another begins with counters of its own.
  s.has_canary = false;
  proxy_.Set("site.staging", s);
  Tick();
  s.has_canary = true;
  s.canary_requests = Add({}, 3, 1000);
  proxy_.Set("site.staging", s);
  Tick();
  series = Staging();
  EXPECT_EQ(series[1].points.size(), 1u);  // the returning canary's first reading: a base
  EXPECT_EQ(series[0].points.size(), 3u);
}

TEST_F(TrafficHistoryTest, BaselinePoolIsAThirdSeriesBesideTheCanary) {
  ProxyService s;
  s.has_canary = true;
  s.has_baseline = true;
  proxy_.Set("site.staging", s);
  history_.Sample();
  s.main_requests = Add(s.main_requests, 60, 1000);
  s.canary_requests = Add(s.canary_requests, 20, 9000, 2);
  s.baseline_requests = Add(s.baseline_requests, 20, 1000);
  proxy_.Set("site.staging", s);
  Tick();
  auto series = Staging();
  ASSERT_EQ(series.size(), 3u);
  auto pool = [&series](const std::string& name) -> const TrafficSeries& {
    for (const auto& s : series) {
      if (s.pool == name) return s;
    }
    ADD_FAILURE() << "no series " << name;
    return series.front();
  };
  ASSERT_EQ(pool("baseline").points.size(), 1u);
  EXPECT_EQ(pool("baseline").points[0].requests, 20u);
  EXPECT_DOUBLE_EQ(pool("baseline").points[0].ErrorRate(), 0.0);
  EXPECT_DOUBLE_EQ(pool("canary").points.at(0).ErrorRate(), 0.1);
  EXPECT_EQ(pool("main").points.at(0).requests, 60u);
}

TEST_F(TrafficHistoryTest, UnknownAppOrEnvironmentIsNotFoundByName) {
  auto app = history_.Series("shop", "staging");
  ASSERT_FALSE(app.ok());
  EXPECT_TRUE(app.status().IsNotFound());
  EXPECT_NE(app.error().find("'shop'"), std::string::npos);
  auto env = history_.Series("site", "qa");
  ASSERT_FALSE(env.ok());
  EXPECT_TRUE(env.status().IsNotFound());
  EXPECT_NE(env.error().find("'qa'"), std::string::npos);
  // Known but never served: no pools yet, not an error.
  history_.Sample();
  EXPECT_TRUE(history_.Series("site", "production").value().empty());
}

TEST_F(TrafficHistoryTest, EnvironmentRemovedFromTheStackLosesItsHistory) {
  Main({});
  history_.Sample();
  Main(Add(main_, 5, 1000));
  Tick();
  config::StackSpec stack = Stack();
  stack.apps[0].environments.erase(stack.apps[0].environments.begin());  // staging
  history_.SetStack(stack);
  EXPECT_TRUE(history_.Series("site", "staging").status().IsNotFound());
  history_.SetStack(Stack());
  EXPECT_TRUE(Staging().empty());
}

// The sampler thread ticks on the injected clock: the test moves the fake time and polls
// for the points while reading concurrently (TSan checks the locking).
TEST(TrafficHistorySampler, ThreadSamplesEachResolutionOfTheClock) {
  CountingProxy proxy;
  FakeClock clock;
  TrafficHistory history(proxy, clock, {milliseconds(5), 360});
  history.SetStack(Stack());
  ProxyService s;
  proxy.Set("site.staging", s);
  history.Start();
  std::size_t seen = 0;
  // Polls (bounded in real time) for the thread's points; never sleeps for them.
  const auto give_up = std::chrono::steady_clock::now() + seconds(20);
  while (seen < 3 && std::chrono::steady_clock::now() < give_up) {
    s.main_requests = Add(s.main_requests, 1, 1000);
    proxy.Set("site.staging", s);
    clock.Advance(milliseconds(5));
    auto series = history.Series("site", "staging").value();
    seen = series.empty() ? 0 : series[0].points.size();
    std::this_thread::yield();
  }
  history.Stop();
  EXPECT_GE(seen, 3u);
  const auto series = history.Series("site", "staging").value();
  ASSERT_FALSE(series.empty());
  for (const auto& p : series[0].points) EXPECT_GT(p.seconds, 0);
}

}  // namespace
}  // namespace gravity::deploy
