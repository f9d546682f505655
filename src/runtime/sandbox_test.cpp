#include "runtime/sandbox.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

namespace gravity::runtime {
namespace {

bool Has(const std::vector<std::string>& argv, std::vector<std::string> seq) {
  return std::search(argv.begin(), argv.end(), seq.begin(), seq.end()) != argv.end();
}

TEST(SandboxOptions, FlagsRoundTrip) {
  SandboxOptions o;
  o.uid = 1900000123;
  o.limits = ResourceLimits{256LL << 20, 1.5, 64, 1024, 16LL << 20};
  o.cgroup = "gravity-0000abcd/site-prod-1";
  o.cwd = "/s/releases/site/c";
  o.read_only = {"/s/releases/site/c"};
  o.writable = {"/s/tmp/w0"};
  o.hidden = {"/s"};
  o.hostname = "site-prod";
  std::vector<std::string> args = o.ToArgs();
  std::vector<char*> argv = {const_cast<char*>("_instance")};
  for (auto& a : args) argv.push_back(a.data());
  SandboxOptions back;
  for (int i = 1; i < static_cast<int>(argv.size()); ++i) {
    std::string error;
    ASSERT_TRUE(back.ParseFlag(static_cast<int>(argv.size()), argv.data(), i, error)) << argv[i];
    ASSERT_EQ(error, "");
  }
  EXPECT_EQ(back.uid, o.uid);
  EXPECT_EQ(back.limits, o.limits);
  EXPECT_EQ(back.cgroup, o.cgroup);
  EXPECT_EQ(back.cwd, o.cwd);
  EXPECT_EQ(back.read_only, o.read_only);
  EXPECT_EQ(back.writable, o.writable);
  EXPECT_EQ(back.hidden, o.hidden);
  EXPECT_EQ(back.hostname, o.hostname);
  EXPECT_EQ(back.mode, SandboxMode::kStrict);
}

TEST(SandboxArgv, HidesTheStateDirBeforeBindingTheReleaseReadOnly) {
  SandboxOptions o;
  o.uid = 1900000123;
  o.cwd = "/s/releases/site/c";
  o.read_only = {"/s/releases/site/c"};
  o.hidden = {"/s"};
  auto argv = SandboxArgv(o, "/opt/gravity/bin/gravity", 3, {"/bin/sh", "-c", "true"});
  EXPECT_EQ(argv.front(), "bwrap");
  EXPECT_TRUE(Has(argv, {"--ro-bind", "/usr", "/usr"}));
  EXPECT_TRUE(Has(argv, {"--ro-bind", "/opt/gravity/bin", "/opt/gravity/bin"}));
  auto hide = std::find(argv.begin(), argv.end(), "/s");
  auto bind = std::find(argv.begin(), argv.end(), "/s/releases/site/c");
  EXPECT_LT(hide, bind);
  EXPECT_TRUE(Has(argv, {"--ro-bind", "/s/releases/site/c", "/s/releases/site/c"}));
  EXPECT_TRUE(Has(argv, {"--unshare-pid", "--unshare-ipc", "--unshare-uts"}));
  EXPECT_TRUE(Has(argv, {"--seccomp", "3"}));
  std::vector<std::string> tail = {"--"};
  for (auto& w : DropArgv(1900000123, "/opt/gravity/bin/gravity")) tail.push_back(w);
  tail.insert(tail.end(), {"/bin/sh", "-c", "true"});
  EXPECT_TRUE(Has(argv, tail));
  EXPECT_FALSE(Has(argv, {"--unshare-net"}));  // it listens on $PORT on the host
}

TEST(DropArgv, SetprivWhenInstalledElseGravityDrop) {
  auto words = DropArgv(1900000123, "/opt/gravity/bin/gravity");
  if (::access(kSetpriv, X_OK) == 0) {
    EXPECT_EQ(words, (std::vector<std::string>{kSetpriv, "--reuid=1900000123",
                                               "--regid=1900000123", "--clear-groups",
                                               "--inh-caps=-all", "--ambient-caps=-all",
                                               "--bounding-set=-all", "--no-new-privs", "--"}));
  } else {
    EXPECT_EQ(words, (std::vector<std::string>{"/opt/gravity/bin/gravity", "_drop",
                                               "1900000123", "--"}));
  }
}

TEST(SandboxUid, IsUnprivilegedAndStablePerApp) {
  EXPECT_EQ(SandboxUid("site"), SandboxUid("site"));
  EXPECT_NE(SandboxUid("site"), SandboxUid("api"));
  EXPECT_GE(SandboxUid("site"), 1900000000u);
}

TEST(SeccompFilter, BuildsIntoAnFd) {
  auto fd = SeccompFilterFd();
  ASSERT_TRUE(fd.ok()) << fd.error();
  EXPECT_GE(*fd, 0);
  ::close(*fd);
}

}  // namespace
}  // namespace gravity::runtime
