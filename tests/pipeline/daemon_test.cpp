// End-to-end tests of `gravity daemon`: a real daemon process, real git repositories in
// temp dirs, the HTTP API and the CLI.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/process.h"
#include "pipeline/webhook.h"
#include "runtime/cgroup.h"
#include "runtime/launcher.h"
#include "support/support.h"

namespace gravity::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kWait = 60s;  // generous: the machine is shared

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = GitRepo::Init(dir_.Join("app"), "main");
    ASSERT_TRUE(repo.ok()) << repo.error();
    repo_ = std::make_unique<GitRepo>(std::move(*repo));
    admin_port_ = FreePort();
    dir_.Write("hook.secret", "It's a Secret to Everybody\n");
  }
  void TearDown() override {
    if (daemon_) daemon_->Stop(10s);
    // Instances outlive the daemon by design; the ones its deploy stage started (there is
    // no proxy here, so those deploys fail) must not outlive the test.
    runtime::ProcessLauncher launcher(GRAVITY_BIN, dir_.Join("state"));
    for (const auto& ref : launcher.FindOwned(dir_.Join("state"))) launcher.Stop(ref, 2s);
  }

  // Writes stack.yml watching `branch` of `repo_url` (default: the work tree).
  // `app_extra`: more keys of the app, each line indented by 4 ("    build_sandbox: off\n").
  void WriteStack(const std::string& poll = "300ms", const std::string& branch = "main",
                  std::string repo_url = "", const std::string& app_extra = "") {
    if (repo_url.empty()) repo_url = repo_->path();
    dir_.Write("stack.yml",
               "state_dir: state\n"
               "admin: { listen: 127.0.0.1:" +
                   std::to_string(admin_port_) +
                   " }\n"
                   "apps:\n"
                   "  site:\n"
                   "    repo: " +
                   repo_url +
                   "\n"
                   "    poll_interval: " +
                   poll +
                   "\n"
                   "    webhook_secret_file: hook.secret\n" +
                   app_extra +
                   "    environments:\n"
                   "      staging:\n"
                   "        branch: " +
                   branch + "\n");
  }

  void StartDaemon() {
    SubprocessOptions o;
    o.argv = {GRAVITY_BIN,  "daemon", "-f",          dir_.Join("stack.yml"),
              "--log-file", "-",      "--log-level", "debug"};
    o.output_path = dir_.Join("daemon-" + std::to_string(++daemon_starts_) + ".out");
    auto p = Subprocess::Start(o);
    ASSERT_TRUE(p.ok()) << p.error();
    daemon_ = std::move(*p);
    ASSERT_TRUE(daemon_->WaitForOutput("API on", kWait)) << daemon_->Output();
  }

  Result<HttpResponse> Call(const std::string& method, const std::string& target,
                            const std::string& body = "", HttpHeaders headers = {}) {
    HttpClient client("127.0.0.1", admin_port_, 30s);
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.body = body;
    req.headers = std::move(headers);
    return client.Send(req);
  }

  json Get(const std::string& target) {
    auto r = Call("GET", target);
    EXPECT_TRUE(r.ok()) << r.error();
    if (!r.ok()) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body, nullptr, false);
  }

  json Runs() { return Get("/v1/runs?app=site")["runs"]; }

  // Waits until a run for `commit` has ended; returns it (null when it never did).
  json WaitRunDone(const std::string& commit, int after_id = 0) {
    json found;
    WaitFor(
        [&] {
          for (const auto& r : Runs()) {
            if (r["commit"] == commit && r["done"].get<bool>() && r["status"] != "superseded" &&
                r["id"].get<int>() > after_id) {
              found = Get("/v1/runs/" + std::to_string(r["id"].get<int>()));
              return true;
            }
          }
          return false;
        },
        kWait, 100ms);
    return found;
  }

  // The pipeline part (checkout, build, test, seal) passed. (A deploy stage, when a deploy
  // hook is attached, is judged by the deploy tests.)
  static bool PipelinePassed(const json& run) {
    for (const auto& s : run["stages"]) {
      if (s["name"] == "seal") return s["status"] == "succeeded";
    }
    return false;
  }

  Result<CommandResult> Cli(std::vector<std::string> args) {
    args.insert(args.begin(), GRAVITY_BIN);
    args.push_back("-f");
    args.push_back(dir_.Join("stack.yml"));
    return RunCommand(args, dir_.path());
  }

  std::string Commit(const std::string& gravity_yml,
                     const std::map<std::string, std::string>& files = {}) {
    std::map<std::string, std::string> all = files;
    all["gravity.yml"] = gravity_yml;
    auto c = repo_->CommitFiles(all, "change");
    EXPECT_TRUE(c.ok()) << c.error();
    return c.ok() ? *c : "";
  }

  std::string Sign(const std::string& body) {
    return "sha256=" + pipeline::HmacSha256Hex("It's a Secret to Everybody", body);
  }

  TempDir dir_{"gravity-daemon-test"};
  std::unique_ptr<GitRepo> repo_;
  std::unique_ptr<Subprocess> daemon_;
  int admin_port_ = 0;
  int daemon_starts_ = 0;
};

