// The sample app in examples/: its files parse, its tests guard the text, and
// `gravity static` serves what its health check expects.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"
#include "config/config.h"
#include "support/support.h"

namespace gravity::test {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

const std::string kExamples = std::string(GRAVITY_SOURCE_DIR) + "/examples";

// A copy of examples/automation in a temp dir (tests may modify it).
std::string CopyApp(const TempDir& dir) {
  std::string to = dir.Join("automation");
  std::filesystem::copy(kExamples + "/automation", to, std::filesystem::copy_options::recursive);
  return to;
}

TEST(Example, StackAndAppSpecAreValid) {
  auto stack = config::LoadStackSpec(kExamples + "/stack.yml");
  ASSERT_TRUE(stack.ok()) << stack.error();
  ASSERT_EQ(stack->apps.size(), 1u);
  EXPECT_EQ(stack->apps[0].repo, kExamples + "/automation.git");
  const config::EnvironmentSpec* staging = stack->apps[0].FindEnvironment("staging");
  ASSERT_NE(staging, nullptr);
  EXPECT_EQ(staging->branch, "staging");

  auto app = config::LoadAppSpec(kExamples + "/automation/gravity.yml", "gravity.yml");
  ASSERT_TRUE(app.ok()) << app.error();
  EXPECT_EQ(app->run.command, "gravity static public --port $PORT");
  EXPECT_EQ(app->health.body_contains, "Automation for the people");
  ASSERT_TRUE(app->test.has_value());
}

TEST(Example, TestsPassAndFailWhenTheTextIsGone) {
  TempDir dir("example");
  std::string app = CopyApp(dir);
  auto ok = RunCommand({"sh", "tests/text_test.sh"}, app);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->exit_code, 0) << ok->err;
  auto page = ReadFile(app + "/public/index.html");
  ASSERT_TRUE(page.ok());
  std::string changed = *page;
  changed.replace(changed.find("Automation for the people"), 25, "Something else entirely!");
  ASSERT_TRUE(WriteFileAtomic(app + "/public/index.html", changed).ok());
  auto bad = RunCommand({"sh", "tests/text_test.sh"}, app);
  ASSERT_TRUE(bad.ok());
  EXPECT_NE(bad->exit_code, 0);
  EXPECT_THAT(bad->err, HasSubstr("Automation for the people"));
}

TEST(Example, RunCommandServesWhatTheHealthCheckExpects) {
  TempDir dir("example");
  std::string app = CopyApp(dir);
  auto spec = config::LoadAppSpec(app + "/gravity.yml");
  ASSERT_TRUE(spec.ok()) << spec.error();
  int port = FreePort();
  // The run command as an instance runs it: /bin/sh -c in the release dir, gravity on PATH.
  std::string bin_dir = std::filesystem::path(GRAVITY_BIN).parent_path().string();
  auto p = Subprocess::Start(
      {{"/bin/sh", "-c", spec->run.command},
       {{"PORT", std::to_string(port)}, {"PATH", bin_dir + ":" + std::string(getenv("PATH"))}},
       app});
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE(WaitFor([&] { return PortOpen(port); }, seconds(30))) << (*p)->Output();
  auto r = HttpGet(port, spec->health.path);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, spec->health.status);
  EXPECT_THAT(r->body, HasSubstr(spec->health.body_contains));
  auto css = HttpGet(port, "/style.css");
  ASSERT_TRUE(css.ok());
  EXPECT_EQ(css->status, 200);
}

}  // namespace
}  // namespace gravity::test
