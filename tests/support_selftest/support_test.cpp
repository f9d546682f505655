// Self-tests of tests/support against real processes: TempDir, FreePort, WaitFor,
// Subprocess, RunCommand, LoadGenerator, GitRepo.
#include "support/support.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fs.h"
#include "common/process.h"

namespace gravity::test {
namespace {

using namespace std::chrono_literals;

TEST(TempDir, WritesFilesAndRemovesEverything) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    std::string file = dir.Write("a/b/c.txt", "hello");
    auto content = ReadFile(file);
    ASSERT_TRUE(content.ok());
    EXPECT_EQ(*content, "hello");
  }
  struct stat st;
  EXPECT_NE(::stat(path.c_str(), &st), 0);
}

TEST(FreePort, HandsOutDistinctBindablePorts) {
  int a = FreePort();
  int b = FreePort();
  EXPECT_NE(a, b);
  EXPECT_GT(a, 0);
  EXPECT_FALSE(PortOpen(a));
}

TEST(WaitFor, ReturnsTrueOnceTheConditionHoldsAndFalseAtTheDeadline) {
  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls >= 3; }, 30s, 1ms));
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(WaitFor([] { return false; }, 20ms, 1ms));
}

TEST(Subprocess, CapturesOutputAndExitCode) {
  auto p = Subprocess::Start({.argv = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(p.ok()) << p.error();
  auto status = (*p)->Wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ((*p)->ExitCode(), 3);
  EXPECT_EQ((*p)->Output(), "out\nerr\n");
}

TEST(Subprocess, StopEndsTheWholeGroup) {
  auto p = Subprocess::Start({.argv = {"/bin/sh", "-c", "sleep 600 & echo started; wait"}});
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE((*p)->WaitForOutput("started", 30s));
  pid_t group = (*p)->pid();
  (*p)->Stop(5s);
  EXPECT_FALSE((*p)->Running());
  EXPECT_TRUE(WaitFor([&] { return !GroupAlive(group); }, 30s));
}

TEST(Subprocess, MissingProgramIsAnError) {
  auto p = Subprocess::Start({.argv = {"/nonexistent/program"}});
  EXPECT_FALSE(p.ok());
}

TEST(RunCommand, SeparatesStdoutAndStderrAndTimesOut) {
  auto r = RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 4"});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  auto slow = RunCommand({"/bin/sh", "-c", "sleep 600"}, "", {}, 200ms);
  ASSERT_TRUE(slow.ok());
  EXPECT_TRUE(slow->timed_out);
  auto failed = RunOk({"/bin/sh", "-c", "echo nope >&2; exit 1"});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().find("nope"), std::string::npos);
}

TEST(HttpClient, ReportsRefusedConnections) {
  int port = FreePort();
  auto res = HttpGet(port, "/");
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().find("Connection refused"), std::string::npos) << res.error();
}

TEST(HttpClient, RetriesOnceWhenAKeptAliveConnectionWasClosed) {
  auto app = TestApp::Start({.name = "a"});
  ASSERT_TRUE(app.ok()) << app.error();
  HttpClient client("127.0.0.1", (*app)->port());
  ASSERT_TRUE(client.Get("/").ok());
  // The server closes the connection after a Connection: close request.
  HttpRequest req;
  req.headers = {{"Connection", "close"}};
  auto closing = client.Send(req);
  ASSERT_TRUE(closing.ok()) << closing.error();
  EXPECT_FALSE(closing->keep_alive);
  EXPECT_FALSE(client.connected());
  auto next = client.Get("/");
  ASSERT_TRUE(next.ok()) << next.error();
  EXPECT_EQ(client.connections_opened(), 2);
}

TEST(LoadGenerator, RecordsOkResponsesAndWhichInstanceAnswered) {
  auto app = TestApp::Start({.name = "blue"});
  ASSERT_TRUE(app.ok()) << app.error();
  LoadGenerator load({.port = (*app)->port(), .connections = 8, .max_requests = 400});
  load.Start();
  load.Wait();
  LoadStats stats = load.Stats();
  EXPECT_EQ(stats.total, 400) << stats.Summary();
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
  EXPECT_EQ(stats.InstanceSet(), std::set<std::string>{"blue"});
  EXPECT_EQ(stats.statuses[200], 400);
  EXPECT_EQ(stats.bodies["gravity-testapp blue\n"], 400);
}

