#include "pipeline/pipeline.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "common/fs.h"
#include "common/process.h"
#include "pipeline/command.h"
#include "pipeline/webhook.h"
#include "support/git_repo.h"
#include "support/wait.h"

namespace gravity::pipeline {
namespace {

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("gravity-pipeline");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    repo_ = dir_ + "/repo";
    auto git = test::GitRepo::Init(repo_, "main");
    ASSERT_TRUE(git.ok()) << git.error();
    git_ = std::make_unique<test::GitRepo>(std::move(*git));
    auto db = store::Db::Open(dir_ + "/state.db");
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
  }
  void TearDown() override {
    pipeline_.reset();
    db_.reset();
    RemoveTree(dir_);
  }
  // Commits `files` (path -> content) with gravity.yml `yml`; returns the commit id.
  std::string Commit(const std::string& yml, const std::map<std::string, std::string>& files = {},
                     const std::string& msg = "change") {
    EXPECT_TRUE(WriteFileAtomic(repo_ + "/gravity.yml", yml).ok());
    for (const auto& [path, content] : files) {
      auto slash = path.rfind('/');
      if (slash != std::string::npos) MakeDirs(repo_ + "/" + path.substr(0, slash));
      EXPECT_TRUE(WriteFileAtomic(repo_ + "/" + path, content).ok());
    }
    auto id = git_->Commit(msg);
    EXPECT_TRUE(id.ok()) << id.error();
    return id.ok() ? *id : "";
  }
  // Runs git in the repository; returns its output or fails the test.
  std::string Git(const std::vector<std::string>& args) {
    auto r = git_->Git(args);
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? *r : "";
  }
  void MakePipeline(DeployHook hook = nullptr, const std::string& secret_file = "") {
    config::StackSpec stack;
    stack.state_dir = dir_ + "/state";
    config::StackApp app;
    app.name = "site";
    app.repo = repo_;
    app.webhook_secret_file = secret_file;
    config::EnvironmentSpec staging;
    staging.name = "staging";
    staging.branch = "main";
    app.environments.push_back(staging);
    stack.apps.push_back(app);
    PipelineOptions o;
    o.start_threads = false;
    o.deploy_hook = std::move(hook);
    pipeline_ = std::make_unique<Pipeline>(*db_, stack, o);
    Status st = pipeline_->Init();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  RunRecord Run(std::int64_t id) {
    auto r = pipeline_->runs().GetRun(id);
    EXPECT_TRUE(r.ok() && r->has_value());
    return **r;
  }
  std::vector<RunRecord> AllRuns() { return *pipeline_->runs().ListRuns("site", 100); }

  std::string dir_, repo_;
  std::unique_ptr<test::GitRepo> git_;
  std::unique_ptr<store::Db> db_;
  std::unique_ptr<Pipeline> pipeline_;
};

constexpr const char* kSimple = "build:\n  command: echo built > built.txt\nrun:\n  command: x\n";

TEST_F(PipelineTest, EachNewTipBecomesOneRunOnceAndASealedRelease) {
  std::string c1 = Commit(kSimple, {{"index.html", "hello"}});
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  auto runs = AllRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].commit, c1);
  EXPECT_EQ(runs[0].status, "queued");
  EXPECT_EQ(runs[0].environments, "staging");
  auto ran = pipeline_->RunNext("site");
  ASSERT_TRUE(ran.ok() && *ran) << ran.error();
  RunRecord r = Run(runs[0].id);
  EXPECT_EQ(r.status, "succeeded") << r.error;
  std::string rel = dir_ + "/state/releases/site/" + c1;
  EXPECT_EQ(r.release_dir, rel);
  EXPECT_EQ(*ReadFile(rel + "/index.html"), "hello");
  EXPECT_EQ(*ReadFile(rel + "/built.txt"), "built\n");
  EXPECT_NE(::access((rel + "/.git").c_str(), F_OK), 0);
  struct stat st;
  ASSERT_EQ(::stat(rel.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  ASSERT_EQ(::stat((rel + "/index.html").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  auto stages = *pipeline_->runs().Stages(r.id);
  std::vector<std::string> names;
  for (const auto& s : stages) names.push_back(s.name + ":" + s.status);
  EXPECT_EQ(names,
            (std::vector<std::string>{"checkout:succeeded", "build:succeeded", "seal:succeeded"}));
  // Nothing new: no run.
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  EXPECT_EQ(AllRuns().size(), 1u);
  // A new commit: one more run.
  std::string c2 = Commit(kSimple, {{"index.html", "v2"}});
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  runs = AllRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].commit, c2);
}

TEST_F(PipelineTest, PausedEnvironmentLetsNewTipsGoByAndResumeCatchesUp) {
  std::string c1 = Commit(kSimple, {}, "one");
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_EQ(AllRuns().size(), 1u);
  ASSERT_TRUE(pipeline_->Pause("site", "staging").ok());
  EXPECT_TRUE(pipeline_->Pause("site", "staging").ok());  // idempotent
  EXPECT_TRUE(pipeline_->Pause("site", "nope").IsNotFound());
  EXPECT_TRUE(pipeline_->Pause("blog", "staging").IsNotFound());
  std::string c2 = Commit(kSimple, {{"a", "a"}}, "two");
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(pipeline_->PollOnce("site", "webhook").ok());
  EXPECT_EQ(AllRuns().size(), 1u) << "a paused environment gets no run from polling or webhooks";
  auto paused = pipeline_->runs().Paused("site", "staging");
  ASSERT_TRUE(paused.ok() && *paused);
  EXPECT_TRUE((*paused)->missed);
  // The pause is kept in the store: a new daemon still has it.
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  EXPECT_EQ(AllRuns().size(), 1u);
  // Resuming runs the tip that came in meanwhile, once.
  auto run = pipeline_->Resume("site", "staging");
  ASSERT_TRUE(run.ok()) << run.error();
  ASSERT_GT(*run, 0);
  EXPECT_EQ(Run(*run).commit, c2);
  EXPECT_EQ(Run(*run).environments, "staging");
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  EXPECT_EQ(AllRuns().size(), 2u);
  // Resuming what is not paused does nothing.
  auto again = pipeline_->Resume("site", "staging");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  (void)c1;
}

TEST_F(PipelineTest, ForcePushIsANewTip) {
  Commit(kSimple, {}, "one");
  std::string c2 = Commit(kSimple, {{"a", "a"}}, "two");
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  Git({"reset", "-q", "--hard", "HEAD~1"});
  auto three = git_->CommitFiles({{"b", "b\n"}}, "three");
  ASSERT_TRUE(three.ok()) << three.error();
  std::string c3 = *three;
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  auto runs = AllRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].commit, c3);
  EXPECT_EQ(runs[1].commit, c2);
}

