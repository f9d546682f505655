#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "common/fs.h"
#include "config/config.h"
#include "config/config_test_util.h"

namespace gravity::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing_util::Prefix;

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("stack-test");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    // PEM-shaped files for tls: { certificate, key } (the proxy checks their contents).
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/c.pem", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/k.pem", "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n").ok());
  }
  void TearDown() override { RemoveTree(dir_); }
  Result<StackSpec> Parse(const std::string& yaml) {
    return ParseStackSpec(yaml, dir_ + "/stack.yml");
  }
  std::string dir_;
};

constexpr const char* kDesignStack = R"(state_dir: .gravity            # relative to this file
proxy:  { listen: 127.0.0.1:8080 }
admin:  { listen: 127.0.0.1:7070 }     # daemon API + dashboard
apps:
  site:
    repo: ./site.git
    poll_interval: 2s
    webhook_secret_file: site.secret
    environments:
      staging:
        branch: staging
        host: "*"
        instances: 2
        strategy: red_black
        drain_timeout: 30s
        keep_previous: 10m
        env: { GREETING: hi }
      production:
        promote_from: staging
        host: www.localhost
        instances: 3
)";

TEST_F(StackTest, ParsesTheDesignExample) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/site.secret", "s3cret\n").ok());
  auto r = Parse(kDesignStack);
  ASSERT_TRUE(r.ok()) << r.error();
  const StackSpec& s = *r;
  EXPECT_EQ(s.file, dir_ + "/stack.yml");
  EXPECT_EQ(s.state_dir, dir_ + "/.gravity");
  EXPECT_EQ(s.proxy_listen.ToString(), "127.0.0.1:8080");
  EXPECT_EQ(s.admin_listen.ToString(), "127.0.0.1:7070");
  EXPECT_FALSE(s.proxy_metrics.has_value());
  ASSERT_EQ(s.apps.size(), 1u);
  const StackApp& app = s.apps[0];
  EXPECT_EQ(app.name, "site");
  EXPECT_EQ(app.repo, dir_ + "/site.git");
  EXPECT_EQ(app.poll_interval, seconds(2));
  EXPECT_EQ(app.webhook_secret_file, dir_ + "/site.secret");
  EXPECT_EQ(app.keep_releases, 5);
  ASSERT_EQ(app.environments.size(), 2u);
  const EnvironmentSpec& st = app.environments[0];
  EXPECT_EQ(st.name, "staging");
  EXPECT_EQ(st.branch, "staging");
  EXPECT_EQ(st.promote_from, "");
  EXPECT_EQ(st.host, "*");
  EXPECT_EQ(st.instances, 2);
  EXPECT_EQ(st.strategy, Strategy::kRedBlack);
  EXPECT_EQ(st.drain_timeout, seconds(30));
  EXPECT_EQ(st.keep_previous, minutes(10));
  EXPECT_EQ(st.env, (std::map<std::string, std::string>{{"GREETING", "hi"}}));
  const EnvironmentSpec& pr = app.environments[1];
  EXPECT_EQ(pr.name, "production");
  EXPECT_EQ(pr.branch, "");
  EXPECT_EQ(pr.promote_from, "staging");
  EXPECT_EQ(pr.host, "www.localhost");
  EXPECT_EQ(pr.instances, 3);
  EXPECT_EQ(app.FindEnvironment("production"), &pr);
  EXPECT_EQ(s.FindApp("site"), &app);
  EXPECT_EQ(s.FindApp("nope"), nullptr);
}

TEST_F(StackTest, MinimalStackGetsDefaults) {
  auto r = Parse(
      "apps:\n  site:\n    repo: https://example.com/site.git\n"
      "    environments:\n      staging: {branch: staging}\n");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->state_dir, dir_ + "/.gravity");
  EXPECT_EQ(r->proxy_listen.ToString(), "127.0.0.1:8080");
  EXPECT_EQ(r->admin_listen.ToString(), "127.0.0.1:7070");
  EXPECT_EQ(r->instance_ports.first, 20000);
  EXPECT_EQ(r->instance_ports.last, 29999);
  const StackApp& app = r->apps[0];
  EXPECT_EQ(app.repo, "https://example.com/site.git");
  EXPECT_EQ(app.poll_interval, seconds(2));
  EXPECT_EQ(app.webhook_secret_file, "");
  const EnvironmentSpec& e = app.environments[0];
  EXPECT_EQ(e.host, "*");
  EXPECT_EQ(e.instances, 1);
  EXPECT_EQ(e.strategy, Strategy::kRedBlack);
  EXPECT_EQ(e.drain_timeout, seconds(30));
  EXPECT_EQ(e.keep_previous, minutes(10));
  EXPECT_TRUE(e.env.empty());
  EXPECT_EQ(e.canary, CanarySpec{});
}

TEST_F(StackTest, PathsResolveAgainstTheStackFileNotTheWorkingDirectory) {
  ASSERT_TRUE(MakeDirs(dir_ + "/sub/secrets").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/sub/secrets/hook", "x").ok());
  std::string yaml =
      "state_dir: ../state\napps:\n  a:\n    repo: ../repos/a.git\n"
      "    webhook_secret_file: secrets/hook\n    environments: {s: {branch: main}}\n"
      "  b:\n    repo: /abs/b.git\n    environments: {s: {branch: main, host: b.localhost}}\n"
      "  c:\n    repo: git@github.com:org/c.git\n"
      "    environments: {s: {branch: main, host: c.localhost}}\n"
      "  d:\n    repo: file:///srv/d.git\n"
      "    environments: {s: {branch: main, host: d.localhost}}\n";
  auto r = ParseStackSpec(yaml, dir_ + "/sub/stack.yml");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->state_dir, dir_ + "/state");
  EXPECT_EQ(r->apps[0].repo, dir_ + "/repos/a.git");
  EXPECT_EQ(r->apps[0].webhook_secret_file, dir_ + "/sub/secrets/hook");
  EXPECT_EQ(r->apps[1].repo, "/abs/b.git");
  EXPECT_EQ(r->apps[2].repo, "git@github.com:org/c.git");
  EXPECT_EQ(r->apps[3].repo, "file:///srv/d.git");
}

TEST_F(StackTest, LoadStackSpecReadsTheFile) {
  std::string path = dir_ + "/stack.yml";
  ASSERT_TRUE(WriteFileAtomic(path,
                              "apps:\n  site:\n    repo: ./x.git\n"
                              "    environments: {staging: {branch: staging}}\n")
                  .ok());
  auto r = LoadStackSpec(path);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->apps[0].repo, dir_ + "/x.git");
  auto missing = LoadStackSpec(dir_ + "/missing.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error(), StartsWith(dir_ + "/missing.yml: "));
}

