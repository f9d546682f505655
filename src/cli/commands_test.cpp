// The CLI's argument handling, against a stand-in daemon API on a loopback port.
#include "cli/commands.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/server.h"

namespace gravity::cli {
namespace {

// Runs `command` (ReleaseCommand, RunsCommand) with `args` (args[0] is the group name);
// returns its exit code, and its stdout in *out.
int RunCli(int (*command)(int, char**), std::vector<std::string> args, std::string* out = nullptr) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  testing::internal::CaptureStdout();
  int code = command(static_cast<int>(args.size()), argv.data());
  std::string printed = testing::internal::GetCapturedStdout();
  if (out) *out = printed;
  return code;
}

class CliCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/v1/status", [](const api::Request&) {
      return api::Response::Json(200, {{"apps", nlohmann::json::array({{{"name", "site"},
                                                 {"environments", nlohmann::json::array()}}})}});
    });
    router_.Add("GET", "/v1/runs", [this](const api::Request& req) {
      last_runs_query_ = req.target;
      return api::Response::Json(
          200, {{"runs", nlohmann::json::array({{{"id", 7},
                                                  {"app", "site"},
                                                  {"commit", "0123456789abcdef"},
                                                  {"branch", "main"},
                                                  {"ref", ""},
                                                  {"status", "succeeded"},
                                                  {"stage", "deploy"},
                                                  {"error", ""}}})}});
    });
    server_ = std::make_unique<api::HttpServer>(router_, api::ServerOptions{});
    ASSERT_TRUE(server_->Start().ok());
    admin_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override { server_->Stop(); }

  api::Router router_;
  std::unique_ptr<api::HttpServer> server_;
  std::string admin_;
  std::string last_runs_query_;
};

TEST_F(CliCommandsTest, StatusWithAdminNeedsNoStackFile) {
  std::string out;
  EXPECT_EQ(RunCli(ReleaseCommand, {"status", "--json", "--admin", admin_, "-f", "/nonexistent.yml"},
                &out),
            0);
  EXPECT_NE(out.find("\"site\""), std::string::npos) << out;
}

TEST_F(CliCommandsTest, StatusWithoutAStackFileOrAdminFails) {
  EXPECT_EQ(RunCli(ReleaseCommand, {"status", "-f", "/nonexistent.yml"}), 2);
}

TEST_F(CliCommandsTest, UnknownFlagsAndMissingArgumentsAreRefused) {
  EXPECT_NE(RunCli(ReleaseCommand, {"status", "--bogus"}), 0);
  EXPECT_NE(RunCli(ReleaseCommand, {"rollback"}), 0);           // APP is required
  EXPECT_NE(RunCli(ReleaseCommand, {"promote", "site"}), 0);    // --to is required
  EXPECT_EQ(RunCli(RunsCommand, {"run", "list"}), 2);           // only `run show ID`
}

TEST_F(CliCommandsTest, RunsPassesItsFiltersToTheApi) {
  std::string out;
  EXPECT_EQ(RunCli(RunsCommand, {"runs", "--admin", admin_, "--app", "my site", "--limit", "5",
                              "-f", "/nonexistent.yml"},
                &out),
            0);
  EXPECT_EQ(last_runs_query_, "/v1/runs?limit=5&app=my%20site");
  EXPECT_NE(out.find("0123456789"), std::string::npos) << out;
}

TEST_F(CliCommandsTest, AnUnreachableDaemonIsAnError) {
  EXPECT_EQ(RunCli(ReleaseCommand, {"status", "--admin", "127.0.0.1:1", "-f", "/nonexistent.yml"}),
            1);
  EXPECT_EQ(RunCli(RunsCommand, {"runs", "--admin", "127.0.0.1:1", "-f", "/nonexistent.yml"}), 1);
}

// `gravity proxy run` refuses a bad value before it listens or touches any state, and says
// which flag is wrong.
TEST(ProxyRunFlags, BadValuesAreRefusedNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  } cases[] = {
      {{"--balance", "fastest"}, "--balance must be round-robin or least-outstanding"},
      {{"--workers", "0"}, "--workers must be 1-256"},
      {{"--workers", "257"}, "--workers must be 1-256"},
      {{"--idle-timeout", "soon"}, "--idle-timeout"},
      {{"--header-timeout", "-5s"}, "--header-timeout"},
      {{"--shutdown-timeout", "10 parsecs"}, "--shutdown-timeout"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"proxy", "run", "--listen", "127.0.0.1:1",
                                     "--state-dir", "/nonexistent/gravity-proxy-state"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    testing::internal::CaptureStderr();
    const int code = RunCli(ProxyCommand, args);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, 1) << c.args[0];
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.args[0] << ": " << err;
  }
}

// `gravity proxy deploy` and `canary` check their durations before they reach the proxy
// (the control socket here does not exist: a check that passed would fail on connecting).
TEST(ProxyDeployFlags, BadDurationsAreRefusedNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  } cases[] = {
      {{"deploy", "site", "--target", "127.0.0.1:1", "--deploy-timeout", "soon"},
       "--deploy-timeout"},
      {{"deploy", "site", "--target", "127.0.0.1:1", "--drain-timeout", "1 fortnight"},
       "--drain-timeout"},
      {{"deploy", "site", "--target", "127.0.0.1:1", "--health-interval", "-1s"},
       "--health-interval"},
      {{"canary", "site", "--target", "127.0.0.1:1", "--weight", "5", "--health-timeout", "x"},
       "--health-timeout"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"proxy"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.insert(args.end(), {"--control", "/nonexistent/gravity-proxy.sock"});
    testing::internal::CaptureStderr();
    const int code = RunCli(ProxyCommand, args);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, 1) << c.expect;
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.expect << ": " << err;
    EXPECT_EQ(err.find("/nonexistent/gravity-proxy.sock"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace gravity::cli