TEST_F(PipelineTest, QueuedOlderCommitsAreSupersededByTheNewest) {
  Commit(kSimple, {}, "one");
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  Commit(kSimple, {{"x", "2"}}, "two");
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  std::string c3 = Commit(kSimple, {{"x", "3"}}, "three");
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  auto runs = AllRuns();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].commit, c3);
  EXPECT_EQ(runs[0].status, "succeeded");
  EXPECT_EQ(runs[1].status, "superseded");
  EXPECT_EQ(runs[2].status, "superseded");
  EXPECT_FALSE(*pipeline_->RunNext("site"));
}

TEST_F(PipelineTest, FailingBuildFailsAtBuildAndDiscardsTheRelease) {
  std::string c = Commit(
      "build:\n  command: \"echo compiling; echo 'oops: bad' >&2; exit 2\"\n"
      "run:\n  command: x\n");
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  RunRecord r = AllRuns()[0];
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.stage, "build");
  EXPECT_NE(r.error.find("exited with status 2"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("oops: bad"), std::string::npos) << r.error;
  auto logs = *pipeline_->runs().Logs(r.id, "build");
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0].text, "compiling");
  EXPECT_NE(::access((dir_ + "/state/releases/site/" + c).c_str(), F_OK), 0);
}

TEST_F(PipelineTest, BuildOutputIsVisibleWhileTheBuildRuns) {
  std::string go = dir_ + "/go";
  Commit("build:\n  command: \"echo first line; echo second line; while [ ! -f " + go +
         " ]; do sleep 0.05; done; echo last line\"\nrun:\n  command: x\n");
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  std::int64_t id = AllRuns()[0].id;
  std::thread runner([&] { ASSERT_TRUE(*pipeline_->RunNext("site")); });
  bool seen = test::WaitFor(
      [&] {
        auto logs = pipeline_->runs().Logs(id, "build");
        return logs.ok() && logs->size() == 2 && (*logs)[1].text == "second line";
      },
      std::chrono::seconds(60), std::chrono::milliseconds(20));
  EXPECT_TRUE(seen);
  EXPECT_EQ(Run(id).status, "running");
  ASSERT_TRUE(WriteFileAtomic(go, "").ok());
  runner.join();
  auto logs = *pipeline_->runs().Logs(id, "build");
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0].text, "first line");
  EXPECT_EQ(logs[2].text, "last line");
  EXPECT_EQ(Run(id).status, "succeeded");
}