TEST_F(StackTest, AllOptionalSettings) {
  auto r = Parse(
      "proxy: {listen: '0.0.0.0:80', metrics: '127.0.0.1:9100'}\n"
      "admin: {listen: '[::1]:7070'}\n"
      "instance_ports: 30000-30100\n"
      "apps:\n  site:\n    repo: r\n    keep_releases: 9\n    poll_interval: 1s\n"
      "    environments:\n      prod:\n        branch: main\n        host: '*.Example.com'\n"
      "        strategy: canary\n"
      "        canary: {weight: 25, duration: 2m, max_error_rate: 2.5%, min_requests: 50}\n"
      "        drain_timeout: 0s\n        keep_previous: 0s\n"
      "        env: {N: 3, EMPTY: '', B: true}\n");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->proxy_listen.ToString(), "0.0.0.0:80");
  ASSERT_TRUE(r->proxy_metrics.has_value());
  EXPECT_EQ(r->proxy_metrics->ToString(), "127.0.0.1:9100");
  EXPECT_EQ(r->admin_listen.host, "::1");
  EXPECT_EQ(r->admin_listen.ToString(), "[::1]:7070");
  EXPECT_EQ(r->instance_ports.first, 30000);
  EXPECT_EQ(r->instance_ports.last, 30100);
  const StackApp& app = r->apps[0];
  EXPECT_EQ(app.keep_releases, 9);
  EXPECT_EQ(app.poll_interval, seconds(1));
  const EnvironmentSpec& e = app.environments[0];
  EXPECT_EQ(e.host, "*.example.com");
  EXPECT_EQ(e.strategy, Strategy::kCanary);
  EXPECT_EQ(e.canary.weight, 25);
  EXPECT_EQ(e.canary.duration, minutes(2));
  EXPECT_DOUBLE_EQ(e.canary.max_error_rate, 0.025);
  EXPECT_EQ(e.canary.min_requests, 50);
  EXPECT_EQ(e.drain_timeout, milliseconds(0));
  EXPECT_EQ(e.keep_previous, milliseconds(0));
  EXPECT_EQ(e.env, (std::map<std::string, std::string>{{"N", "3"}, {"EMPTY", ""}, {"B", "true"}}));
}

struct BadStack {
  const char* name;
  const char* yaml;
  const char* location;
  const char* message;
};

void PrintTo(const BadStack& c, std::ostream* os) { *os << c.name; }

class StackErrors : public StackTest, public ::testing::WithParamInterface<BadStack> {};

TEST_P(StackErrors, NamesFileLineColumnAndTheProblem) {
  const BadStack& c = GetParam();
  auto r = Parse(c.yaml);
  ASSERT_FALSE(r.ok()) << "accepted:\n" << c.yaml;
  EXPECT_THAT(r.error(), StartsWith(Prefix(dir_ + "/stack.yml", c.location)));
  EXPECT_THAT(r.error(), HasSubstr(c.message));
}

TEST_F(StackTest, CanaryStepsAndJudge) {
  auto r = Parse(
      "apps:\n  site:\n    repo: r\n    environments:\n      prod:\n        branch: main\n"
      "        strategy: canary\n        watch: 2m\n"
      "        canary:\n"
      "          steps: [{weight: 5, duration: 1m}, {weight: 25, duration: 2m}, {weight: 50}]\n"
      "          confidence: 0.99\n          max_latency_increase: 35%\n          latency_noise: 2ms\n"
      "          max_error_increase: 1%\n          judge_4xx: true\n"
      "          pass_score: 90\n          marginal_score: 60\n          no_traffic: extend\n"
      "          baseline: true\n");
  ASSERT_TRUE(r.ok()) << r.error();
  const EnvironmentSpec& e = r->apps[0].environments[0];
  EXPECT_EQ(e.watch, minutes(2));
  const CanarySpec& c = e.canary;
  ASSERT_EQ(c.Steps().size(), 3u);
  EXPECT_EQ(c.Steps()[0], (CanaryStep{5, minutes(1)}));
  EXPECT_EQ(c.Steps()[1], (CanaryStep{25, minutes(2)}));
  EXPECT_EQ(c.Steps()[2], (CanaryStep{50, minutes(1)}));  // the default duration
  EXPECT_DOUBLE_EQ(c.confidence, 0.99);
  EXPECT_DOUBLE_EQ(c.max_latency_increase, 0.35);
  EXPECT_EQ(c.latency_noise, milliseconds(2));
  EXPECT_DOUBLE_EQ(c.max_error_increase, 0.01);
  EXPECT_TRUE(c.judge_4xx);
  EXPECT_EQ(c.pass_score, 90);
  EXPECT_EQ(c.marginal_score, 60);
  EXPECT_EQ(c.no_traffic, NoTraffic::kExtend);
  EXPECT_TRUE(c.baseline);
  EXPECT_FALSE(CanarySpec{}.baseline);
  // The shorthand is one step; the defaults judge at 98% with 20% latency tolerance.
  CanarySpec shorthand;
  ASSERT_EQ(shorthand.Steps().size(), 1u);
  EXPECT_EQ(shorthand.Steps()[0], (CanaryStep{10, minutes(1)}));
  EXPECT_DOUBLE_EQ(shorthand.confidence, 0.98);
  EXPECT_DOUBLE_EQ(shorthand.max_latency_increase, 0.20);
  EXPECT_EQ(shorthand.no_traffic, NoTraffic::kPass);
  EXPECT_EQ(EnvironmentSpec{}.watch, milliseconds(0));
}

#define APP_HEAD "apps:\n  site:\n    repo: ./site.git\n    environments:\n"

