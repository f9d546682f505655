#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "common/fs.h"

namespace gravity::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// "file:line:col: " for a full location, "file:line:" for "line:" (column left open), and
// "file: " for "" (no position).
std::string Prefix(const std::string& file, const std::string& location) {
  if (location.empty()) return file + ": ";
  if (location.back() == ':') return file + ":" + location;
  return file + ":" + location + ": ";
}

// ---------------------------------------------------------------- gravity.yml

constexpr const char* kFullApp = R"(build:
  command: make
  timeout: 5m
test:
  command: sh {file}
  files: tests/*_test.sh
  workers: 4
  timeout: 2m
run:
  command: gravity static public --port $PORT
health:
  path: /healthz
  status: 204
  body_contains: Automation for the people
  interval: 500ms
  timeout: 1s
  healthy_threshold: 3
  unhealthy_threshold: 5
  deploy_timeout: 1m
)";

TEST(AppSpec, ParsesEveryField) {
  auto r = ParseAppSpec(kFullApp);
  ASSERT_TRUE(r.ok()) << r.error();
  const AppSpec& a = *r;
  ASSERT_TRUE(a.build.has_value());
  EXPECT_EQ(a.build->command, "make");
  EXPECT_EQ(a.build->timeout, minutes(5));
  ASSERT_TRUE(a.test.has_value());
  EXPECT_EQ(a.test->command, "sh {file}");
  EXPECT_THAT(a.test->files, ElementsAre("tests/*_test.sh"));
  EXPECT_EQ(a.test->workers, 4);
  EXPECT_EQ(a.test->timeout, minutes(2));
  EXPECT_EQ(a.run.command, "gravity static public --port $PORT");
  EXPECT_EQ(a.health.path, "/healthz");
  EXPECT_EQ(a.health.status, 204);
  EXPECT_EQ(a.health.body_contains, "Automation for the people");
  EXPECT_EQ(a.health.interval, milliseconds(500));
  EXPECT_EQ(a.health.timeout, seconds(1));
  EXPECT_EQ(a.health.healthy_threshold, 3);
  EXPECT_EQ(a.health.unhealthy_threshold, 5);
  EXPECT_EQ(a.health.deploy_timeout, minutes(1));
}

TEST(AppSpec, OnlyRunIsRequiredAndDefaultsAreFilledIn) {
  auto r = ParseAppSpec("run:\n  command: ./server\n");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_FALSE(r->build.has_value());
  EXPECT_FALSE(r->test.has_value());
  EXPECT_EQ(r->health, HealthSpec{});
  EXPECT_EQ(r->health.path, "/");
  EXPECT_EQ(r->health.status, 200);
  EXPECT_EQ(r->health.body_contains, "");
  EXPECT_EQ(r->health.interval, seconds(1));
  EXPECT_EQ(r->health.timeout, seconds(2));
  EXPECT_EQ(r->health.healthy_threshold, 2);
  EXPECT_EQ(r->health.unhealthy_threshold, 3);
  EXPECT_EQ(r->health.deploy_timeout, seconds(30));
}

TEST(AppSpec, TestDefaultsAndListOfGlobs) {
  auto r = ParseAppSpec(
      "test:\n  command: sh {file}\n  files: [a/*.sh, 'b/**/*_test.sh']\nrun: {command: x}\n");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_THAT(r->test->files, ElementsAre("a/*.sh", "b/**/*_test.sh"));
  EXPECT_EQ(r->test->workers, 1);
  EXPECT_EQ(r->test->timeout, minutes(10));
  auto b = ParseAppSpec("build: {command: make}\nrun: {command: x}\n");
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b->build->timeout, minutes(10));
}

struct BadApp {
  const char* name;
  const char* yaml;
  const char* location;  // "line:col"
  const char* message;   // substring of the error
};

void PrintTo(const BadApp& c, std::ostream* os) { *os << c.name; }

class AppSpecErrors : public ::testing::TestWithParam<BadApp> {};