TEST_F(PipelineTest, InvalidGravityYmlFailsAtCheckoutWithLineAndColumn) {
  Commit("build:\n  command: make\n  timeout: forever\nrun:\n  command: x\n");
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  RunRecord r = AllRuns()[0];
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.stage, "checkout");
  EXPECT_EQ(r.error.rfind("gravity.yml:3:", 0), 0u) << r.error;
}

TEST_F(PipelineTest, TestsRunSplitAcrossWorkersWithTheirOwnEnvironment) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 6; ++i) {
    files["tests/t" + std::to_string(i) + "_test.sh"] =
        "echo \"worker=$GRAVITY_WORKER port=$GRAVITY_PORT_BASE tmp=$TMPDIR "
        "file=$GRAVITY_TEST_FILE\"\n"
        "touch \"$TMPDIR/mine\"\n";
  }
  files["tests/it's odd_test.sh"] = "echo quoted file ran: \"$1\"\n";
  files["tests/ignored.txt"] = "not a test";
  Commit(
      "test:\n  command: sh {file} {file}\n  files: tests/*_test.sh\n  workers: 3\n"
      "run:\n  command: x\n",
      files);
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  RunRecord r = AllRuns()[0];
  ASSERT_EQ(r.status, "succeeded") << r.error;
  auto tests = *pipeline_->runs().Tests(r.id);
  ASSERT_EQ(tests.size(), 7u);
  std::set<int> workers;
  for (const auto& t : tests) {
    EXPECT_TRUE(t.passed) << t.file;
    workers.insert(t.worker);
  }
  EXPECT_EQ(workers.size(), 3u);
  auto logs = *pipeline_->runs().Logs(r.id, "test");
  std::set<std::string> ports, tmps;
  bool quoted = false;
  for (const auto& l : logs) {
    auto p = l.text.find("port=");
    if (p != std::string::npos) {
      ports.insert(l.text.substr(p, l.text.find(' ', p) - p));
      auto t = l.text.find("tmp=");
      tmps.insert(l.text.substr(t, l.text.find(' ', t) - t));
      auto f = l.text.find("file=");
      EXPECT_EQ(l.text.substr(1, l.text.find(']') - 1), l.text.substr(f + 5));
    }
    if (l.text.find("quoted file ran: tests/it's odd_test.sh") != std::string::npos) quoted = true;
  }
  EXPECT_EQ(ports.size(), 3u);
  EXPECT_EQ(tmps.size(), 3u);
  EXPECT_TRUE(quoted);
  EXPECT_EQ(pipeline_->runs().TestHistory("site")->size(), 7u);
}

