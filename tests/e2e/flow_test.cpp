// End to end: the sample app through the whole flow, driven through the `gravity` CLI as a
// user would — up, commits on staging (polling), a failing test, a failing health check,
// rollback, down and up again — with steady load on the site throughout.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/fs.h"
#include "support/git_repo.h"
#include "support/gravity_cli.h"
#include "support/http_client.h"
#include "support/load_generator.h"
#include "support/net.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace gravity::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using nlohmann::json;

constexpr const char* kText = "Automation for the people";

class Flow : public ::testing::Test {
 protected:
  void SetUp() override {
    proxy_port_ = FreePort();
    admin_port_ = FreePort();
    auto work = SampleAppRepo(dir_.path());
    ASSERT_TRUE(work.ok()) << work.error();
    work_ = std::make_unique<GitRepo>(std::move(*work));
    stack_ = dir_.Write("stack.yml", StackYaml());
  }

  void TearDown() override {
    Gravity({"down", "-f", stack_}, dir_.path());
  }

  std::string StackYaml() const {
    return "state_dir: state\n"
           "proxy: { listen: 127.0.0.1:" + std::to_string(proxy_port_) + " }\n"
           "admin: { listen: 127.0.0.1:" + std::to_string(admin_port_) + " }\n"
           "apps:\n"
           "  site:\n"
           "    repo: ./site.git\n"
           "    poll_interval: 1s\n"
           "    environments:\n"
           "      staging:\n"
           "        branch: staging\n"
           "        instances: 2\n"
           "        drain_timeout: 2s\n";
  }

  std::string Page() {
    auto r = HttpGet(proxy_port_, "/", "", seconds(5));
    return r.ok() && r->status == 200 ? r->body : "";
  }

  // Commits `files` on staging and pushes; returns the commit id.
  std::string CommitAndPush(const std::map<std::string, std::string>& files,
                            const std::string& message) {
    auto c = work_->CommitFiles(files, message);
    EXPECT_TRUE(c.ok()) << c.error();
    EXPECT_TRUE(work_->Push("origin", "staging").ok());
    return c.ok() ? *c : "";
  }

  // The run of `commit` once it has finished (or null after the timeout).
  json FinishedRun(const std::string& commit, milliseconds timeout = seconds(90)) {
    json found;
    WaitFor(
        [&] {
          auto r = Gravity({"runs", "--app", "site", "--json", "-f", stack_}, dir_.path());
          if (r.exit_code != 0) return false;
          json runs = json::parse(r.output, nullptr, false);
          if (runs.is_object()) runs = runs.value("runs", json::array());
          if (!runs.is_array()) return false;
          for (const auto& run : runs) {
            if (run.value("commit", "") == commit) {
              std::string s = run.value("status", "");
              if (s == "succeeded" || s == "failed") {
                found = run;
                return true;
              }
            }
          }
          return false;
        },
        timeout, milliseconds(200));
    return found;
  }

  std::string IndexWith(const std::string& text) {
    return "<!doctype html><html><head><title>Automation</title></head><body><h1>" + text +
           "</h1></body></html>\n";
  }

  TempDir dir_{"gravity-e2e"};
  std::unique_ptr<GitRepo> work_;
  int proxy_port_ = 0;
  int admin_port_ = 0;
  std::string stack_;
};