INSTANTIATE_TEST_SUITE_P(
    Malformed, StackErrors,
    ::testing::Values(
        BadStack{"Empty", "", "1:1", "the file is empty"},
        BadStack{"Syntax", "apps: {site: [\n", "2:1", "invalid YAML"},
        BadStack{"NoApps", "state_dir: x\n", "1:1", "missing required section 'apps'"},
        BadStack{"AppsEmpty", "apps: {}\n", "1:7", "apps: no apps defined"},
        BadStack{"AppsList", "apps: [site]\n", "1:7", "apps: expected a mapping, got a list"},
        BadStack{"UnknownTopKey", "proxi: {listen: 127.0.0.1:1}\napps: {}\n", "1:1",
                 "unknown key 'proxi'; did you mean 'proxy'?"},
        BadStack{"AppNoRepo", "apps:\n  site:\n    environments: {s: {branch: main}}\n", "3:5",
                 "apps.site: missing required key 'repo'"},
        BadStack{"AppRepoEmpty",
                 "apps:\n  site:\n    repo: ''\n    environments: {s: {branch: m}}\n", "3:11",
                 "apps.site.repo: must not be empty"},
        BadStack{"AppNoEnvironments", "apps:\n  site:\n    repo: x\n", "3:5",
                 "apps.site: missing required key 'environments'"},
        BadStack{"AppEnvironmentsEmpty", "apps:\n  site:\n    repo: x\n    environments:\n", "4:5",
                 "apps.site.environments: no environments defined"},
        BadStack{"AppUnknownKey",
                 "apps:\n  site:\n    repo: x\n    pol_interval: 1s\n"
                 "    environments: {s: {branch: m}}\n",
                 "4:5", "apps.site: unknown key 'pol_interval'; did you mean 'poll_interval'?"},
        BadStack{"MisplacedEnvKey",
                 "apps:\n  site:\n    repo: x\n    branch: main\n"
                 "    environments: {s: {branch: m}}\n",
                 "4:5",
                 "apps.site: unknown key 'branch' here; it belongs to an environment "
                 "(apps.APP.environments.ENV.branch)"},
        BadStack{"MisplacedAppKey", APP_HEAD "      s: {branch: m, repo: y}\n", "5:22",
                 "it belongs to an app (apps.APP.repo)"},
        BadStack{"MisplacedListen", "listen: 127.0.0.1:1\n" APP_HEAD "      s: {branch: m}\n",
                 "1:1", "it belongs under proxy: or admin:"},
        BadStack{"AppSpecKeyInStack", APP_HEAD "      s: {branch: m, health: {path: /}}\n", "5:22",
                 "it belongs in gravity.yml"},
        BadStack{"AppNameInvalid", "apps:\n  My Site:\n    repo: x\n", "2:3",
                 "apps.My Site: invalid app name"},
        BadStack{"DuplicateApp",
                 "apps:\n  a: {repo: x, environments: {s: {branch: m}}}\n"
                 "  a: {repo: y, environments: {s: {branch: m}}}\n",
                 "3:3", "apps.a: duplicate key (first given on line 2)"},
        BadStack{"PollIntervalBad",
                 "apps:\n  site:\n    repo: x\n    poll_interval: often\n"
                 "    environments: {s: {branch: m}}\n",
                 "4:20", "apps.site.poll_interval: invalid duration 'often'"},
        BadStack{"PollIntervalTooSmall",
                 "apps:\n  site:\n    repo: x\n    poll_interval: 1ms\n"
                 "    environments: {s: {branch: m}}\n",
                 "4:20", "between 100ms and 24h"},
        BadStack{"SecretMissing",
                 "apps:\n  site:\n    repo: x\n    webhook_secret_file: nope\n"
                 "    environments: {s: {branch: m}}\n",
                 "4:26", "apps.site.webhook_secret_file: cannot read"},
        BadStack{"EnvBothBranchAndPromote",
                 APP_HEAD "      s: {branch: m, promote_from: t}\n"
                          "      t: {branch: x, host: t.localhost}\n",
                 "5:10", "apps.site.environments.s: has both 'branch' and 'promote_from'"},
        BadStack{"EnvNeither", APP_HEAD "      s: {host: a.localhost}\n", "5:10",
                 "apps.site.environments.s: needs 'branch'"},
        BadStack{"EnvEmpty", APP_HEAD "      s:\n", "5:7", "needs 'branch'"},
        BadStack{"EnvNotMap", APP_HEAD "      s: main\n", "5:10",
                 "apps.site.environments.s: expected a mapping, got a scalar"},
        BadStack{"EnvNameInvalid", APP_HEAD "      Prod!: {branch: m}\n", "5:7",
                 "invalid environment name"},
        BadStack{"PromoteUnknown",
                 APP_HEAD "      staging: {branch: staging}\n"
                          "      prod: {promote_from: stagin, host: www.localhost}\n",
                 "6:28", "no environment 'stagin' in app 'site'; did you mean 'staging'?"},
        BadStack{"PromoteSelf", APP_HEAD "      prod: {promote_from: prod}\n", "5:28",
                 "cannot promote from itself"},
        BadStack{"PromoteCycle",
                 APP_HEAD "      a: {promote_from: b}\n"
                          "      b: {promote_from: a, host: b.localhost}\n",
                 "5:25", "form a cycle"},
        BadStack{"SameHostDefault", APP_HEAD "      a: {branch: a}\n      b: {branch: b}\n", "6:7",
                 "host '*' is already routed to site/a (\"*\" is the default"},
        BadStack{"SameHostExplicitAcrossApps",
                 "apps:\n  one: {repo: x, environments: {p: {branch: m, host: WWW.localhost}}}\n"
                 "  two: {repo: y, environments: {p: {branch: m, host: www.localhost}}}\n",
                 "3:54", "host 'www.localhost' is already routed to one/p"},
        BadStack{"HostWithPort", APP_HEAD "      s: {branch: m, host: 'a.localhost:80'}\n", "5:28",
                 "a host is a name without a port"},
        BadStack{"HostInvalid", APP_HEAD "      s: {branch: m, host: 'a b'}\n", "5:28",
                 "expected \"*\", \"*.example.com\" or a host name"},
        BadStack{"HostUnquotedStar", APP_HEAD "      s: {branch: m, host: *}\n",
                 "5:", "must be quoted"},
        BadStack{"InstancesZero", APP_HEAD "      s: {branch: m, instances: 0}\n", "5:33",
                 "instances: must be between 1 and 100, got 0"},
        BadStack{"InstancesAbsurd", APP_HEAD "      s: {branch: m, instances: 5000}\n", "5:33",
                 "must be between 1 and 100"},
        BadStack{"InstancesText", APP_HEAD "      s: {branch: m, instances: two}\n", "5:33",
                 "expected a whole number, got 'two'"},
        BadStack{"StrategyClose", APP_HEAD "      s: {branch: m, strategy: red-black}\n", "5:32",
                 "unknown strategy 'red-black'; did you mean 'red_black'?"},
        BadStack{"StrategyFar", APP_HEAD "      s: {branch: m, strategy: rolling}\n", "5:32",
                 "expected red_black or canary"},
        BadStack{"CanaryWithoutStrategy", APP_HEAD "      s: {branch: m, canary: {weight: 5}}\n",
                 "5:22", "canary: is only used with strategy: canary"},
        BadStack{"CanaryWeight",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {weight: 100}}\n", "5:57",
                 "canary.weight: must be between 1 and 99"},
        BadStack{"CanaryRate",
                 APP_HEAD
                 "      s: {branch: m, strategy: canary, canary: {max_error_rate: 150%}}\n",
                 "5:65", "must be between 0% and 100%"},
        BadStack{"CanaryBaselineNotBool",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {baseline: yes}}\n",
                 "5:59", "canary.baseline: 'yes': expected true or false"},
        BadStack{"CanaryBaselineWeightOver50",
                 APP_HEAD
                 "      s: {branch: m, strategy: canary, canary: {baseline: true, "
                 "steps: [{weight: 10}, {weight: 60}]}}\n",
                 "5:40", "canary.baseline: needs every step's weight at most 50"},
        BadStack{"CanaryStepsNotList",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {steps: 5}}\n", "5:56",
                 "canary.steps: expected a list of {weight, duration} steps"},
        BadStack{"CanaryStepNotMap",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {steps: [5]}}\n", "5:57",
                 "canary.steps[0]: expected a mapping {weight, duration}, got a scalar"},
        BadStack{"CanaryStepWithoutWeight",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {steps: [{duration: 1m}]}}\n",
                 "5:57", "canary.steps[0]: needs a weight"},
        BadStack{"CanaryStepsFalling",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {steps: [{weight: 20}, "
                          "{weight: 10}]}}\n",
                 "5:71", "canary.steps[1].weight: must not be below the step before (20)"},
        BadStack{"CanaryStepUnknownKey",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {steps: [{weight: 2, wieght: 2}]}}\n",
                 "5:69", "unknown key 'wieght'; did you mean 'weight'?"},
        BadStack{"CanaryStepsAndShorthand",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {weight: 5, steps: "
                          "[{weight: 5}]}}\n",
                 "5:60", "canary.steps: cannot be given with weight/duration"},
        BadStack{"CanaryConfidence",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {confidence: 98%}}\n",
                 "5:61", "canary.confidence: '98%': expected a number from 0.5 to below 1"},
        BadStack{"CanaryLatencyIncrease",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {max_latency_increase: "
                          "fast}}\n",
                 "5:71", "expected a percentage such as 20%"},
        BadStack{"CanaryNoTraffic",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {no_traffic: wait}}\n",
                 "5:61", "canary.no_traffic: 'wait': expected pass, fail or extend"},
        BadStack{"CanaryScores",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {pass_score: 50, "
                          "marginal_score: 60}}\n",
                 "5:40", "canary.marginal_score: must not be above pass_score (50)"},
        BadStack{"WatchDuration", APP_HEAD "      s: {branch: m, watch: forever}\n", "5:29",
                 "watch: invalid duration 'forever'"},
        BadStack{"BranchInvalid", APP_HEAD "      s: {branch: 'a..b'}\n", "5:19",
                 "'a..b' is not a valid branch name"},
        BadStack{"BranchSpace", APP_HEAD "      s: {branch: 'a b'}\n", "5:19",
                 "is not a valid branch name"},
        BadStack{"BranchList", APP_HEAD "      s: {branch: [a]}\n", "5:19",
                 "expected a string, got a list"},
        BadStack{"DrainTimeoutBad", APP_HEAD "      s: {branch: m, drain_timeout: 2x}\n", "5:37",
                 "drain_timeout: invalid duration '2x'"},
        BadStack{"EnvUnknownKey", APP_HEAD "      s: {branch: m, instance: 2}\n", "5:22",
                 "unknown key 'instance'; did you mean 'instances'?"},
        BadStack{"EnvVarName", APP_HEAD "      s: {branch: m, env: {1BAD: x}}\n", "5:28",
                 "not a valid environment variable name"},
        BadStack{"EnvVarReserved", APP_HEAD "      s: {branch: m, env: {PORT: 1}}\n", "5:28",
                 "is set by Gravity"},
        BadStack{"EnvVarGravity", APP_HEAD "      s: {branch: m, env: {GRAVITY_APP: 1}}\n", "5:28",
                 "is set by Gravity"},
        BadStack{"EnvVarNested", APP_HEAD "      s: {branch: m, env: {A: {b: c}}}\n", "5:31",
                 "env.A: expected a string, got a mapping"},
        BadStack{"EnvList", APP_HEAD "      s: {branch: m, env: [A]}\n", "5:27",
                 "env: expected a mapping, got a list"},
        BadStack{"ListenNoPort", "proxy: {listen: localhost}\n" APP_HEAD "      s: {branch: m}\n",
                 "1:17", "proxy.listen: invalid listen address 'localhost': missing ':PORT'"},
        BadStack{"ListenBadPort",
                 "proxy: {listen: '127.0.0.1:99999'}\n" APP_HEAD "      s: {branch: m}\n", "1:17",
                 "port must be between 1 and 65535"},
        BadStack{"ListenZeroPort",
                 "admin: {listen: '127.0.0.1:0'}\n" APP_HEAD "      s: {branch: m}\n", "1:17",
                 "port must be between 1 and 65535"},
        BadStack{"ListenBadIp",
                 "proxy: {listen: '300.1.1.1:80'}\n" APP_HEAD "      s: {branch: m}\n", "1:17",
                 "is not an IP address or host name"},
        BadStack{"ListenBareV6", "proxy: {listen: '::1:80'}\n" APP_HEAD "      s: {branch: m}\n",
                 "1:17", "put an IPv6 address in brackets"},
        BadStack{"ListenPortText", "proxy: {listen: 'h:http'}\n" APP_HEAD "      s: {branch: m}\n",
                 "1:17", "port 'http' is not a number"},
        BadStack{"ListenSame",
                 "proxy: {listen: '127.0.0.1:8000'}\n"
                 "admin: {listen: '127.0.0.1:8000'}\n" APP_HEAD "      s: {branch: m}\n",
                 "2:17", "admin.listen: same address as proxy.listen"},
        BadStack{"ListenWildcardOverlap",
                 "proxy: {listen: '0.0.0.0:8000'}\n"
                 "admin: {listen: '127.0.0.1:8000'}\n" APP_HEAD "      s: {branch: m}\n",
                 "2:17", "same address as proxy.listen"},
        BadStack{"ProxyUnknownKey",
                 "proxy: {lisen: '127.0.0.1:1'}\n" APP_HEAD "      s: {branch: m}\n", "1:9",
                 "did you mean 'listen'?"},
        BadStack{"PortsOverlap", "instance_ports: 8000-9000\n" APP_HEAD "      s: {branch: m}\n",
                 "1:17", "contains port 8080 of 127.0.0.1:8080"},
        BadStack{"PortsBad", "instance_ports: 9000\n" APP_HEAD "      s: {branch: m}\n", "1:17",
                 "expected a port range such as 20000-29999"},
        BadStack{"PortsReversed", "instance_ports: 9000-8000\n" APP_HEAD "      s: {branch: m}\n",
                 "1:17", "FIRST <= LAST"},
        BadStack{"KeepReleasesZero",
                 "apps:\n  site:\n    repo: x\n    keep_releases: 0\n"
                 "    environments: {s: {branch: m}}\n",
                 "4:20", "between 1 and 1000"}),
    [](const auto& info) { return std::string(info.param.name); });