TEST_F(PipelineTest, FailingTestFilesAreNamedWithTheirOutput) {
  Commit(
      "test:\n  command: sh {file}\n  files: [tests/*_test.sh]\n  workers: 2\n"
      "run:\n  command: x\n",
      {{"tests/a_test.sh", "echo fine"},
       {"tests/b_test.sh", "echo 'expected 3 got 4'; exit 1"},
       {"tests/c_test.sh", "echo fine"},
       {"tests/d_test.sh", "echo 'd broke'; exit 7"}});
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  RunRecord r = AllRuns()[0];
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.stage, "test");
  EXPECT_NE(r.error.find("2 of 4 test files failed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("tests/b_test.sh (exited with status 1)"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("tests/d_test.sh (exited with status 7)"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("expected 3 got 4"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("d broke"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("a_test"), std::string::npos) << r.error;
}

TEST_F(PipelineTest, DeletedBranchIsShownAndPollingContinues) {
  Commit(kSimple);
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(git_->CreateBranch("other").ok());
  ASSERT_TRUE(git_->DeleteBranch("main").ok());
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  auto b = *pipeline_->runs().GetBranch("site", "main");
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(b->error.find("branch 'main' not found"), std::string::npos) << b->error;
  EXPECT_EQ(AllRuns().size(), 1u);
  // The branch comes back with a new commit: polling picks it up.
  ASSERT_TRUE(git_->CreateBranch("main").ok());
  ASSERT_TRUE(git_->CommitFiles({{"z", "z\n"}}, "back").ok());
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  b = *pipeline_->runs().GetBranch("site", "main");
  EXPECT_EQ(b->error, "");
  EXPECT_EQ(AllRuns().size(), 2u);
}

TEST_F(PipelineTest, UnreachableRemoteIsShownAndNothingRuns) {
  Commit(kSimple);
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_EQ(::rename(repo_.c_str(), (dir_ + "/repo-away").c_str()), 0);
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  EXPECT_NE(pipeline_->runs().RemoteError("site")->find("repo"), std::string::npos);
  EXPECT_NE(pipeline_->runs().GetBranch("site", "main")->value().error, "");
  EXPECT_EQ(AllRuns().size(), 1u);
  ASSERT_EQ(::rename((dir_ + "/repo-away").c_str(), repo_.c_str()), 0);
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  EXPECT_EQ(*pipeline_->runs().RemoteError("site"), "");
}

TEST_F(PipelineTest, DeployHookGetsTheSealedReleaseAndDecidesTheDeployStage) {
  std::string c = Commit(kSimple);
  std::vector<DeployRequest> seen;
  bool fail = false;
  MakePipeline([&](const DeployRequest& req) -> Status {
    seen.push_back(req);
    req.log("switching traffic");
    if (fail) return Status::Error("health check failed on 127.0.0.1:20001");
    return Status::Ok();
  });
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].app, "site");
  EXPECT_EQ(seen[0].environment, "staging");
  EXPECT_EQ(seen[0].commit, c);
  EXPECT_EQ(seen[0].spec.run.command, "x");
  RunRecord r = AllRuns()[0];
  EXPECT_EQ(r.status, "succeeded");
  EXPECT_EQ(r.stage, "deploy");
  EXPECT_EQ((*pipeline_->runs().Logs(r.id, "deploy"))[0].text, "[staging] switching traffic");
  // Redeploying the same commit reuses the sealed release; a failing hook fails the run.
  fail = true;
  auto id = pipeline_->RequestRun("site", c, "");
  ASSERT_TRUE(id.ok()) << id.error();
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  RunRecord r2 = Run(*id);
  EXPECT_EQ(r2.status, "failed");
  EXPECT_EQ(r2.stage, "deploy");
  EXPECT_NE(r2.error.find("health check failed"), std::string::npos);
  EXPECT_EQ(*ReadFile(seen[1].release_dir + "/built.txt"), "built\n");  // kept, sealed
}