TEST_F(Flow, SampleAppFromFirstUpToRollbackWithoutAFailedRequest) {
  // 1. The first `up` serves the page.
  auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_NE(Page().find(kText), std::string::npos) << Page();
  // The sample runs sandboxed, and status says with what.
  auto status = Gravity({"status", "-f", stack_}, dir_.path());
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("sandbox: bubblewrap + seccomp; limits through "),
            std::string::npos)
      << status.output;
  EXPECT_EQ(status.output.find("SANDBOX OFF"), std::string::npos) << status.output;

  LoadOptions lo;
  lo.port = proxy_port_;
  lo.connections = 8;
  lo.pause_between_requests = milliseconds(5);
  LoadGenerator load(lo);
  load.Start();

  // 2. A commit that changes the page but keeps the text goes live.
  std::string v2 = CommitAndPush({{"public/index.html", IndexWith(std::string(kText) + " v2")}},
                                 "v2 keeps the text");
  json run2 = FinishedRun(v2);
  ASSERT_FALSE(run2.is_null()) << "run of v2 did not finish";
  EXPECT_EQ(run2.value("status", ""), "succeeded") << run2.dump();
  EXPECT_TRUE(WaitFor([&] { return Page().find("v2") != std::string::npos; }, seconds(30)));

  // 3. A commit that removes the text fails at `test`; the live page is unchanged.
  std::string v3 = CommitAndPush({{"public/index.html", IndexWith("Manual work for the few")}},
                                 "v3 loses the text");
  json run3 = FinishedRun(v3);
  ASSERT_FALSE(run3.is_null());
  EXPECT_EQ(run3.value("status", ""), "failed");
  EXPECT_EQ(run3.value("stage", ""), "test") << run3.dump();
  EXPECT_NE(Page().find("v2"), std::string::npos);

  // 4. Passes its tests but fails health (its run command is broken): fails at `deploy`.
  auto spec = ReadFile(work_->path() + "/gravity.yml");
  ASSERT_TRUE(spec.ok());
  std::string broken = *spec;
  auto pos = broken.find("gravity static");
  ASSERT_NE(pos, std::string::npos) << broken;
  broken.replace(pos, std::string("gravity static").size(), "gravity static-nonexistent");
  std::string v4 = CommitAndPush({{"public/index.html", IndexWith(std::string(kText) + " v4")},
                                  {"gravity.yml", broken}},
                                 "v4 cannot start");
  json run4 = FinishedRun(v4, seconds(120));
  ASSERT_FALSE(run4.is_null());
  EXPECT_EQ(run4.value("status", ""), "failed");
  EXPECT_EQ(run4.value("stage", ""), "deploy") << run4.dump();
  EXPECT_NE(Page().find("v2"), std::string::npos);

  // 5. Rollback returns to the previous page.
  auto rb = Gravity({"rollback", "site", "--env", "staging", "-f", stack_}, dir_.path());
  ASSERT_EQ(rb.exit_code, 0) << rb.output;
  EXPECT_TRUE(WaitFor(
      [&] {
        std::string p = Page();
        return p.find(kText) != std::string::npos && p.find("v2") == std::string::npos;
      },
      seconds(10)));

  load.Stop();
  LoadStats stats = load.Stats();
  EXPECT_GT(stats.total, 100);
  EXPECT_EQ(stats.failed, 0) << stats.Summary();

  // 6. down, then up: the same release is live again without a rebuild.
  std::string live_before = Page();
  auto runs_before = Gravity({"runs", "--app", "site", "--json", "-f", stack_}, dir_.path());
  auto down = Gravity({"down", "-f", stack_}, dir_.path());
  ASSERT_EQ(down.exit_code, 0) << down.output;
  EXPECT_FALSE(PortOpen(proxy_port_));
  auto up2 = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(120));
  ASSERT_EQ(up2.exit_code, 0) << up2.output;
  EXPECT_EQ(Page(), live_before);
  auto runs_after = Gravity({"runs", "--app", "site", "--json", "-f", stack_}, dir_.path());
  json before = json::parse(runs_before.output, nullptr, false);
  json after = json::parse(runs_after.output, nullptr, false);
  EXPECT_EQ(before.size(), after.size()) << "up after down started a new run:\n"
                                         << runs_after.output;
}

// `gravity status --json` of the stack, or null.
json StatusOf(const std::string& stack, const std::string& cwd) {
  auto r = Gravity({"status", "--json", "-f", stack}, cwd);
  if (r.exit_code != 0) return json();
  json j = json::parse(r.output, nullptr, false);
  return j.is_discarded() ? json() : j;
}

// The environment `env` of app `site` in a status document, or null.
json EnvOf(const json& status, const std::string& env) {
  if (!status.is_object()) return json();
  for (const auto& a : status.value("apps", json::array())) {
    for (const auto& e : a.value("environments", json::array())) {
      if (e.value("name", "") == env) return e;
    }
  }
  return json();
}

