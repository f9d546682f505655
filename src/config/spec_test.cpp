#include "config/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gravity::config {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;

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

}  // namespace
}  // namespace gravity::config
