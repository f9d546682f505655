#include "pipeline/mirror.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "common/fs.h"
#include "support/git_repo.h"

namespace gravity::pipeline {
namespace {

class MirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("gravity-mirror");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    src_ = dir_ + "/src";
    auto repo = test::GitRepo::Init(src_, "main");
    ASSERT_TRUE(repo.ok()) << repo.error();
    repo_ = std::make_unique<test::GitRepo>(std::move(*repo));
    ASSERT_TRUE(repo_->WriteFile("file.txt", "v1\n").ok());
    ASSERT_TRUE(repo_->WriteFile("sub/run.sh", "#!/bin/sh\n", 0755).ok());
    ASSERT_TRUE(repo_->WriteFile("sub/deep/x", "x\n").ok());
    ASSERT_EQ(::symlink("file.txt", (src_ + "/link").c_str()), 0);
    ASSERT_TRUE(repo_->Commit("first").ok());
  }
  void TearDown() override { RemoveTree(dir_); }
  std::string Head(const std::string& ref = "HEAD") {
    auto id = repo_->RevParse(ref);
    EXPECT_TRUE(id.ok()) << id.error();
    return id.ok() ? *id : "";
  }
  // Runs git in the source repository; fails the test when it fails.
  void Git(const std::vector<std::string>& args) {
    auto r = repo_->Git(args);
    EXPECT_TRUE(r.ok()) << r.error();
  }

  std::string dir_, src_;
  std::unique_ptr<test::GitRepo> repo_;
};

TEST_F(MirrorTest, FetchesBranchTipsFromALocalPathAndFileUrl) {
  for (std::string url : {src_, "file://" + src_}) {
    auto m = Mirror::Open(dir_ + "/mirror-" + std::to_string(url.size()) + ".git", url);
    ASSERT_TRUE(m.ok()) << m.error();
    auto tips = (*m)->FetchBranches({"main"});
    ASSERT_TRUE(tips.ok()) << tips.error();
    EXPECT_EQ((*tips)["main"].commit, Head());
    EXPECT_EQ((*tips)["main"].error, "");
    EXPECT_EQ((*m)->Subject(Head()), "first");
  }
}

TEST_F(MirrorTest, NewCommitsAndForcePushesGiveNewTips) {
  auto m = Mirror::Open(dir_ + "/m.git", src_);
  ASSERT_TRUE(m.ok());
  auto first = (*m)->FetchBranches({"main"});
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(repo_->CommitFiles({{"file.txt", "v2\n"}}, "second").ok());
  std::string second = Head();
  auto t2 = (*m)->FetchBranches({"main"});
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ((*t2)["main"].commit, second);
  // Rewrite history: the mirror follows (force).
  Git({"reset", "-q", "--hard", "HEAD~1"});
  ASSERT_TRUE(repo_->CommitFiles({{"file.txt", "v3\n"}}, "rewritten").ok());
  std::string rewritten = Head();
  ASSERT_NE(rewritten, second);
  auto t3 = (*m)->FetchBranches({"main"});
  ASSERT_TRUE(t3.ok()) << t3.error();
  EXPECT_EQ((*t3)["main"].commit, rewritten);
}

TEST_F(MirrorTest, MissingBranchIsReportedPerBranch) {
  auto m = Mirror::Open(dir_ + "/m.git", src_);
  ASSERT_TRUE(m.ok());
  auto tips = (*m)->FetchBranches({"main", "staging"});
  ASSERT_TRUE(tips.ok()) << tips.error();
  EXPECT_EQ((*tips)["main"].commit, Head());
  EXPECT_EQ((*tips)["staging"].commit, "");
  EXPECT_NE((*tips)["staging"].error.find("branch 'staging' not found"), std::string::npos);
}

TEST_F(MirrorTest, UnreachableRemoteIsAnErrorNamingIt) {
  auto m = Mirror::Open(dir_ + "/m.git", dir_ + "/does-not-exist");
  ASSERT_TRUE(m.ok());
  auto tips = (*m)->FetchBranches({"main"});
  ASSERT_FALSE(tips.ok());
  EXPECT_NE(tips.error().find("does-not-exist"), std::string::npos) << tips.error();
  auto https = Mirror::Open(dir_ + "/h.git", "https://127.0.0.1:1/nothing.git");
  ASSERT_TRUE(https.ok());
  auto t2 = (*https)->FetchBranches({"main"});
  ASSERT_FALSE(t2.ok());
  EXPECT_NE(t2.error().find("127.0.0.1:1"), std::string::npos) << t2.error();
}

TEST_F(MirrorTest, ExportWritesTheTreeWithoutGitKeepingModesAndLinks) {
  auto m = Mirror::Open(dir_ + "/m.git", src_);
  ASSERT_TRUE(m.ok());
  auto tips = (*m)->FetchBranches({"main"});
  ASSERT_TRUE(tips.ok());
  std::string out = dir_ + "/release";
  ASSERT_TRUE((*m)->Export((*tips)["main"].commit, out).ok());
  EXPECT_EQ(*ReadFile(out + "/file.txt"), "v1\n");
  EXPECT_EQ(*ReadFile(out + "/sub/deep/x"), "x\n");
  struct stat st;
  ASSERT_EQ(::stat((out + "/sub/run.sh").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR);
  ASSERT_EQ(::lstat((out + "/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_NE(::access((out + "/.git").c_str(), F_OK), 0);
  // The destination must be new.
  EXPECT_FALSE((*m)->Export((*tips)["main"].commit, out).ok());
}

TEST_F(MirrorTest, FetchAndResolveFindsTagsBranchesAndShortIds) {
  Git({"tag", "v1"});
  ASSERT_TRUE(repo_->CreateBranch("feature").ok());
  ASSERT_TRUE(repo_->CommitFiles({{"f", "f\n"}}, "feature").ok());
  ASSERT_TRUE(repo_->Checkout("main").ok());
  auto m = Mirror::Open(dir_ + "/m.git", src_);
  ASSERT_TRUE(m.ok());
  auto tag = (*m)->FetchAndResolve("v1");
  ASSERT_TRUE(tag.ok()) << tag.error();
  EXPECT_EQ(*tag, Head("main"));
  auto feature = (*m)->Resolve("feature");
  ASSERT_TRUE(feature.ok());
  EXPECT_EQ(*feature, Head("feature"));
  auto shortid = (*m)->Resolve(Head("feature").substr(0, 10));
  ASSERT_TRUE(shortid.ok()) << shortid.error();
  EXPECT_EQ(*shortid, Head("feature"));
  auto bad = (*m)->Resolve("nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("'nope'"), std::string::npos);
}

}  // namespace
}  // namespace gravity::pipeline