TEST(LoadGenerator, CountsFailuresWithReasonsWhenTheTargetDies) {
  auto app = TestApp::Start({.name = "doomed"});
  ASSERT_TRUE(app.ok()) << app.error();
  LoadGenerator load({.port = (*app)->port(), .connections = 4, .duration = 60s});
  load.Start();
  auto t0 = LoadGenerator::Now();
  ASSERT_TRUE(load.WaitForRequestsSince(t0, 50, 30s));
  (*app)->process().Kill();
  auto t1 = LoadGenerator::Now();
  ASSERT_TRUE(WaitFor([&] { return load.StatsSince(t1).failed >= 20; }, 30s));
  load.Stop();
  LoadStats all = load.Stats();
  EXPECT_GE(all.ok, 50);
  EXPECT_GE(all.failed, 20);
  LoadStats after = load.StatsSince(t1);
  EXPECT_EQ(after.ok, 0) << after.Summary();
  bool refused = false;
  for (const auto& [reason, count] : after.failures) {
    if (reason.find("Connection refused") != std::string::npos) refused = true;
  }
  EXPECT_TRUE(refused) << after.Summary();
  EXPECT_FALSE(after.failure_samples.empty());
}

TEST(LoadGenerator, TellsWhichSetIsServingAfterASwitch) {
  auto blue = TestApp::Start({.name = "blue"});
  auto green = TestApp::Start({.name = "green"});
  ASSERT_TRUE(blue.ok() && green.ok());
  // Two generators stand in for "traffic before" and "traffic after": the same queries a
  // deploy test makes (InstancesSince) must see only the instances of the later period.
  LoadGenerator load({.port = (*blue)->port(), .connections = 2, .duration = 60s});
  load.Start();
  ASSERT_TRUE(load.WaitForRequestsSince(LoadGenerator::Now(), 20, 30s));
  load.Stop();
  LoadGenerator load2({.port = (*green)->port(), .connections = 2, .duration = 60s});
  load2.Start();
  auto t = LoadGenerator::Now();
  ASSERT_TRUE(load2.WaitForRequestsSince(t, 20, 30s));
  load2.Stop();
  EXPECT_EQ(load.InstancesSince(t), std::set<std::string>{});
  EXPECT_EQ(load2.InstancesSince(t), std::set<std::string>{"green"});
  EXPECT_EQ(load.Stats().InstanceSet(), std::set<std::string>{"blue"});
}

TEST(LoadGenerator, NonOkStatusIsAFailureNamingTheStatus) {
  auto app = TestApp::Start({.status = 503});
  ASSERT_TRUE(app.ok()) << app.error();
  LoadGenerator load({.port = (*app)->port(), .connections = 2, .max_requests = 10});
  load.Start();
  load.Wait();
  LoadStats stats = load.Stats();
  EXPECT_EQ(stats.failed, 10);
  EXPECT_EQ(stats.failures["status 503"], 10) << stats.Summary();
}

TEST(GitRepo, CommitsBranchesAndPushesToABareRemote) {
  TempDir dir;
  auto remote = GitRepo::InitBare(dir.Join("remote.git"));
  ASSERT_TRUE(remote.ok()) << remote.error();
  auto repo = GitRepo::Init(dir.Join("work"));
  ASSERT_TRUE(repo.ok()) << repo.error();
  auto c1 = repo->CommitFiles({{"public/index.html", "Automation for the people\n"}}, "first");
  ASSERT_TRUE(c1.ok()) << c1.error();
  EXPECT_EQ(c1->size(), 40u);
  ASSERT_TRUE(repo->AddRemote("origin", remote->Url()).ok());
  ASSERT_TRUE(repo->Push("origin", "main").ok());
  ASSERT_TRUE(repo->CreateBranch("staging").ok());
  ASSERT_TRUE(repo->WriteFile("run.sh", "#!/bin/sh\necho hi\n", 0755).ok());
  auto c2 = repo->Commit("second");
  ASSERT_TRUE(c2.ok()) << c2.error();
  ASSERT_TRUE(repo->Push("origin", "staging").ok());
  EXPECT_EQ(*remote->RevParse("main"), *c1);
  EXPECT_EQ(*remote->RevParse("staging"), *c2);
  // A force-push rewinds staging.
  ASSERT_TRUE(repo->CreateBranch("staging", *c1).ok());
  auto c3 = repo->Commit("rewritten");
  ASSERT_TRUE(c3.ok());
  EXPECT_FALSE(repo->Push("origin", "staging").ok());  // non-fast-forward refused
  ASSERT_TRUE(repo->Push("origin", "staging", /*force=*/true).ok());
  EXPECT_EQ(*remote->RevParse("staging"), *c3);
  ASSERT_TRUE(repo->DeleteRemoteBranch("origin", "staging").ok());
  EXPECT_FALSE(remote->RevParse("staging").ok());
  // A clone sees main.
  auto clone = GitRepo::Clone(remote->Url(), dir.Join("clone"));
  ASSERT_TRUE(clone.ok()) << clone.error();
  EXPECT_EQ(*clone->Head(), *c1);
}

}  // namespace
}  // namespace gravity::test
