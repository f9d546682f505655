// canary.prometheus and canary.metrics in stack.yml.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fs.h"
#include "config/config.h"
#include "config/config_test_util.h"

namespace gravity::config {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing_util::Prefix;

// An environment `s` with the canary strategy and `canary` as given (one line of YAML,
// at line 6 of the file).
std::string Stack(const std::string& canary) {
  return "apps:\n  site:\n    repo: ./site.git\n    environments:\n      s:\n"
         "        branch: m\n        strategy: canary\n        canary: " +
         canary + "\n";
}

class CanaryMetricsConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("canary-metrics-config");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
  }
  void TearDown() override { RemoveTree(dir_); }
  Result<StackSpec> Parse(const std::string& yaml) {
    return ParseStackSpec(yaml, dir_ + "/stack.yml");
  }
  std::string dir_;
};

TEST_F(CanaryMetricsConfig, ReadsServerAndChecks) {
  auto r = Parse(Stack(
      "{prometheus: 'http://127.0.0.1:9090/', metrics: ["
      "{name: queue_depth, query: 'max(queue_depth{release=\"{{release}}\"})', max: 100}, "
      "{name: success, query: 'rate(ok[{{window}}])', min: 0.99}]}"));
  ASSERT_TRUE(r.ok()) << r.error();
  const CanarySpec& c = r->apps.at(0).environments.at(0).canary;
  EXPECT_EQ(c.prometheus, "http://127.0.0.1:9090");  // the trailing slash is dropped
  ASSERT_EQ(c.metrics.size(), 2u);
  EXPECT_EQ(c.metrics[0].name, "queue_depth");
  EXPECT_EQ(c.metrics[0].query, "max(queue_depth{release=\"{{release}}\"})");
  EXPECT_EQ(c.metrics[0].max, 100.0);
  EXPECT_FALSE(c.metrics[0].min.has_value());
  EXPECT_EQ(c.metrics[1].min, 0.99);
  EXPECT_FALSE(c.metrics[1].max.has_value());
}

TEST_F(CanaryMetricsConfig, NoChecksByDefault) {
  auto r = Parse(Stack("{weight: 5}"));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->apps.at(0).environments.at(0).canary.metrics.empty());
  EXPECT_TRUE(r->apps.at(0).environments.at(0).canary.prometheus.empty());
}

struct BadMetrics {
  const char* name;
  std::string canary;
  const char* location;
  const char* message;
};
void PrintTo(const BadMetrics& c, std::ostream* os) { *os << c.name; }

class CanaryMetricsErrors : public CanaryMetricsConfig,
                            public ::testing::WithParamInterface<BadMetrics> {};

TEST_P(CanaryMetricsErrors, NameTheKeyAndPosition) {
  const BadMetrics& c = GetParam();
  auto r = Parse(Stack(c.canary));
  ASSERT_FALSE(r.ok()) << "accepted: " << c.canary;
  EXPECT_THAT(r.error(), StartsWith(Prefix(dir_ + "/stack.yml", c.location)));
  EXPECT_THAT(r.error(), HasSubstr(c.message));
}

#define P "prometheus: 'http://127.0.0.1:9090', "

INSTANTIATE_TEST_SUITE_P(
    Stack, CanaryMetricsErrors,
    ::testing::Values(
        BadMetrics{"WithoutPrometheus", "{metrics: [{name: q, query: up, max: 1}]}", "8:18",
                   "canary.metrics: needs canary.prometheus"},
        BadMetrics{"PrometheusNotUrl", "{prometheus: '127.0.0.1:9090'}", "8:30",
                   "canary.prometheus: '127.0.0.1:9090': expected the server's base URL"},
        BadMetrics{"PrometheusNoHost", "{prometheus: 'http://'}", "8:30",
                   "canary.prometheus: 'http://': expected the server's base URL"},
        BadMetrics{"PrometheusWithQuery", "{prometheus: 'http://p:9090/?x=1'}", "8:30",
                   "expected the server's base URL"},
        BadMetrics{"MetricsNotList", "{" P "metrics: 5}", "8:64",
                   "canary.metrics: expected a list of {name, query, max | min} checks"},
        BadMetrics{"MetricsEmpty", "{" P "metrics: []}", "8:64",
                   "canary.metrics: expected a list of {name, query, max | min} checks"},
        BadMetrics{"CheckNotMapping", "{" P "metrics: [queue]}", "8:65",
                   "canary.metrics[0]: expected a mapping {name, query, max | min}, got a "
                   "scalar"},
        BadMetrics{"NoName", "{" P "metrics: [{query: up, max: 1}]}", "8:65",
                   "canary.metrics[0]: needs a name"},
        BadMetrics{"EmptyName", "{" P "metrics: [{name: '', query: up, max: 1}]}", "8:72",
                   "canary.metrics[0].name: must not be empty"},
        BadMetrics{"NoQuery", "{" P "metrics: [{name: q, max: 1}]}", "8:65",
                   "canary.metrics[0]: needs a query (PromQL)"},
        BadMetrics{"QueryList", "{" P "metrics: [{name: q, query: [up], max: 1}]}", "8:82",
                   "canary.metrics[0].query: expected a string, got a list"},
        BadMetrics{"NoLimit", "{" P "metrics: [{name: q, query: up}]}", "8:65",
                   "canary.metrics[0]: needs max or min"},
        BadMetrics{"BothLimits", "{" P "metrics: [{name: q, query: up, max: 1, min: 0}]}",
                   "8:65", "canary.metrics[0]: has both max and min: give exactly one"},
        BadMetrics{"MaxNotNumber", "{" P "metrics: [{name: q, query: up, max: lots}]}", "8:91",
                   "canary.metrics[0].max: 'lots': expected a number"},
        BadMetrics{"MinPercent", "{" P "metrics: [{name: q, query: up, min: 99%}]}", "8:91",
                   "canary.metrics[0].min: '99%': expected a number"},
        BadMetrics{"MaxInfinite", "{" P "metrics: [{name: q, query: up, max: inf}]}", "8:91",
                   "canary.metrics[0].max: 'inf': expected a number"},
        BadMetrics{"MaxMapping", "{" P "metrics: [{name: q, query: up, max: {a: 1}}]}", "8:91",
                   "canary.metrics[0].max: expected a number, got a mapping"},
        BadMetrics{"UnknownKey", "{" P "metrics: [{name: q, query: up, maximum: 1}]}", "8:65",
                   "canary.metrics[0]: unknown key 'maximum' (known keys: name, query, max, min)"},
        BadMetrics{"DuplicateName",
                   "{" P "metrics: [{name: q, query: up, max: 1}, {name: q, query: up, min: 0}]}",
                   "8:102", "canary.metrics[1].name: 'q' is already the name of another check"},
        BadMetrics{"UnknownPlaceholder",
                   "{" P "metrics: [{name: q, query: 'up{r=\"{{relase}}\"}', max: 1}]}", "8:82",
                   "canary.metrics[0].query: unknown placeholder '{{relase}}' (did you mean "
                   "{{release}}?)"},
        BadMetrics{"FarPlaceholder",
                   "{" P "metrics: [{name: q, query: 'up{r=\"{{commit_sha}}\"}', max: 1}]}",
                   "8:82", "(expected {{release}}, {{app}}, {{env}} or {{window}})"},
        BadMetrics{"UnclosedPlaceholder",
                   "{" P "metrics: [{name: q, query: 'up[{{window]', max: 1}]}", "8:82",
                   "canary.metrics[0].query: an unclosed '{{'"}));

#undef P

}  // namespace
}  // namespace gravity::config
