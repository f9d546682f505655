#include "pipeline/run_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/fs.h"

namespace gravity::pipeline {
namespace {

class RunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("gravity-runstore");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    auto db = store::Db::Open(dir_ + "/state.db");
    ASSERT_TRUE(db.ok()) << db.error();
    db_ = std::move(*db);
    store_ = std::make_unique<RunStore>(*db_);
    ASSERT_TRUE(store_->Migrate().ok());
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
    RemoveTree(dir_);
  }
  std::int64_t Queue(const std::string& app, const std::string& commit, const std::string& envs) {
    RunRecord r;
    r.app = app;
    r.commit = commit;
    r.environments = envs;
    r.trigger = "poll";
    auto id = store_->CreateRun(r);
    EXPECT_TRUE(id.ok());
    return *id;
  }
  std::string dir_;
  std::unique_ptr<store::Db> db_;
  std::unique_ptr<RunStore> store_;
};

TEST_F(RunStoreTest, NewerQueuedRunsSupersedeOlderOnesOfTheSameEnvironments) {
  auto a1 = Queue("site", "a1", "staging");
  auto p1 = Queue("site", "p1", "production");
  auto a2 = Queue("site", "a2", "staging");
  auto a3 = Queue("site", "a3", "staging");
  auto other = Queue("blog", "b1", "staging");
  auto next = store_->TakeNext("site", 100);
  ASSERT_TRUE(next.ok()) << next.error();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->id, p1);  // oldest survivor
  EXPECT_EQ((*next)->status, "running");
  for (auto id : {a1, a2}) {
    auto r = store_->GetRun(id);
    EXPECT_EQ((*r)->status, "superseded");
    EXPECT_EQ((*r)->error, "superseded by run " + std::to_string(a3));
  }
  auto then = store_->TakeNext("site", 200);
  ASSERT_TRUE(then.ok() && then->has_value());
  EXPECT_EQ((*then)->id, a3);
  auto none = store_->TakeNext("site", 300);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ((*store_->GetRun(other))->status, "queued");
}

TEST_F(RunStoreTest, StagesLogsTestsAndHistory) {
  auto id = Queue("site", "c", "staging");
  ASSERT_TRUE(store_->StartStage(id, "checkout", 1).ok());
  ASSERT_TRUE(store_->FinishStage(id, "checkout", "succeeded", "", 2).ok());
  ASSERT_TRUE(store_->StartStage(id, "build", 3).ok());
  ASSERT_TRUE(store_->AppendLogs(id, "build", {{10, "compiling"}, {11, "done"}}).ok());
  ASSERT_TRUE(store_->FinishStage(id, "build", "failed", "exited with status 2", 4).ok());
  auto stages = store_->Stages(id);
  ASSERT_TRUE(stages.ok());
  ASSERT_EQ(stages->size(), 2u);
  EXPECT_EQ((*stages)[0].name, "checkout");
  EXPECT_EQ((*stages)[1].status, "failed");
  EXPECT_EQ((*store_->GetRun(id))->stage, "build");
  auto logs = store_->Logs(id, "");
  ASSERT_EQ(logs->size(), 2u);
  EXPECT_EQ((*logs)[1].text, "done");
  EXPECT_TRUE(store_->Logs(id, "test")->empty());

  ASSERT_TRUE(store_->RecordTest(id, "site", {"t/a", 0, true, 500, ""}).ok());
  auto id2 = Queue("site", "d", "staging");
  ASSERT_TRUE(store_->RecordTest(id2, "site", {"t/a", 1, true, 700, ""}).ok());
  ASSERT_TRUE(store_->RecordTest(id2, "site", {"t/b", 1, false, 90, "exited with status 1"}).ok());
  auto h = store_->TestHistory("site");
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_DOUBLE_EQ((*h)["t/a"], 700);
  EXPECT_DOUBLE_EQ((*h)["t/b"], 90);
  EXPECT_TRUE(store_->TestHistory("blog")->empty());
}

TEST_F(RunStoreTest, LogsAfterReadsOnFromACursorAndTestsKeepTheirStart) {
  auto id = Queue("site", "a", "staging");
  auto other = Queue("site", "b", "staging");
  ASSERT_TRUE(store_->AppendLogs(id, "build", {{1, "one"}, {2, "two"}}).ok());
  ASSERT_TRUE(store_->AppendLogs(other, "build", {{1, "elsewhere"}}).ok());
  ASSERT_TRUE(store_->AppendLogs(id, "test", {{3, "three"}}).ok());
  auto first = store_->LogsAfter(id, 0, 2);
  ASSERT_TRUE(first.ok()) << first.error();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].text, "one");
  EXPECT_LT((*first)[0].seq, (*first)[1].seq);
  auto rest = store_->LogsAfter(id, first->back().seq, 100);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].text, "three");
  EXPECT_EQ((*rest)[0].stage, "test");
  EXPECT_TRUE(store_->LogsAfter(id, (*rest)[0].seq, 100)->empty());

  RunRecord author_run;
  author_run.app = "site";
  author_run.commit = "f";
  author_run.author = "Ada";
  author_run.trigger = "manual";
  auto with_author = store_->CreateRun(author_run);
  ASSERT_TRUE(with_author.ok()) << with_author.error();
  EXPECT_EQ((*store_->GetRun(*with_author))->author, "Ada");

  ASSERT_TRUE(store_->RecordTest(id, "site", {"t/a", 1, true, 500, "", 12345}).ok());
  auto tests = store_->Tests(id);
  ASSERT_EQ(tests->size(), 1u);
  EXPECT_EQ((*tests)[0].started_ms, 12345);
  EXPECT_EQ((*tests)[0].worker, 1);
}

TEST_F(RunStoreTest, PruneLogsKeepsTheNewestRunsLogs) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Queue("site", fmt::format("c{}", i), "staging"));
    ASSERT_TRUE(store_->AppendLogs(ids.back(), "build", {{1, "line"}}).ok());
  }
  auto other = Queue("blog", "b", "staging");
  ASSERT_TRUE(store_->AppendLogs(other, "build", {{1, "line"}}).ok());
  ASSERT_TRUE(store_->PruneLogs("site", 2).ok());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(store_->Logs(ids[i], "")->size(), i >= 3 ? 1u : 0u) << i;
  }
  EXPECT_EQ(store_->Logs(other, "")->size(), 1u);
  EXPECT_TRUE(store_->GetRun(ids[0])->has_value());
}

TEST_F(RunStoreTest, BranchesReleasesAndRunningRuns) {
  ASSERT_TRUE(store_->SetBranch("site", {"main", "abc", "", 5}).ok());
  auto b = store_->GetBranch("site", "main");
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->commit, "abc");
  EXPECT_FALSE(store_->GetBranch("site", "x")->has_value());
  ASSERT_TRUE(store_->AddRelease("site", "abc", "/r/abc", 1, 5).ok());
  EXPECT_EQ(**store_->ReleaseDir("site", "abc"), "/r/abc");
  auto id = Queue("site", "abc", "staging");
  ASSERT_TRUE(store_->TakeNext("site", 1)->has_value());
  auto running = store_->RunningRuns();
  ASSERT_EQ(running->size(), 1u);
  EXPECT_EQ((*running)[0].id, id);
}

}  // namespace
}  // namespace gravity::pipeline
