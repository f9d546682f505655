#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
using testing_util::kFullApp;
using testing_util::Prefix;

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
  EXPECT_EQ(static_cast<const HealthCheckSpec&>(r->health), HealthCheckSpec{});
  EXPECT_EQ(r->health.path, "/");
  EXPECT_EQ(r->health.status, 200);
  EXPECT_EQ(r->health.body_contains, "");
  EXPECT_EQ(r->health.interval, seconds(1));
  EXPECT_EQ(r->health.timeout, seconds(2));
  EXPECT_EQ(r->health.healthy_threshold, 2);
  EXPECT_EQ(r->health.unhealthy_threshold, 3);
  EXPECT_EQ(r->health.deploy_timeout, seconds(30));
}

TEST(AppSpec, Verify) {
  auto r = ParseAppSpec("run:\n  command: x\nverify:\n  command: ./smoke.sh\n  timeout: 90s\n");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(r->verify.has_value());
  EXPECT_EQ(r->verify->command, "./smoke.sh");
  EXPECT_EQ(r->verify->timeout, seconds(90));
  auto d = ParseAppSpec("run:\n  command: x\nverify: {command: t}\n");
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d->verify->timeout, minutes(2));
  EXPECT_FALSE(ParseAppSpec("run:\n  command: x\n")->verify.has_value());
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
               "unknown key 'zzzzzz' (known keys: build, test, verify, run, health)"},
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
        BadApp{"VerifyNoCommand", "verify: {timeout: 1m}\nrun: {command: x}\n", "1:9",
               "verify: missing required key 'command'"},
        BadApp{"VerifyTimeout", "verify: {command: t, timeout: 2h}\nrun: {command: x}\n", "1:31",
               "verify.timeout"},
        BadApp{"VerifyUnknownKey", "verify: {command: t, retries: 2}\nrun: {command: x}\n", "1:22",
               "unknown key 'retries'"},
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

// Hostile input the cases above leave out: each still gets `file:line:col: what`.
INSTANTIATE_TEST_SUITE_P(
    Hostile, AppSpecErrors,
    ::testing::Values(
        BadApp{"UnclosedQuote", "run: {command: 'x}\n", "2:1", "invalid YAML"},
        BadApp{"OnlyDocumentMarker", "---\n", "1:1", "the file is empty"},
        BadApp{"KeyIsList", "run: {command: x}\n[a, b]: 1\n", "2:1", "keys must be plain names"},
        BadApp{"KeyIsMap", "run: {command: x}\n? {a: b}\n: 1\n", "2:3", "keys must be plain names"},
        BadApp{"DuplicateNestedKey", "run:\n  command: x\n  command: y\n", "3:3",
               "run.command: duplicate key (first given on line 2)"},
        BadApp{"DuplicateHealthKey", "run: {command: x}\nhealth: {path: /a, path: /b}\n", "2:20",
               "health.path: duplicate key (first given on line 2)"},
        BadApp{"BuildNotMap", "build: make\nrun: {command: x}\n", "1:8",
               "build: expected a mapping, got a scalar"},
        BadApp{"TestNotMap", "test: [a]\nrun: {command: x}\n", "1:7",
               "test: expected a mapping, got a list"},
        BadApp{"BuildCommandMap", "build: {command: {a: b}}\nrun: {command: x}\n", "1:18",
               "build.command: expected a string, got a mapping"},
        BadApp{"TestCommandNull", "test:\n  command:\n  files: a\nrun: {command: x}\n", "2:3",
               "test.command: expected a string, got nothing"},
        BadApp{"TestTimeoutTooShort",
               "test: {command: x, files: a, timeout: 10ms}\nrun: {command: x}\n", "1:39",
               "test.timeout: must be between 1s and 24h, got 10ms"},
        BadApp{"DurationFraction", "run: {command: x}\nhealth: {timeout: 1.5s}\n", "2:19",
               "health.timeout: invalid duration '1.5s'"},
        BadApp{"DurationUppercase", "run: {command: x}\nhealth: {timeout: 2S}\n", "2:19",
               "invalid duration '2S'"},
        BadApp{"DurationOverflow",
               "run: {command: x}\nhealth: {deploy_timeout: 99999999999999999999h}\n", "2:26",
               "health.deploy_timeout: invalid duration"},
        BadApp{"DeployTimeoutTooLong", "run: {command: x}\nhealth: {deploy_timeout: 25h}\n", "2:26",
               "health.deploy_timeout: must be between 100ms and 24h, got 25h"},
        BadApp{"IntOverflow", "run: {command: x}\nhealth: {status: 99999999999999999999}\n", "2:18",
               "health.status: expected a whole number"},
        BadApp{"IntHex", "run: {command: x}\nhealth: {status: 0xc8}\n", "2:18",
               "expected a whole number, got '0xc8'"},
        BadApp{"IntList", "run: {command: x}\nhealth: {unhealthy_threshold: [1]}\n", "2:31",
               "health.unhealthy_threshold: expected a whole number, got a list"},
        BadApp{"UnhealthyThresholdHuge", "run: {command: x}\nhealth: {unhealthy_threshold: 101}\n",
               "2:31", "must be between 1 and 100, got 101"},
        BadApp{"BodyContainsList", "run: {command: x}\nhealth: {body_contains: [a]}\n", "2:25",
               "health.body_contains: expected a string, got a list"},
        BadApp{"PathControlCharacter", "run: {command: x}\nhealth: {path: \"/a\\tb\"}\n", "2:16",
               "must not contain spaces or control characters"},
        BadApp{"ControlCharacterInKey", "run: {command: x}\n\"\\x01\": 1\n", "2:1",
               "unknown key '\\x01'"}),
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

}  // namespace
}  // namespace gravity::config