// Hostile input the cases above leave out: each still gets `file:line:col: what`.
INSTANTIATE_TEST_SUITE_P(
    Hostile, StackErrors,
    ::testing::Values(
        BadStack{"UnclosedFlowMap", "apps: {site: {repo: x}\n", "2:1", "invalid YAML"},
        BadStack{"KeyIsList", "[apps]: 1\n", "1:1", "keys must be plain names"},
        BadStack{"StateDirList", "state_dir: [a]\n" APP_HEAD "      s: {branch: m}\n", "1:12",
                 "state_dir: expected a string, got a list"},
        BadStack{"ProxyScalar", "proxy: 8080\n" APP_HEAD "      s: {branch: m}\n", "1:8",
                 "proxy: expected a mapping, got a scalar"},
        BadStack{"ListenList", "proxy: {listen: [a]}\n" APP_HEAD "      s: {branch: m}\n", "1:17",
                 "proxy.listen: expected a string, got a list"},
        BadStack{"ListenMissingV6Port",
                 "admin: {listen: '[::1]'}\n" APP_HEAD "      s: {branch: m}\n", "1:17",
                 "admin.listen: invalid listen address '[::1]': missing ':PORT'"},
        BadStack{"ListenBadV6",
                 "admin: {listen: '[1.2.3.4]:80'}\n" APP_HEAD "      s: {branch: m}\n", "1:17",
                 "'1.2.3.4' is not an IPv6 address"},
        BadStack{
            "ListenHostLabelTooLong",
            "proxy: {listen: 'a"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:80'}\n" APP_HEAD
            "      s: {branch: m}\n",
            "1:17", "is not an IP address or host name"},
        BadStack{"ListenPortHuge",
                 "proxy: {listen: '127.0.0.1:99999999999'}\n" APP_HEAD "      s: {branch: m}\n",
                 "1:17", "is not a number"},
        BadStack{"MetricsBad", "proxy: {metrics: 'localhost'}\n" APP_HEAD "      s: {branch: m}\n",
                 "1:18", "proxy.metrics: invalid listen address 'localhost'"},
        BadStack{"MetricsSameAsProxy",
                 "proxy: {listen: '127.0.0.1:9000', metrics: '127.0.0.1:9000'}\n" APP_HEAD
                 "      s: {branch: m}\n",
                 "1:44", "proxy.metrics: must differ from proxy.listen and admin.listen"},
        BadStack{"AdminMetricsUnknown",
                 "admin: {listen: '127.0.0.1:7070', metrics: '127.0.0.1:9'}\n" APP_HEAD
                 "      s: {branch: m}\n",
                 "1:35", "admin: unknown key 'metrics' here; it belongs under proxy:"},
        BadStack{"PortsPrivileged", "instance_ports: 80-90\n" APP_HEAD "      s: {branch: m}\n",
                 "1:17", "1024 <= FIRST"},
        BadStack{"PortsText", "instance_ports: a-b\n" APP_HEAD "      s: {branch: m}\n", "1:17",
                 "expected a port range such as 20000-29999, got 'a-b'"},
        BadStack{"AppNotMap", "apps:\n  site: x\n", "2:9",
                 "apps.site: expected a mapping, got a scalar"},
        BadStack{"AppNameTooLong",
                 "apps:\n  a"
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:\n"
                 "    repo: x\n",
                 "2:3", "invalid app name; use lowercase letters"},
        BadStack{"AppNameLeadingDash", "apps:\n  -x: {repo: x}\n", "2:3", "invalid app name"},
        BadStack{"DuplicateEnvironment",
                 APP_HEAD "      s: {branch: m}\n      s: {branch: n, host: b.localhost}\n", "6:7",
                 "apps.site.environments.s: duplicate key (first given on line 5)"},
        BadStack{"DuplicateEnvVar", APP_HEAD "      s: {branch: m, env: {A: x, A: y}}\n", "5:34",
                 "env.A: duplicate key (first given on line 5)"},
        BadStack{"DuplicateEnvKey", APP_HEAD "      s: {branch: m, branch: n}\n", "5:22",
                 "apps.site.environments.s.branch: duplicate key"},
        BadStack{"EnvVarDash", APP_HEAD "      s: {branch: m, env: {MY-VAR: x}}\n", "5:28",
                 "env.MY-VAR: not a valid environment variable name"},
        BadStack{"EnvVarEmptyName", APP_HEAD "      s: {branch: m, env: {'': x}}\n", "5:28",
                 "not a valid environment variable name"},
        BadStack{"EnvVarValueNull", APP_HEAD "      s: {branch: m, env: {A: }}\n", "5:28",
                 "env.A: expected a string, got nothing"},
        BadStack{"EnvVarValueList", APP_HEAD "      s: {branch: m, env: {A: [1]}}\n", "5:31",
                 "env.A: expected a string, got a list"},
        BadStack{"EnvVarKeyIsList", APP_HEAD "      s: {branch: m, env: {[A]: x}}\n", "5:28",
                 "keys must be plain names"},
        BadStack{"EnvVarGravityPrefix", APP_HEAD "      s: {branch: m, env: {GRAVITY_X: 1}}\n",
                 "5:28", "env.GRAVITY_X: is set by Gravity and cannot be overridden"},
        BadStack{"HostTrailingDot", APP_HEAD "      s: {branch: m, host: 'a.localhost.'}\n", "5:28",
                 "'a.localhost.': expected"},
        BadStack{"HostStarInMiddle", APP_HEAD "      s: {branch: m, host: 'a.*.com'}\n", "5:28",
                 "expected \"*\", \"*.example.com\" or a host name"},
        BadStack{"HostLabelDash", APP_HEAD "      s: {branch: m, host: '-a.com'}\n", "5:28",
                 "expected \"*\""},
        BadStack{"HostUnderscore", APP_HEAD "      s: {branch: m, host: 'a_b.com'}\n", "5:28",
                 "expected \"*\""},
        BadStack{"HostList", APP_HEAD "      s: {branch: m, host: [a]}\n", "5:28",
                 "host: expected a string, got a list"},
        BadStack{"HostEmpty", APP_HEAD "      s: {branch: m, host: ''}\n", "5:28",
                 "host: must not be empty"},
        BadStack{"BranchLock", APP_HEAD "      s: {branch: main.lock}\n", "5:19",
                 "'main.lock' is not a valid branch name"},
        BadStack{"BranchReflog", APP_HEAD "      s: {branch: 'a@{1}'}\n", "5:19",
                 "is not a valid branch name"},
        BadStack{"DrainTimeoutTooLong", APP_HEAD "      s: {branch: m, drain_timeout: 2h}\n",
                 "5:37", "drain_timeout: must be at most 1h, got 2h"},
        BadStack{"KeepPreviousTooLong", APP_HEAD "      s: {branch: m, keep_previous: 200h}\n",
                 "5:37", "keep_previous: must be at most 168h, got 200h"},
        BadStack{"PollIntervalList",
                 "apps:\n  site:\n    repo: x\n    poll_interval: [1s]\n"
                 "    environments: {s: {branch: m}}\n",
                 "4:20", "apps.site.poll_interval: expected a duration such as 2s, got a list"},
        BadStack{"KeepReleasesHuge",
                 "apps:\n  site:\n    repo: x\n    keep_releases: 1001\n"
                 "    environments: {s: {branch: m}}\n",
                 "4:20", "keep_releases: must be between 1 and 1000, got 1001"},
        BadStack{"EnvironmentsList", "apps:\n  site:\n    repo: x\n    environments: [s]\n", "4:19",
                 "apps.site.environments: expected a mapping, got a list"},
        BadStack{"CanaryNotMap", APP_HEAD "      s: {branch: m, strategy: canary, canary: 5}\n",
                 "5:48", "canary: expected a mapping, got a scalar"},
        BadStack{"CanaryUnknownKey",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {wieght: 5}}\n", "5:49",
                 "canary: unknown key 'wieght'; did you mean 'weight'?"},
        BadStack{"CanaryDurationBad",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {duration: soon}}\n",
                 "5:59", "canary.duration: invalid duration 'soon'"},
        BadStack{"CanaryRateText",
                 APP_HEAD
                 "      s: {branch: m, strategy: canary, canary: {max_error_rate: lots}}\n",
                 "5:65", "expected a rate such as 1% or 0.01, got 'lots'"},
        BadStack{"CanaryRateNaN",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {max_error_rate: nan}}\n",
                 "5:65", "must be between 0% and 100%, got nan"},
        BadStack{"CanaryRateInfinite",
                 APP_HEAD
                 "      s: {branch: m, strategy: canary, canary: {max_error_rate: inf%}}\n",
                 "5:65", "must be between 0% and 100%, got inf%"},
        BadStack{"CanaryMinRequestsZero",
                 APP_HEAD "      s: {branch: m, strategy: canary, canary: {min_requests: 0}}\n",
                 "5:63", "canary.min_requests: must be between 1 and 1000000, got 0"},
        BadStack{"StrategyList", APP_HEAD "      s: {branch: m, strategy: [canary]}\n", "5:32",
                 "strategy: expected a string, got a list"},
        BadStack{"PromoteFromList", APP_HEAD "      s: {promote_from: [a]}\n", "5:25",
                 "promote_from: expected a string, got a list"},
        BadStack{"LogsMaxBytesText", "logs: {retention: {max_bytes: lots}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:31", "logs.retention.max_bytes:"},
        BadStack{"LogsMaxBytesTiny", "logs: {retention: {max_bytes: 1KiB}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:31", "is too small (at least 1 MiB)"},
        BadStack{"LogsMaxAgeBad", "logs: {retention: {max_age: soon}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:29", "logs.retention.max_age: invalid duration 'soon'"},
        BadStack{"LogsUnknownKey", "logs: {retain: 1}\n" APP_HEAD "      s: {branch: m}\n", "1:8",
                 "logs: unknown key 'retain'"},
        BadStack{"LogsRetentionUnknownKey", "logs: {retention: {max_lines: 5}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:20", "logs.retention: unknown key 'max_lines'"},
        BadStack{"LogsForwardNotAList", "logs: {forward: {file: x}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:17", "logs.forward: expected a list of destinations"},
        BadStack{"LogsForwardSyslogScheme", "logs: {forward: [{syslog: 'ftp://x'}]}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:27",
                 "logs.forward[0].syslog: 'ftp://x': expected tcp://HOST[:PORT] or udp://"},
        BadStack{"LogsForwardLokiPort", "logs: {forward: [{loki: 'http://h:99999'}]}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:25", "port must be 1-65535, got '99999'"},
        BadStack{"LogsForwardUnknownKind", "logs: {forward: [{kafka: x}]}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:19", "unknown key 'kafka'"},
        BadStack{"WebhooksNoHost", "webhooks: {listen: 127.0.0.1:7071}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:1", "webhooks: needs a host:"},
        BadStack{"WebhooksEmpty", "webhooks:\n" APP_HEAD "      s: {branch: m}\n", "1:1",
                 "webhooks: needs a host:"},
        BadStack{"WebhooksWildcard", "webhooks: {host: '*.example.com'}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:18", "one name, not a wildcard"},
        BadStack{"WebhooksHostWithPort", "webhooks: {host: 'ci.example.com:443'}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:18", "a host is a name without a port"},
        BadStack{"WebhooksBadListen", "webhooks: {host: ci.example.com, listen: nowhere}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:42", "webhooks.listen: invalid listen address"},
        BadStack{"WebhooksListenOnAdmin",
                 "admin: {listen: 127.0.0.1:7070}\n"
                 "webhooks: {host: ci.example.com, listen: 127.0.0.1:7070}\n" APP_HEAD
                 "      s: {branch: m}\n", "2:42", "webhooks.listen: must differ from"},
        BadStack{"WebhooksUnknownKey", "webhooks: {host: ci.example.com, path: /x}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:34", "webhooks: unknown key 'path'"},
        BadStack{"TlsWithoutHttps", APP_HEAD "      s: {branch: m, host: a.test, tls: auto}\n",
                 "5:41", "tls: needs proxy.https:"},
        BadStack{"TlsAutoWithoutAcme", "proxy: {https: {listen: 127.0.0.1:8443}}\n" APP_HEAD
                 "      s: {branch: m, host: a.test, tls: auto}\n", "6:41",
                 "auto needs proxy.https.acme:"},
        BadStack{"TlsOnStarHost", "proxy: {https: {}}\n" APP_HEAD
                 "      s: {branch: m, tls: {certificate: c.pem, key: k.pem}}\n", "6:27",
                 "tls: needs a host:"},
        BadStack{"TlsAutoWildcard",
                 "proxy: {https: {acme: {directory: 'https://ca.test/dir'}}}\n" APP_HEAD
                 "      s: {branch: m, host: '*.a.test', tls: auto}\n", "6:45", "needs DNS-01"},
        BadStack{"TlsUnknownWord", APP_HEAD "      s: {branch: m, host: a.test, tls: yes}\n",
                 "5:41", "expected off, auto (ACME) or { certificate: FILE, key: FILE }"},
        BadStack{"TlsMissingKey", "proxy: {https: {}}\n" APP_HEAD
                 "      s: {branch: m, host: a.test, tls: {certificate: c.pem}}\n", "6:41",
                 "needs both certificate: and key:"},
        BadStack{"TlsFileMissing", "proxy: {https: {}}\n" APP_HEAD
                 "      s: {branch: m, host: a.test, tls: {certificate: nope.pem, key: k.pem}}\n",
                 "6:55", "tls.certificate: cannot read"},
        BadStack{"TlsNotPem", "proxy: {https: {}}\n" APP_HEAD
                 "      s: {branch: m, host: a.test, tls: {certificate: k.pem, key: k.pem}}\n",
                 "6:55", "is not a PEM CERTIFICATE file"},
        BadStack{"HstsWithoutTls", APP_HEAD "      s: {branch: m, hsts: 365d}\n", "5:28",
                 "hsts: needs tls:"},
        BadStack{"HttpsListenOnProxyListen",
                 "proxy: {listen: 127.0.0.1:8080, https: {listen: 127.0.0.1:8080}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:49", "proxy.https.listen: must differ"},
        BadStack{"HttpsRedirectNotBool", "proxy: {https: {redirect_http: maybe}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:32", "expected true or false, got 'maybe'"},
        BadStack{"AcmeHttpDirectory",
                 "proxy: {https: {acme: {directory: 'http://ca.test/dir'}}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:35", "must be the CA's https:// directory URL"},
        BadStack{"AcmeNoDirectory", "proxy: {https: {acme: {email: a@b.test}}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:17", "needs a directory:"},
        BadStack{"AcmeBadEmail",
                 "proxy: {https: {acme: {directory: 'https://ca.test/d', email: nobody}}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:63", "'nobody' is not an email address"},
        BadStack{"AcmeBadChallenge",
                 "proxy: {https: {acme: {directory: 'https://ca.test/d', challenge: dns-01}}}\n"
                 APP_HEAD "      s: {branch: m}\n", "1:67", "expected http-01 or tls-alpn-01"},
        BadStack{"HttpsUnknownKey", "proxy: {https: {lisen: 127.0.0.1:8443}}\n" APP_HEAD
                 "      s: {branch: m}\n", "1:17", "unknown key 'lisen'"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(StackTest, WebhooksRouteOneHostToTheDaemonsWebhookListener) {
  auto none = Parse(APP_HEAD "      s: {branch: m}\n");
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_FALSE(none->webhooks.has_value());
  auto hooks = Parse("webhooks: {host: CI.Example.com}\n" APP_HEAD "      s: {branch: m}\n");
  ASSERT_TRUE(hooks.ok()) << hooks.error();
  ASSERT_TRUE(hooks->webhooks.has_value());
  EXPECT_EQ(hooks->webhooks->host, "ci.example.com");
  EXPECT_EQ(hooks->webhooks->listen, (ListenAddress{"127.0.0.1", 0}));
  auto listen = Parse("webhooks: {host: ci.example.com, listen: '[::1]:7071'}\n" APP_HEAD
                      "      s: {branch: m}\n");
  ASSERT_TRUE(listen.ok()) << listen.error();
  EXPECT_EQ(listen->webhooks->listen, (ListenAddress{"::1", 7071}));
}

TEST_F(StackTest, LogsRetentionDefaultsAndValues) {
  auto none = Parse(APP_HEAD "      s: {branch: m}\n");
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_EQ(none->logs.max_bytes, std::int64_t{1} << 30);
  EXPECT_EQ(none->logs.max_age, std::chrono::hours(24 * 14));
  auto set = Parse("logs: {retention: {max_bytes: 256MiB, max_age: 2d}}\n" APP_HEAD
                   "      s: {branch: m}\n");
  ASSERT_TRUE(set.ok()) << set.error();
  EXPECT_EQ(set->logs.max_bytes, std::int64_t{256} << 20);
  EXPECT_EQ(set->logs.max_age, std::chrono::hours(48));
  EXPECT_EQ(Diff(*none, *set).fields, (std::vector<std::string>{"logs"}));
  auto fwd = Parse("logs:\n  forward:\n    - syslog: tcp://logs.example.com:6514\n"
                   "    - syslog: udp://127.0.0.1\n    - loki: http://loki:3100/base/\n"
                   "    - file: out.jsonl\n" APP_HEAD "      s: {branch: m}\n");
  ASSERT_TRUE(fwd.ok()) << fwd.error();
  ASSERT_EQ(fwd->logs.forward.size(), 4u);
  EXPECT_EQ(fwd->logs.forward[0].kind, LogForward::Kind::kSyslogTcp);
  EXPECT_EQ(fwd->logs.forward[0].host, "logs.example.com");
  EXPECT_EQ(fwd->logs.forward[0].port, 6514);
  EXPECT_EQ(fwd->logs.forward[1].kind, LogForward::Kind::kSyslogUdp);
  EXPECT_EQ(fwd->logs.forward[1].port, 514);
  EXPECT_EQ(fwd->logs.forward[2].kind, LogForward::Kind::kLoki);
  EXPECT_EQ(fwd->logs.forward[2].path, "/base");
  EXPECT_EQ(fwd->logs.forward[3].kind, LogForward::Kind::kFile);
  EXPECT_EQ(fwd->logs.forward[3].path.front(), '/');
}

TEST_F(StackTest, HttpsAndTlsPerEnvironment) {
  auto none = Parse(APP_HEAD "      s: {branch: m}\n");
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_FALSE(none->proxy_https.has_value());
  EXPECT_EQ(none->apps[0].environments[0].tls.mode, TlsMode::kOff);
  auto r = Parse(
      "proxy:\n  listen: 127.0.0.1:8080\n  https:\n    listen: 127.0.0.1:9443\n"
      "    redirect_http: false\n"
      "    acme: {directory: 'https://ca.test/dir', email: ops@example.com, ca_bundle: c.pem}\n"
      APP_HEAD
      "      a: {branch: m, host: a.test, tls: auto, hsts: 365d}\n"
      "      b: {branch: n, host: '*.b.test', tls: {certificate: c.pem, key: k.pem}}\n"
      "      c: {branch: o, host: c.test, tls: off}\n");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(r->proxy_https.has_value());
  EXPECT_EQ(r->proxy_https->listen, (ListenAddress{"127.0.0.1", 9443}));
  EXPECT_FALSE(r->proxy_https->redirect_http);
  ASSERT_TRUE(r->proxy_https->acme.has_value());
  EXPECT_EQ(r->proxy_https->acme->directory, "https://ca.test/dir");
  EXPECT_EQ(r->proxy_https->acme->email, "ops@example.com");
  EXPECT_EQ(r->proxy_https->acme->ca_bundle, dir_ + "/c.pem");
  const auto& envs = r->apps[0].environments;
  EXPECT_EQ(envs[0].tls.mode, TlsMode::kAuto);
  EXPECT_EQ(envs[0].hsts, std::chrono::hours(24 * 365));
  EXPECT_EQ(envs[1].tls.mode, TlsMode::kFiles);
  EXPECT_EQ(envs[1].tls.certificate, dir_ + "/c.pem");
  EXPECT_EQ(envs[1].tls.key, dir_ + "/k.pem");
  EXPECT_EQ(envs[2].tls.mode, TlsMode::kOff);
  auto defaults = Parse("proxy: {https: {}}\n" APP_HEAD "      s: {branch: m}\n");
  ASSERT_TRUE(defaults.ok()) << defaults.error();
  EXPECT_EQ(defaults->proxy_https->listen, (ListenAddress{"127.0.0.1", 8443}));
  EXPECT_TRUE(defaults->proxy_https->redirect_http);
  EXPECT_FALSE(defaults->proxy_https->acme.has_value());
}

TEST_F(StackTest, SecretFileMustNotBeEmpty) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/empty.secret", "\n").ok());
  auto r = Parse(
      "apps:\n  site:\n    repo: x\n    webhook_secret_file: empty.secret\n"
      "    environments: {s: {branch: m}}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(":4:26: apps.site.webhook_secret_file: '" + dir_ +
                                   "/empty.secret' is empty"));
}

