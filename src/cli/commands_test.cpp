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

}  // namespace
}  // namespace gravity::cli