const std::string kOk =
    "build:\n  command: echo building $GRAVITY_COMMIT > built.txt\n"
    "run:\n  command: gravity static . --port $PORT\n";

TEST_F(DaemonTest, NewCommitsOnAPolledBranchBecomeRunsAndSealedReleases) {
  std::string c1 = Commit(kOk, {{"index.html", "one"}});
  WriteStack();
  StartDaemon();
  json r1 = WaitRunDone(c1);
  ASSERT_FALSE(r1.is_null()) << daemon_->Output();
  EXPECT_TRUE(PipelinePassed(r1)) << r1.dump(2);
  EXPECT_EQ(r1["trigger"], "poll");
  std::string rel = dir_.Join("state/releases/site/" + c1);
  EXPECT_EQ(r1["release_dir"], rel);
  EXPECT_EQ(*ReadFile(rel + "/built.txt"), "building " + c1 + "\n");
  struct stat st;
  ASSERT_EQ(::stat((rel + "/index.html").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);

  std::string c2 = Commit(kOk, {{"index.html", "two"}});
  json r2 = WaitRunDone(c2);
  ASSERT_FALSE(r2.is_null());
  EXPECT_TRUE(PipelinePassed(r2));
  EXPECT_EQ(Runs().size(), 2u);  // one run per tip, once

  auto list = Cli({"runs", "--json"});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->exit_code, 0) << list->err;
  EXPECT_EQ(json::parse(list->out).size(), 2u);
  auto table = Cli({"runs", "--app", "site"});
  ASSERT_TRUE(table.ok());
  EXPECT_NE(table->out.find(c2.substr(0, 10)), std::string::npos) << table->out;
  auto show = Cli({"run", "show", std::to_string(r1["id"].get<int>()), "--logs"});
  ASSERT_TRUE(show.ok());
  EXPECT_EQ(show->exit_code, 0) << show->err;
  EXPECT_NE(show->out.find("[checkout] exported " + c1), std::string::npos) << show->out;
  EXPECT_NE(show->out.find("build     succeeded"), std::string::npos) << show->out;
  auto missing = Cli({"run", "show", "9999"});
  ASSERT_TRUE(missing.ok());
  EXPECT_NE(missing->exit_code, 0);
  EXPECT_NE(missing->err.find("no run 9999"), std::string::npos) << missing->err;
}