TEST_F(PipelineTest, DeployCutShortByADaemonStopIsInterruptedAndQueuedAgain) {
  std::string c = Commit(kSimple);
  MakePipeline([&](const DeployRequest&) -> Status {
    // What the daemon's stop does while a canary step runs: the pipeline is told first,
    // then the deployer returns from its next poll.
    pipeline_->BeginStop();
    return Status::Interrupted("the daemon is stopping during the canary's step 1 of 1");
  });
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  std::vector<RunRecord> runs = AllRuns();
  ASSERT_EQ(runs.size(), 2u);  // the interrupted run and the one queued for the next start
  const RunRecord& cut = runs[1];
  EXPECT_EQ(cut.status, "interrupted");
  EXPECT_EQ(cut.stage, "deploy");
  EXPECT_NE(cut.error.find("interrupted: the daemon stopped during the deploy to staging"),
            std::string::npos)
      << cut.error;
  EXPECT_EQ(runs[0].trigger, "restart");
  EXPECT_EQ(runs[0].commit, c);
}

TEST_F(PipelineTest, VerifyRunsTheReleasesCommandWithTheCandidateVariables) {
  // The verify command checks what the deployer hands it and says so; the second commit's
  // fails with output.
  std::string yml = std::string(kSimple) +
                    "verify:\n  command: 'echo checking $GRAVITY_CANDIDATE_URL; "
                    "test \"$GRAVITY_CANDIDATE_HEADER\" = \"X-Gravity-Candidate: t0k3n\"'\n"
                    "  timeout: 10s\n";
  Commit(yml);
  std::vector<Status> verdicts;
  MakePipeline([&](const DeployRequest& req) -> Status {
    if (!req.verify) return Status::Error("no verify runner");
    Status v = req.verify({{"GRAVITY_CANDIDATE_URL", "http://127.0.0.1:1"},
                           {"GRAVITY_CANDIDATE_HEADER", "X-Gravity-Candidate: t0k3n"}});
    verdicts.push_back(v);
    if (!v.ok()) return Status::FailedPrecondition("verify failed: " + v.message());
    return Status::Ok();
  });
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_TRUE(verdicts[0].ok()) << verdicts[0].message();
  RunRecord r = AllRuns()[0];
  EXPECT_EQ(r.status, "succeeded") << r.error;
  auto logs = pipeline_->runs().Logs(r.id, "deploy");
  ASSERT_TRUE(logs.ok()) << logs.error();
  std::vector<std::string> texts;
  for (const auto& l : *logs) texts.push_back(l.text);
  bool saw = std::find(texts.begin(), texts.end(),
                       "[staging] [verify] checking http://127.0.0.1:1") != texts.end();
  EXPECT_TRUE(saw);

  Commit(std::string(kSimple) +
         "verify:\n  command: 'echo page lacks the title; exit 3'\n");
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  ASSERT_EQ(verdicts.size(), 2u);
  RunRecord r2 = AllRuns()[0];
  EXPECT_EQ(r2.status, "failed");
  EXPECT_NE(r2.error.find("verify failed: exited with status 3:\npage lacks the title"),
            std::string::npos)
      << r2.error;
}