TEST_P(AppSpecErrors, NamesFileLineColumnAndTheProblem) {
  const BadApp& c = GetParam();
  auto r = ParseAppSpec(c.yaml);
  ASSERT_FALSE(r.ok()) << "accepted:\n" << c.yaml;
  EXPECT_THAT(r.error(), StartsWith(Prefix("gravity.yml", c.location)));
  EXPECT_THAT(r.error(), HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, AppSpecErrors,
    ::testing::Values(
        BadApp{"Empty", "", "1:1", "the file is empty"},
        BadApp{"OnlyComment", "# nothing\n", "1:1", "the file is empty"},
        BadApp{"TopIsList", "- run\n", "1:1", "expected a mapping at the top, got a list"},
        BadApp{"TopIsScalar", "hello\n", "1:1", "expected a mapping at the top"},
        BadApp{"Syntax", "run:\n  command: [unclosed\n", "3:1", "invalid YAML"},
        BadApp{"BadIndent", "run:\n  command: x\n bad: y\n", "3:", "invalid YAML"},
        BadApp{"Tab", "run:\n\tcommand: x\n", "2:", "invalid YAML"},
        BadApp{"MissingRun", "health: {path: /}\n", "1:1", "missing required section 'run'"},
        BadApp{"RunNotMap", "run: ./server\n", "1:6", "run: expected a mapping, got a scalar"},
        BadApp{"RunEmpty", "run:\n", "1:1", "run: missing required key 'command'"},
        BadApp{"RunNoCommand", "run:\n  cmd: x\n", "2:3", "unknown key 'cmd'"},
        BadApp{"RunCommandEmpty", "run:\n  command: ''\n", "2:12", "must not be empty"},
        BadApp{"RunCommandList", "run:\n  command: [a, b]\n", "2:12",
               "expected a string, got a list"},
        BadApp{"RunCommandNull", "run:\n  command:\n", "2:3", "expected a string, got nothing"},
        BadApp{"UnknownTopKeyClose", "run: {command: x}\nhelth: {path: /}\n", "2:1",
               "unknown key 'helth'; did you mean 'health'?"},
        BadApp{"UnknownTopKeyFar", "run: {command: x}\nzzzzzz: 1\n", "2:1",
               "unknown key 'zzzzzz' (known keys: build, test, run, health)"},
        BadApp{"UnknownHealthKey", "run: {command: x}\nhealth:\n  intervall: 2s\n", "3:3",
               "health: unknown key 'intervall'; did you mean 'interval'?"},
        BadApp{"MisplacedHealthKey", "run: {command: x}\nbody_contains: hi\n", "2:1",
               "unknown key 'body_contains' here; it belongs under health:"},
        BadApp{"MisplacedCommand", "command: make\nrun: {command: x}\n", "1:1",
               "it belongs under build:, test: or run:"},
        BadApp{"MisplacedTimeout", "run: {command: x, timeout: 1s}\n", "1:19",
               "run: unknown key 'timeout' here; it belongs under build:, test: or health:"},
        BadApp{"StackKeyInAppSpec", "run: {command: x}\nbranch: main\n", "2:1",
               "it belongs in stack.yml"},
        BadApp{"CaseDiffers", "run: {command: x}\nHealth: {}\n", "2:1", "did you mean 'health'?"},
        BadApp{"DuplicateKey", "run: {command: x}\nrun: {command: y}\n", "2:1",
               "run: duplicate key (first given on line 1)"},
        BadApp{"DurationNoUnit", "run: {command: x}\nhealth:\n  interval: 5\n", "3:13",
               "health.interval: invalid duration '5': missing unit"},
        BadApp{"DurationUnknownUnit", "run: {command: x}\nhealth:\n  timeout: 5 sec\n", "3:12",
               "invalid duration"},
        BadApp{"DurationNegative", "run: {command: x}\nhealth:\n  timeout: -1s\n", "3:12",
               "invalid duration"},
        BadApp{"DurationZero", "run: {command: x}\nhealth:\n  interval: 0s\n", "3:13",
               "must be between 10ms and 1h, got 0s"},
        BadApp{"DurationHuge", "build: {command: x, timeout: 100h}\nrun: {command: x}\n", "1:30",
               "build.timeout: must be between 1s and 24h"},
        BadApp{"DurationMap", "run: {command: x}\nhealth:\n  interval: {a: 1}\n", "3:13",
               "expected a duration such as 2s, got a mapping"},
        BadApp{"StatusText", "run: {command: x}\nhealth: {status: ok}\n", "2:18",
               "health.status: expected a whole number, got 'ok'"},
        BadApp{"StatusRange", "run: {command: x}\nhealth: {status: 700}\n", "2:18",
               "must be between 100 and 599, got 700"},
        BadApp{"StatusFloat", "run: {command: x}\nhealth: {status: 200.5}\n", "2:18",
               "expected a whole number"},
        BadApp{"ThresholdZero", "run: {command: x}\nhealth: {healthy_threshold: 0}\n", "2:29",
               "health.healthy_threshold: must be between 1 and 100"},
        BadApp{"PathRelative", "run: {command: x}\nhealth: {path: healthz}\n", "2:16",
               "health.path: must start with '/'"},
        BadApp{"PathSpace", "run: {command: x}\nhealth: {path: '/a b'}\n", "2:16",
               "must not contain spaces"},
        BadApp{"HealthList", "run: {command: x}\nhealth: [a]\n", "2:9",
               "health: expected a mapping, got a list"},
        BadApp{"BuildNoCommand", "build: {timeout: 1m}\nrun: {command: x}\n", "1:8",
               "build: missing required key 'command'"},
        BadApp{"TestNoFiles", "test: {command: 'sh {file}'}\nrun: {command: x}\n", "1:7",
               "test: missing required key 'files'"},
        BadApp{"TestNoCommand", "test: {files: 't/*'}\nrun: {command: x}\n", "1:7",
               "test: missing required key 'command'"},
        BadApp{"TestFilesMap", "test: {command: x, files: {a: b}}\nrun: {command: x}\n", "1:27",
               "test.files: expected a glob"},
        BadApp{"TestFilesEmptyList", "test: {command: x, files: []}\nrun: {command: x}\n", "1:27",
               "test.files: the list is empty"},
        BadApp{"TestFilesNestedList", "test: {command: x, files: [a, [b]]}\nrun: {command: x}\n",
               "1:31", "test.files[1]: expected a glob"},
        BadApp{"TestFilesAbsolute", "test: {command: x, files: /etc/*}\nrun: {command: x}\n",
               "1:27", "must be relative to the repository"},
        BadApp{"TestFilesDotDot", "test: {command: x, files: [ok, ../x/*]}\nrun: {command: x}\n",
               "1:32", "test.files[1]: glob '../x/*'"},
        BadApp{"WorkersZero", "test: {command: x, files: a, workers: 0}\nrun: {command: x}\n",
               "1:39", "test.workers: must be between 1 and 64, got 0"},
        BadApp{"WorkersAbsurd",
               "test: {command: x, files: a, workers: 100000}\nrun: {command: x}\n", "1:39",
               "must be between 1 and 64"},
        BadApp{"WorkersNegative", "test: {command: x, files: a, workers: -2}\nrun: {command: x}\n",
               "1:39", "must be between 1 and 64"},
        BadApp{"StrayCommaAtTop", ", run: {command: x}\n", "1:1", "invalid YAML: unexpected ','"},
        BadApp{"StrayCommaAfterFlowMap", "{run: {command: x}},\n", "1:20",
               "invalid YAML: unexpected ','"},
        BadApp{"StrayCommaAfterComment", "# c\n,\n", "2:1", "invalid YAML: unexpected ','"},
        BadApp{"KeyWithNewline", "run: {command: x}\n\"a\\nb\": 1\n", "2:1", "unknown key 'a\\nb'"},
        BadApp{"TwoDocuments", "run: {command: x}\n---\nrun: {command: y}\n", "",
               "more than one YAML document"},
        BadApp{"AliasUnquoted", "run: {command: *}\n", "1:", "must be quoted"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(AppSpec, ReportsEveryProblemOnItsOwnLine) {
  auto r = ParseAppSpec("run:\n  command: x\nhealth:\n  status: nope\n  interval: 3\n  pth: /\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("gravity.yml:4:11: health.status"));
  EXPECT_THAT(r.error(), HasSubstr("\ngravity.yml:5:13: health.interval"));
  EXPECT_THAT(r.error(),
              HasSubstr("\ngravity.yml:6:3: health: unknown key 'pth'; did you mean 'path'?"));
}

TEST(AppSpec, ErrorCountIsCapped) {
  std::string yaml = "run: {command: x}\nhealth:\n";
  for (int i = 0; i < 50; ++i) yaml += "  bad" + std::to_string(i) + ": 1\n";
  auto r = ParseAppSpec(yaml);
  ASSERT_FALSE(r.ok());
  int lines = 1;
  for (char ch : r.error()) lines += ch == '\n';
  EXPECT_EQ(lines, kMaxErrors + 1);
  EXPECT_THAT(r.error(), HasSubstr("more errors not shown"));
}

TEST(AppSpec, HugeFileIsRefused) {
  std::string yaml = "run: {command: x}\n# " + std::string(kMaxFileBytes, 'x') + "\n";
  auto r = ParseAppSpec(yaml);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("larger than"));
}

TEST(AppSpec, DeeplyNestedInputIsAnErrorNotACrash) {
  std::string yaml = "run: {command: x}\nhealth: " + std::string(5000, '[') + "\n";
  auto r = ParseAppSpec(yaml);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith("gravity.yml:"));
}

TEST(AppSpec, LoadUsesDisplayNameAndReportsMissingFile) {
  auto dir = MakeTempDir("config-test");
  ASSERT_TRUE(dir.ok());
  std::string path = *dir + "/gravity.yml";
  ASSERT_TRUE(WriteFileAtomic(path, "run:\n  command: 7\nhealth: {status: x}\n").ok());
  auto r = LoadAppSpec(path, "gravity.yml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith("gravity.yml:3:18: health.status"));
  auto by_path = LoadAppSpec(path);
  EXPECT_THAT(by_path.error(), StartsWith(path + ":3:18:"));
  auto missing = LoadAppSpec(*dir + "/nope.yml", "gravity.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error(), StartsWith("gravity.yml: "));
  RemoveTree(*dir);
}

// ---------------------------------------------------------------- stack.yml

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("stack-test");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
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

// ---------------------------------------------------------------- listen addresses

TEST(ListenAddress, Parses) {
  auto a = ParseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseListenAddress("[::]:1");
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b->host, "::");
  EXPECT_EQ(b->ToString(), "[::]:1");
  auto c = ParseListenAddress("localhost:65535");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 65535);
  for (const char* bad : {"", ":80", "host:", "[::1]80", "[::1:80", "[zz]:80", "a b:80", "1.2.3:80",
                          "h:-1", "h:80x"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

TEST(EditDistance, CountsEdits) {
  EXPECT_EQ(EditDistance("", ""), 0);
  EXPECT_EQ(EditDistance("health", "health"), 0);
  EXPECT_EQ(EditDistance("helth", "health"), 1);
  EXPECT_EQ(EditDistance("comand", "command"), 1);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
  EXPECT_EQ(EditDistance("", "abc"), 3);
}

// ---------------------------------------------------------------- Diff

StackSpec TwoApps() {
  StackSpec s;
  s.file = "/x/stack.yml";
  s.state_dir = "/x/.gravity";
  StackApp a;
  a.name = "site";
  a.repo = "/x/site.git";
  EnvironmentSpec staging;
  staging.name = "staging";
  staging.branch = "staging";
  EnvironmentSpec prod;
  prod.name = "production";
  prod.promote_from = "staging";
  prod.host = "www.localhost";
  a.environments = {staging, prod};
  StackApp b;
  b.name = "api";
  b.repo = "/x/api.git";
  EnvironmentSpec api_env;
  api_env.name = "staging";
  api_env.branch = "main";
  api_env.host = "api.localhost";
  b.environments = {api_env};
  s.apps = {a, b};
  return s;
}

TEST(Diff, IdenticalStacksHaveNoDifference) {
  StackDiff d = Diff(TwoApps(), TwoApps());
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(d.Describe().empty());
}

TEST(Diff, AppsAddedAndRemoved) {
  StackSpec before = TwoApps();
  StackSpec after = TwoApps();
  after.apps.erase(after.apps.begin() + 1);  // api removed
  StackApp blog = before.apps[1];
  blog.name = "blog";
  after.apps.push_back(blog);
  StackDiff d = Diff(before, after);
  EXPECT_THAT(d.apps_added, ElementsAre("blog"));
  EXPECT_THAT(d.apps_removed, ElementsAre("api"));
  EXPECT_TRUE(d.apps_changed.empty());
  EXPECT_THAT(d.Describe(), ElementsAre("app blog added", "app api removed"));
}

TEST(Diff, EnvironmentChangesNameTheFields) {
  StackSpec before = TwoApps();
  StackSpec after = TwoApps();
  after.apps[0].environments[0].instances = 3;
  after.apps[0].environments[0].env["A"] = "b";
  after.apps[0].environments.erase(after.apps[0].environments.begin() + 1);
  EnvironmentSpec qa;
  qa.name = "qa";
  qa.branch = "qa";
  qa.host = "qa.localhost";
  after.apps[0].environments.push_back(qa);
  after.apps[0].poll_interval = seconds(1);
  after.apps[1].environments[0].strategy = Strategy::kCanary;
  after.apps[1].environments[0].canary.weight = 20;
  after.admin_listen.port = 7071;
  StackDiff d = Diff(before, after);
  EXPECT_THAT(d.fields, ElementsAre("admin.listen"));
  ASSERT_EQ(d.apps_changed.size(), 2u);
  const AppChange& site = d.apps_changed[0];
  EXPECT_EQ(site.name, "site");
  EXPECT_THAT(site.fields, ElementsAre("poll_interval"));
  EXPECT_THAT(site.environments_added, ElementsAre("qa"));
  EXPECT_THAT(site.environments_removed, ElementsAre("production"));
  ASSERT_EQ(site.environments_changed.size(), 1u);
  EXPECT_EQ(site.environments_changed[0].name, "staging");
  EXPECT_THAT(site.environments_changed[0].fields, ElementsAre("instances", "env"));
  const AppChange& api = d.apps_changed[1];
  EXPECT_THAT(api.environments_changed[0].fields, ElementsAre("strategy", "canary"));
  EXPECT_THAT(
      d.Describe(),
      ElementsAre("stack changed: admin.listen", "app site changed: poll_interval",
                  "app site: environment qa added", "app site: environment production removed",
                  "app site: environment staging changed: instances, env",
                  "app api: environment staging changed: strategy, canary"));
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

// Hostile input: random edits of valid files never crash the parser, and every error line
// names the file (with a position whenever the problem has one).
TEST(ConfigFuzz, MutatedFilesGiveErrorsNotCrashes) {
  std::mt19937 rng(12345);  // fixed seed: the same cases every run
  const std::string alphabet = " \t\n:{}[]-*&!|>'\"#%@,?0123456789abcxyz";
  auto mutate = [&](std::string s) {
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < edits && !s.empty(); ++i) {
      size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          s.erase(pos, 1 + rng() % 8);
          break;
      }
    }
    return s;
  };
  auto check_lines = [](const std::string& errors, const std::string& file) {
    size_t start = 0;
    while (start < errors.size()) {
      size_t end = errors.find('\n', start);
      std::string line = errors.substr(start, end == std::string::npos ? end : end - start);
      EXPECT_EQ(line.rfind(file + ":", 0), 0u) << line;
      if (end == std::string::npos) break;
      start = end + 1;
    }
  };
  int refused = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string app = mutate(kFullApp);
    auto a = ParseAppSpec(app);
    if (!a.ok()) {
      ++refused;
      check_lines(a.error(), "gravity.yml");
    }
    std::string stack = mutate(
        "apps:\n  site:\n    repo: ./site.git\n    environments:\n"
        "      staging: {branch: staging, instances: 2, env: {A: b}}\n"
        "      production:\n        promote_from: staging\n        host: www.localhost\n");
    auto s = ParseStackSpec(stack, "/nonexistent/stack.yml");
    if (!s.ok()) {
      ++refused;
      check_lines(s.error(), "/nonexistent/stack.yml");
    }
  }
  EXPECT_GT(refused, 100);  // the mutations do produce invalid files
}

}  // namespace
}  // namespace gravity::config
