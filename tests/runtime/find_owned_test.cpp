// ProcessLauncher::FindOwned, which `gravity down` and a starting daemon use to stop the
// instances of a state dir, against forged command lines: anything may exec with argv
// "_instance --owner <state dir> --cgroup <whatever>". A forgery running as another user
// is not adopted at all, and a cgroup Gravity would not have named is never taken from a
// command line (stopping it would kill whatever that cgroup holds).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "runtime/cgroup.h"
#include "runtime/launcher.h"
#include "support/support.h"

namespace gravity {
namespace {

using namespace std::chrono_literals;
using namespace test;

class FindOwnedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0755);  // the forgery below runs as nobody, from here
    dir_.Write("_instance", "sleep 60\n", 0644);
    owner_ = dir_.Join("state");
  }
  // `sh _instance --owner <owner> --id <id> --cgroup <cgroup> --`: argv[1] is "_instance".
  std::unique_ptr<Subprocess> Forge(const std::string& id, const std::string& cgroup,
                                    bool as_nobody) {
    std::vector<std::string> argv;
    if (as_nobody) argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
    for (const std::string a : {"/bin/sh", "_instance", "--owner", owner_.c_str(), "--id",
                                id.c_str(), "--cgroup", cgroup.c_str(), "--"}) {
      argv.push_back(a);
    }
    auto p = Subprocess::Start({.argv = argv, .cwd = dir_.path()});
    EXPECT_TRUE(p.ok()) << p.error();
    return p.ok() ? std::move(*p) : nullptr;
  }
  std::vector<runtime::ProcessRef> Found() {
    runtime::ProcessLauncher launcher(GRAVITY_BIN, owner_);
    return launcher.FindOwned(owner_);
  }
  static bool Lists(const std::vector<runtime::ProcessRef>& refs, pid_t pid) {
    for (const auto& r : refs) {
      if (r.pid == pid) return true;
    }
    return false;
  }

  TempDir dir_{"gravity-find-owned"};
  std::string owner_;
};

TEST_F(FindOwnedTest, AForgeryAsAnotherUserIsNotAdopted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the forgery as another user";
  auto forged = Forge("site-staging-abc-1", "system.slice", /*as_nobody=*/true);
  ASSERT_TRUE(forged);
  // Wait until it runs as nobody with the forged command line (setpriv has exec'd sh).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto cmd = ReadFile("/proc/" + std::to_string(forged->pid()) + "/cmdline");
        return cmd.ok() && cmd->find("_instance") != std::string::npos &&
               cmd->find("setpriv") == std::string::npos;
      },
      10s));
  EXPECT_FALSE(Lists(Found(), forged->pid()));
}

TEST_F(FindOwnedTest, ACgroupGravityWouldNotHaveNamedIsNeverTakenFromTheCommandLine) {
  const std::string id = "site-staging-abc-1";
  const std::string good = runtime::GroupName(owner_, id);
  struct Case {
    std::string cgroup;
    bool kept;
  };
  for (const Case& c : {Case{"system.slice", false}, Case{good + "/../../system.slice", false},
                        Case{runtime::GroupName(owner_, "other-id"), false},
                        Case{"gravity-00000000/../../..", false}, Case{good, true}}) {
    auto forged = Forge(id, c.cgroup, /*as_nobody=*/false);
    ASSERT_TRUE(forged);
    std::vector<runtime::ProcessRef> refs;
    ASSERT_TRUE(WaitFor(
        [&] {
          refs = Found();
          return Lists(refs, forged->pid());
        },
        10s))
        << c.cgroup;
    for (const auto& r : refs) {
      if (r.pid != forged->pid()) continue;
      EXPECT_EQ(r.cgroup, c.kept ? c.cgroup : "") << c.cgroup;
    }
  }
}

TEST(CgroupNames, OnlyNamesGravityMakesAreAccepted) {
  EXPECT_TRUE(runtime::IsGroupName(runtime::GroupName("/srv/state", "site-prod-1")));
  EXPECT_TRUE(runtime::IsGroupName("gravity-0123abcd/command-42"));
  for (const char* bad : {"", "system.slice", "gravity-0123abcd", "gravity-0123abcd/",
                          "gravity-0123abcd/..", "gravity-0123abcd/.", "gravity-0123abc/x",
                          "gravity-0123abcz/x", "gravity-0123abcd/a/b", "gravity-0123abcd/../x",
                          "../gravity-0123abcd/x", "gravity-0123abcd/x y"}) {
    EXPECT_FALSE(runtime::IsGroupName(bad)) << bad;
  }
}

}  // namespace
}  // namespace gravity