TEST_F(StackTest, ErrorsUseThePathAsGiven) {
  auto r = ParseStackSpec("apps: 3\n", "stack.yml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "stack.yml:1:7: apps: expected a mapping, got a scalar");
}

TEST_F(StackTest, DiffOfTwoParsedFiles) {
  auto before = Parse(APP_HEAD "      staging: {branch: staging, instances: 2}\n");
  auto after = Parse(APP_HEAD
                     "      staging: {branch: staging, instances: 4}\n"
                     "      production: {promote_from: staging, host: www.localhost}\n");
  ASSERT_TRUE(before.ok()) << before.error();
  ASSERT_TRUE(after.ok()) << after.error();
  StackDiff d = Diff(*before, *after);
  EXPECT_THAT(d.Describe(), ElementsAre("app site: environment production added",
                                        "app site: environment staging changed: instances"));
}

}  // namespace
}  // namespace gravity::config

namespace gravity::config {
namespace {

class LimitsTest : public StackTest {};

TEST_F(LimitsTest, LimitsAndSandboxParseWithDefaultsForWhatIsUnset) {
  auto r = Parse(
      "apps:\n  site:\n    repo: ./site.git\n"
      "    build_limits: { memory: 1GiB, pids: 300 }\n"
      "    environments:\n"
      "      prod:\n        branch: main\n"
      "        limits: { memory: 256MiB, cpu: 1.5, pids: 64, open_files: 1024, tmp: 16MiB }\n"
      "        data: [uploads, cache]\n"
      "      debug:\n        branch: debug\n        host: debug.localhost\n        sandbox: off\n");
  ASSERT_TRUE(r.ok()) << r.error();
  const StackApp& app = r->apps.at(0);
  EXPECT_EQ(app.build_limits.memory, 1LL << 30);
  EXPECT_EQ(app.build_limits.pids, 300);
  EXPECT_EQ(app.build_limits.cpu, ResourceLimits::BuildDefaults().cpu);
  const EnvironmentSpec& prod = app.environments.at(0);
  EXPECT_EQ(prod.limits, (ResourceLimits{256LL << 20, 1.5, 64, 1024, 16LL << 20}));
  EXPECT_EQ(prod.sandbox, SandboxMode::kStrict);
  EXPECT_EQ(prod.data, (std::vector<std::string>{"uploads", "cache"}));
  const EnvironmentSpec& debug = app.environments.at(1);
  EXPECT_EQ(debug.limits, ResourceLimits::InstanceDefaults());
  EXPECT_EQ(debug.sandbox, SandboxMode::kOff);
  EXPECT_TRUE(debug.data.empty());
}

struct BadLimit {
  const char* name;
  const char* line;  // one line under the environment
  const char* location;
  const char* message;
};
void PrintTo(const BadLimit& c, std::ostream* os) { *os << c.name; }

class LimitErrors : public StackTest, public ::testing::WithParamInterface<BadLimit> {};

TEST_P(LimitErrors, NameFileLineColumnAndTheProblem) {
  const BadLimit& c = GetParam();
  auto r = Parse(std::string(APP_HEAD) + "      prod:\n        branch: main\n" + c.line + "\n");
  ASSERT_FALSE(r.ok()) << c.line;
  EXPECT_THAT(r.error(), StartsWith(Prefix(dir_ + "/stack.yml", c.location)));
  EXPECT_THAT(r.error(), HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, LimitErrors,
    ::testing::Values(
        BadLimit{"MemoryUnit", "        limits: { memory: 512XB }", "7:27",
                 "apps.site.environments.prod.limits.memory: '512XB': unknown unit 'xb'"},
        BadLimit{"MemoryTooSmall", "        limits: { memory: 1MiB }", "7:27",
                 "'1MiB' is too small (at least 16 MiB)"},
        BadLimit{"CpuNotANumber", "        limits: { cpu: lots }", "7:24",
                 "limits.cpu: 'lots' is not a CPU share"},
        BadLimit{"PidsTooFew", "        limits: { pids: 2 }", "7:25", "limits.pids"},
        BadLimit{"UnknownLimit", "        limits: { memroy: 1GiB }", "7:19",
                 "unknown key 'memroy'; did you mean 'memory'?"},
        BadLimit{"SandboxValue", "        sandbox: loose", "7:18",
                 "unknown sandbox 'loose' (expected strict, the default, or off)"},
        BadLimit{"DataEscapes", "        data: [uploads, ../x]", "7:25",
                 "apps.site.environments.prod.data[1]: expected a directory name"},
        BadLimit{"DataTwice", "        data: [a, a]", "7:19",
                 "data directory 'a' is listed twice"},
        BadLimit{"DataNotAName", "        data: { a: 1 }", "7:15",
                 "apps.site.environments.prod.data: expected a directory name"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gravity::config