int LiveInstances(const json& env) {
  int n = 0;
  if (!env.is_object()) return 0;
  for (const auto& i : env.value("instances", json::array())) {
    if (i.value("role", "") == "live" && i.value("state", "") == "running") ++n;
  }
  return n;
}

TEST_F(Flow, ChangedStackScalesAddsAndRemovesEnvironmentsWithoutABlip) {
  auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
  ASSERT_EQ(up.exit_code, 0) << up.output;

  LoadOptions lo;
  lo.port = proxy_port_;
  lo.connections = 8;
  lo.pause_between_requests = milliseconds(5);
  LoadGenerator load(lo);
  load.Start();

  // Scale staging to 3 and add a preview environment on the same branch.
  std::string grown = StackYaml();
  grown.replace(grown.find("instances: 2"), 12, "instances: 3");
  grown += "      preview:\n"
           "        branch: staging\n"
           "        host: preview.localhost\n"
           "        instances: 1\n";
  dir_.Write("stack.yml", grown);
  auto up2 = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
  ASSERT_EQ(up2.exit_code, 0) << up2.output;
  EXPECT_NE(up2.output.find("instances"), std::string::npos) << up2.output;
  EXPECT_TRUE(WaitFor([&] { return LiveInstances(EnvOf(StatusOf(stack_, dir_.path()), "staging")) == 3; },
                      seconds(60)))
      << StatusOf(stack_, dir_.path()).dump(2);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = HttpGet(proxy_port_, "/", "preview.localhost", seconds(5));
        return r.ok() && r->status == 200 && r->body.find(kText) != std::string::npos &&
               LiveInstances(EnvOf(StatusOf(stack_, dir_.path()), "preview")) == 1;
      },
      seconds(90)))
      << StatusOf(stack_, dir_.path()).dump(2);

  // Remove preview again: it is torn down; staging keeps serving throughout.
  dir_.Write("stack.yml", StackYaml());
  auto up3 = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
  ASSERT_EQ(up3.exit_code, 0) << up3.output;
  EXPECT_TRUE(WaitFor(
      [&] {
        json st = StatusOf(stack_, dir_.path());
        return st.is_object() && EnvOf(st, "preview").is_null() &&
               LiveInstances(EnvOf(st, "staging")) == 2;
      },
      seconds(60)))
      << StatusOf(stack_, dir_.path()).dump(2);

  load.Stop();
  LoadStats stats = load.Stats();
  EXPECT_GT(stats.total, 100);
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
}

TEST_F(Flow, MalformedStackIsRefusedWithLineAndColumnBeforeAnythingStarts) {
  std::string bad = dir_.Write("bad.yml", "state_dir: state\napps:\n  site:\n    repo: ./site.git\n"
                                          "    enviroments: {}\n");
  auto up = Gravity({"up", "-f", bad, "--detach"}, dir_.path());
  EXPECT_NE(up.exit_code, 0);
  EXPECT_NE(up.output.find("bad.yml:5:5"), std::string::npos) << up.output;
  EXPECT_NE(up.output.find("did you mean 'environments'"), std::string::npos) << up.output;
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("state/run/proxy.pid")));
}

TEST_F(Flow, MalformedGravityYmlFailsTheRunAtCheckoutWithLineAndColumn) {
  auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
  ASSERT_EQ(up.exit_code, 0) << up.output;
  std::string c = CommitAndPush({{"gravity.yml", "run:\n  command: [unclosed\n"}}, "broken spec");
  json run = FinishedRun(c);
  ASSERT_FALSE(run.is_null());
  EXPECT_EQ(run.value("status", ""), "failed");
  EXPECT_EQ(run.value("stage", ""), "checkout") << run.dump();
  EXPECT_NE(run.value("error", "").find("gravity.yml:"), std::string::npos) << run.dump();
  EXPECT_NE(Page().find(kText), std::string::npos);
}

}  // namespace
}  // namespace gravity::test