TEST_F(PipelineTest, RequestRunResolvesTagsAndRejectsUnknownRefs) {
  std::string c1 = Commit(kSimple, {}, "one");
  Git({"tag", "v1"});
  Commit(kSimple, {{"x", "y"}}, "two");
  MakePipeline();
  auto id = pipeline_->RequestRun("site", "v1", "staging");
  ASSERT_TRUE(id.ok()) << id.error();
  RunRecord r = Run(*id);
  EXPECT_EQ(r.commit, c1);
  EXPECT_EQ(r.trigger, "manual");
  EXPECT_EQ(r.subject, "one");
  EXPECT_FALSE(pipeline_->RequestRun("site", "nope", "").ok());
  EXPECT_FALSE(pipeline_->RequestRun("site", "", "production").ok());
  EXPECT_FALSE(pipeline_->RequestRun("blog", "", "").ok());
}

TEST_F(PipelineTest, WebhookAnswers) {
  Commit(kSimple);
  std::string secret_file = dir_ + "/secret";
  ASSERT_TRUE(WriteFileAtomic(secret_file, "s3cret\n").ok());
  MakePipeline(nullptr, secret_file);
  std::string push = R"({"ref":"refs/heads/main","after":")" + std::string(40, 'a') + "\"}";
  std::string other = R"({"ref":"refs/heads/feature","after":")" + std::string(40, 'a') + "\"}";
  auto sign = [](const std::string& body) { return "sha256=" + HmacSha256Hex("s3cret", body); };
  EXPECT_EQ(pipeline_->HandleWebhook("site", "push", "", push).status, 401);
  EXPECT_EQ(pipeline_->HandleWebhook("site", "push", sign("x"), push).status, 401);
  EXPECT_EQ(pipeline_->HandleWebhook("site", "ping", sign("{}"), "{}").status, 200);
  EXPECT_EQ(pipeline_->HandleWebhook("site", "push", sign(other), other).status, 202);
  EXPECT_EQ(pipeline_->HandleWebhook("site", "push", sign("{oops"), "{oops").status, 400);
  EXPECT_EQ(pipeline_->HandleWebhook("site", "push", sign(push), push).status, 200);
  EXPECT_EQ(pipeline_->HandleWebhook("blog", "push", sign(push), push).status, 404);
  EXPECT_TRUE(AllRuns().empty());  // the webhook only triggers a fetch
}

TEST_F(PipelineTest, RestartMarksRunningRunsInterruptedAndRunsTheNewestTipAgain) {
  std::string c1 = Commit(kSimple);
  MakePipeline();
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());
  // Simulate a daemon that died mid-build: the run is running, the release half-made, and
  // its build process still alive.
  auto taken = *pipeline_->runs().TakeNext("site", 1);
  ASSERT_TRUE(taken.has_value());
  std::string rel = dir_ + "/state/releases/site/" + c1;
  ASSERT_TRUE(MakeDirs(rel).ok());
  ASSERT_TRUE(pipeline_->runs().StartStage(taken->id, "build", 2).ok());
  ASSERT_TRUE(pipeline_->runs().SetReleaseDir(taken->id, rel).ok());
  SpawnOptions so;
  so.argv = {"sleep", "300"};
  auto pid = Spawn(so);
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pipeline_->runs().AddProcess(taken->id, *pid, *ProcessStartTime(*pid)).ok());
  std::string c2 = Commit(kSimple, {{"n", "2"}});
  ASSERT_TRUE(pipeline_->PollOnce("site").ok());  // newest tip known, queued

  pipeline_.reset();
  MakePipeline();
  EXPECT_FALSE(ProcessAlive(*pid));
  RunRecord old = Run(taken->id);
  EXPECT_EQ(old.status, "interrupted");
  EXPECT_NE(old.error.find("build"), std::string::npos);
  EXPECT_NE(::access(rel.c_str(), F_OK), 0);
  auto runs = AllRuns();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].trigger, "restart");
  EXPECT_EQ(runs[0].commit, c2);
  ASSERT_TRUE(*pipeline_->RunNext("site"));
  runs = AllRuns();
  EXPECT_EQ(runs[0].status, "succeeded") << runs[0].error;
  EXPECT_EQ(runs[1].status, "superseded");
}

}  // namespace
}  // namespace gravity::pipeline