TEST_F(DaemonTest, WebhookNeedsAValidSignatureAndTriggersAFetch) {
  std::string c1 = Commit(kOk);
  WriteStack("1h");  // polling only at start: later runs come from the webhook
  StartDaemon();
  ASSERT_FALSE(WaitRunDone(c1).is_null());
  std::string c2 = Commit(kOk, {{"x", "2"}});
  std::string push = json{{"ref", "refs/heads/main"}, {"after", c2}}.dump();
  auto hook = [&](const std::string& body, HttpHeaders headers) {
    auto r = Call("POST", "/hooks/site", body, std::move(headers));
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? r->status : 0;
  };
  EXPECT_EQ(hook(push, {{"X-GitHub-Event", "push"}}), 401);
  EXPECT_EQ(hook(push, {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", Sign("other")}}), 401);
  EXPECT_EQ(hook(push, {{"X-GitHub-Event", "push"},
                        {"X-Hub-Signature-256", "sha256=" + std::string(64, '0')}}),
            401);
  EXPECT_EQ(hook("{}", {{"X-GitHub-Event", "ping"}, {"X-Hub-Signature-256", Sign("{}")}}), 200);
  std::string other = json{{"ref", "refs/heads/feature"}, {"after", c2}}.dump();
  EXPECT_EQ(hook(other, {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", Sign(other)}}), 202);
  std::string bad = "{\"ref\": ";
  EXPECT_EQ(hook(bad, {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", Sign(bad)}}), 400);
  std::string huge(5 << 20, ' ');
  EXPECT_EQ(hook(huge, {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", Sign(huge)}}), 413);
  EXPECT_EQ(Runs().size(), 1u);  // nothing was queued by the refused calls
  EXPECT_EQ(hook(push, {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", Sign(push)}}), 200);
  json r2 = WaitRunDone(c2);
  ASSERT_FALSE(r2.is_null());
  EXPECT_EQ(r2["trigger"], "webhook");
  EXPECT_EQ(Runs().size(), 2u);
}

TEST_F(DaemonTest, FailingBuildIsStoredWithItsOutput) {
  std::string c = Commit(
      "build:\n  command: \"echo compiling; echo 'error: x.c:3: nope' >&2; "
      "exit 4\"\nrun:\n  command: x\n");
  WriteStack();
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["stage"], "build");
  EXPECT_NE(r["error"].get<std::string>().find("exited with status 4"), std::string::npos);
  EXPECT_NE(r["error"].get<std::string>().find("x.c:3: nope"), std::string::npos);
  EXPECT_NE(::access(dir_.Join("state/releases/site/" + c).c_str(), F_OK), 0);  // discarded
  auto show = Cli({"run", "show", std::to_string(r["id"].get<int>())});
  ASSERT_TRUE(show.ok());
  EXPECT_NE(show->out.find("x.c:3: nope"), std::string::npos) << show->out;
}

TEST_F(DaemonTest, BuildThatReadsTheTokenFailsAtBuildWithThatError) {
  // The build runs sandboxed: the state dir (token, database, other releases) is not there,
  // the system is read-only, and it is not root.
  std::string token = dir_.Join("state/token");
  std::string c = Commit(
      "build:\n  command: \"id -u; touch /usr/pwned || echo system read-only; "
      "cat " +
      token + "\"\nrun:\n  command: x\n");
  WriteStack();
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null()) << daemon_->Output();
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["stage"], "build");
  std::string error = r["error"].get<std::string>();
  EXPECT_NE(error.find("exited with status 1"), std::string::npos) << error;
  EXPECT_NE(error.find("cat: " + token + ": No such file or directory"), std::string::npos)
      << error;
  EXPECT_NE(error.find("system read-only"), std::string::npos) << error;
  EXPECT_EQ(error.find("\n0\n"), std::string::npos) << error;  // id -u is not root
  EXPECT_NE(::access("/usr/pwned", F_OK), 0);
}

TEST_F(DaemonTest, BuildPastItsMemoryLimitFailsAtBuildWithTheLimitNamed) {
  if (runtime::HostCgroups().version == runtime::CgroupVersion::kNone) {
    GTEST_SKIP() << "no cgroups on this host";
  }
  // 256 MiB of bytes really written, under build_limits.memory of 32 MiB.
  std::string c = Commit(
      "build:\n  command: \"python3 -c 'x = bytearray(b\\\"y\\\") * (256 << 20); print(len(x))'\"\n"
      "  timeout: 60s\nrun:\n  command: x\n");
  WriteStack("300ms", "main", "", "    build_limits: { memory: 32MiB }\n");
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null()) << daemon_->Output();
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["stage"], "build");
  std::string error = r["error"].get<std::string>();
  EXPECT_NE(error.find("gravity: killed: out of memory (limit 32 MiB)"), std::string::npos)
      << error;
}

TEST_F(DaemonTest, TestThatReadsTheTokenFailsAtTestWithThatError) {
  std::string token = dir_.Join("state/token");
  std::string c = Commit("test:\n  command: \"cat " + token +
                         "\"\n  files: gravity.yml\nrun:\n  command: x\n");
  WriteStack();
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null()) << daemon_->Output();
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["stage"], "test");
  std::string error = r["error"].get<std::string>();
  EXPECT_NE(error.find("cat: " + token + ": No such file or directory"), std::string::npos)
      << error;
}

TEST_F(DaemonTest, BuildWritesItsReleaseAndTestsSeeItReadOnly) {
  std::string c = Commit(
      "build:\n  command: echo built > out.txt\n"
      "test:\n  command: \"cat out.txt && ! touch out2.txt 2>/dev/null && touch $TMPDIR/x\"\n"
      "  files: gravity.yml\n"
      "run:\n  command: x\n");
  WriteStack();
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null()) << daemon_->Output();
  EXPECT_TRUE(PipelinePassed(r)) << r.dump(2);
  struct stat st {};
  ASSERT_EQ(::stat(dir_.Join("state/releases/site/" + c + "/out.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);  // handed back to root when the build ended
}

TEST_F(DaemonTest, BuildTimeoutKillsTheWholeProcessGroup) {
  std::string pidfile = dir_.Join("grandchild.pid");
  std::string c = Commit("build:\n  command: \"sh -c 'trap \\\"\\\" TERM; echo $$ > " + pidfile +
                         "; exec sleep 300' & echo started; wait\"\n  timeout: 1s\n"
                         "run:\n  command: x\n");
  // Watches the build's processes from outside (host pids in a file of the test dir); in
  // the sandbox its PID namespace alone would end them.
  WriteStack("300ms", "main", "", "    build_sandbox: off\n");
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null()) << daemon_->Output();
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["stage"], "build");
  EXPECT_NE(r["error"].get<std::string>().find("timed out after 1s"), std::string::npos)
      << r["error"];
  auto pid = ReadFile(pidfile);
  ASSERT_TRUE(pid.ok());
  EXPECT_FALSE(ProcessAlive(std::stoi(*pid)));
}

TEST_F(DaemonTest, FailingTestFileIsNamedWithItsOutput) {
  std::string c = Commit(
      "test:\n  command: sh {file}\n  files: tests/*_test.sh\n  workers: 2\nrun:\n  command: x\n",
      {{"tests/a_test.sh", "echo a fine"},
       {"tests/b_test.sh", "echo 'b: expected 200, got 500'; exit 1"},
       {"tests/c_test.sh", "echo c fine"}});
  WriteStack();
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["stage"], "test");
  std::string error = r["error"];
  EXPECT_NE(error.find("1 of 3 test files failed: tests/b_test.sh"), std::string::npos) << error;
  EXPECT_NE(error.find("expected 200, got 500"), std::string::npos) << error;
  ASSERT_EQ(r["tests"].size(), 3u);
  EXPECT_FALSE(r["tests"][1]["passed"].get<bool>());
  auto show = Cli({"run", "show", std::to_string(r["id"].get<int>())});
  ASSERT_TRUE(show.ok());
  EXPECT_NE(show->out.find("FAILED tests/b_test.sh"), std::string::npos) << show->out;
}

TEST_F(DaemonTest, HugeOutputKeepsHeadAndTailAndSaysWhatWasDropped) {
  std::string c = Commit(
      "build:\n  command: \"i=0; while [ $i -lt 100000 ]; do echo line $i of the build log; "
      "i=$((i+1)); done\"\nrun:\n  command: x\n");
  WriteStack();
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null());
  EXPECT_TRUE(PipelinePassed(r)) << r.dump(2);
  json logs = Get("/v1/runs/" + std::to_string(r["id"].get<int>()) + "/logs?stage=build");
  const auto& lines = logs["lines"];
  ASSERT_GT(lines.size(), 100u);
  EXPECT_LT(lines.size(), 100000u);
  EXPECT_EQ(lines.front()["text"], "line 0 of the build log");
  EXPECT_EQ(lines.back()["text"], "line 99999 of the build log");
  bool marker = false;
  for (const auto& l : lines) {
    if (l["text"].get<std::string>().find("of output dropped here") != std::string::npos) {
      marker = true;
    }
  }
  EXPECT_TRUE(marker);
}

TEST_F(DaemonTest, InvalidGravityYmlFailsTheRunWithLineAndColumn) {
  std::string c = Commit("build:\n  command: make\ntest:\n  workers: many\nrun:\n  command: x\n");
  WriteStack();
  StartDaemon();
  json r = WaitRunDone(c);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["stage"], "checkout");
  EXPECT_EQ(r["error"].get<std::string>().rfind("gravity.yml:4:", 0), 0u) << r["error"];
}

TEST_F(DaemonTest, DeletedBranchIsShownAndPollingContinues) {
  Commit(kOk);
  ASSERT_TRUE(repo_->CreateBranch("staging").ok());
  std::string c1 = Commit(kOk, {{"s", "1"}});
  WriteStack("300ms", "staging");
  StartDaemon();
  ASSERT_FALSE(WaitRunDone(c1).is_null());
  ASSERT_TRUE(repo_->Checkout("main").ok());
  ASSERT_TRUE(repo_->DeleteBranch("staging").ok());
  std::string shown;
  EXPECT_TRUE(WaitFor(
      [&] {
        shown = Get("/v1/apps")["apps"][0]["branches"][0]["error"];
        return !shown.empty();
      },
      kWait, 100ms));
  EXPECT_NE(shown.find("branch 'staging' not found"), std::string::npos) << shown;
  ASSERT_TRUE(repo_->CreateBranch("staging").ok());
  std::string c2 = Commit(kOk, {{"s", "2"}});
  ASSERT_FALSE(WaitRunDone(c2).is_null());
  EXPECT_EQ(Get("/v1/apps")["apps"][0]["branches"][0]["error"], "");
}

TEST_F(DaemonTest, UnreachableRemoteIsShownAndPollingContinues) {
  std::string remote = dir_.Join("remote.git");
  WriteStack("300ms", "main", "file://" + remote);
  StartDaemon();
  std::string shown;
  EXPECT_TRUE(WaitFor(
      [&] {
        shown = Get("/v1/apps")["apps"][0]["remote_error"];
        return !shown.empty();
      },
      kWait, 100ms));
  EXPECT_NE(shown.find("remote.git"), std::string::npos) << shown;
  EXPECT_TRUE(Runs().empty());
  // The remote appears: polling picks it up.
  auto bare = GitRepo::InitBare(remote, "main");
  ASSERT_TRUE(bare.ok());
  std::string c = Commit(kOk);
  ASSERT_TRUE(repo_->AddRemote("origin", bare->Url()).ok());
  ASSERT_TRUE(repo_->Push("origin", "main").ok());
  ASSERT_FALSE(WaitRunDone(c).is_null());
  EXPECT_EQ(Get("/v1/apps")["apps"][0]["remote_error"], "");
}

TEST_F(DaemonTest, KilledMidRunTheRunIsInterruptedAndTheNewestTipRunsAgain) {
  std::string block = dir_.Join("block");
  std::string pidfile = dir_.Join("build.pid");
  dir_.Write("block", "");
  std::string c = Commit("build:\n  command: \"echo $$ > " + pidfile +
                         "; touch half-made; "
                         "if [ -f " +
                         block +
                         " ]; then exec sleep 300; fi\"\n"
                         "run:\n  command: x\n");
  WriteStack("300ms", "main", "", "    build_sandbox: off\n");  // a host pid, a host file
  StartDaemon();
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(pidfile).ok() && !ReadFile(pidfile)->empty(); }, kWait));
  json first = Runs()[0];
  EXPECT_EQ(first["status"], "running");
  daemon_->Kill();  // SIGKILL to the daemon's group (its build runs in a group of its own)
  daemon_.reset();
  int build_pid = std::stoi(*ReadFile(pidfile));
  EXPECT_TRUE(ProcessAlive(build_pid));  // orphaned, still running
  ASSERT_EQ(::unlink(block.c_str()), 0);
  StartDaemon();
  EXPECT_FALSE(ProcessAlive(build_pid));  // stopped by the restarted daemon
  json again = WaitRunDone(c, first["id"].get<int>());
  ASSERT_FALSE(again.is_null());
  EXPECT_TRUE(PipelinePassed(again)) << again.dump(2);
  EXPECT_EQ(again["trigger"], "restart");
  json old = Get("/v1/runs/" + std::to_string(first["id"].get<int>()));
  EXPECT_EQ(old["status"], "interrupted");
  EXPECT_NE(old["error"].get<std::string>().find("build"), std::string::npos);
  // The sealed release is the re-run's, not a leftover of the killed one.
  EXPECT_EQ(Runs().size(), 2u);
}

TEST_F(DaemonTest, DeployCommandNeedsTheTokenAndRunsTheRef) {
  std::string c1 = Commit(kOk);
  ASSERT_TRUE(repo_->Git({"tag", "v1"}).ok());
  std::string c2 = Commit(kOk, {{"n", "2"}});
  WriteStack("1h");
  StartDaemon();
  ASSERT_FALSE(WaitRunDone(c2).is_null());
  // No token: refused.
  auto anon = RunCommand({GRAVITY_BIN, "deploy", "site", "--ref", "v1", "--admin",
                          "127.0.0.1:" + std::to_string(admin_port_), "-f", "/nonexistent.yml"});
  ASSERT_TRUE(anon.ok());
  EXPECT_NE(anon->exit_code, 0);
  EXPECT_NE(anon->err.find("bearer token"), std::string::npos) << anon->err;
  auto unknown = Cli({"deploy", "site", "--ref", "no-such-ref"});
  ASSERT_TRUE(unknown.ok());
  EXPECT_NE(unknown->exit_code, 0);
  EXPECT_NE(unknown->err.find("'no-such-ref'"), std::string::npos) << unknown->err;
  auto deploy = Cli({"deploy", "site", "--ref", "v1", "--wait"});
  ASSERT_TRUE(deploy.ok());
  EXPECT_NE(deploy->out.find("queued for site " + c1), std::string::npos) << deploy->out;
  json r = Runs()[0];
  EXPECT_EQ(r["commit"], c1);
  EXPECT_EQ(r["trigger"], "manual");
  EXPECT_TRUE(PipelinePassed(Get("/v1/runs/" + std::to_string(r["id"].get<int>()))));
}

TEST_F(DaemonTest, SecondDaemonOnTheSameStateIsRefused) {
  Commit(kOk);
  WriteStack();
  StartDaemon();
  auto second = RunCommand({GRAVITY_BIN, "daemon", "-f", dir_.Join("stack.yml"), "--log-file", "-"},
                           dir_.path(), {}, 30s);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->exit_code, 0);
  EXPECT_NE(second->err.find("another gravity daemon"), std::string::npos) << second->err;
  struct stat st;
  ASSERT_EQ(::stat(dir_.Join("state/token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace gravity::test
