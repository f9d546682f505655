#include "common/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"

namespace gravity {
namespace {

TEST(Process, SpawnRunsWithEnvAndCwdAndCapturesOutput) {
  auto dir = MakeTempDir("gravity-proc-test");
  ASSERT_TRUE(dir.ok());
  std::string out = *dir + "/out";
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo \"$GREETING $(pwd)\"; echo err >&2"};
  o.cwd = *dir;
  o.env = {{"GREETING", "hi"}};
  o.stdout_fd = fd;
  o.stderr_fd = fd;
  auto pid = Spawn(o);
  ::close(fd);
  ASSERT_TRUE(pid.ok()) << pid.error();
  int st = 0;
  ASSERT_EQ(::waitpid(*pid, &st, 0), *pid);
  EXPECT_EQ(DescribeWaitStatus(st), "exited with status 0");
  EXPECT_EQ(ReadFile(out).value(), "hi " + *dir + "\nerr\n");
  RemoveTree(*dir);
}

TEST(Process, SpawnOfMissingProgramIsAnError) {
  SpawnOptions o;
  o.argv = {"/nonexistent/program"};
  auto pid = Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.error().find("/nonexistent/program"), std::string::npos);
}

TEST(Process, StopProcessGroupKillsGrandchildrenThatIgnoreTerm) {
  auto dir = MakeTempDir("gravity-proc-test");
  ASSERT_TRUE(dir.ok());
  std::string ready = *dir + "/ready";
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "trap '' TERM; sleep 30 & touch " + ready + "; sleep 30; wait"};
  auto pid = Spawn(o);
  ASSERT_TRUE(pid.ok());
  // Wait (bounded) until the shell has set its trap and started its children.
  for (int i = 0; i < 500 && ::access(ready.c_str(), F_OK) != 0; ++i) ::usleep(10000);
  ASSERT_EQ(::access(ready.c_str(), F_OK), 0);
  auto start = ProcessStartTime(*pid);
  ASSERT_TRUE(start.ok()) << start.error();
  EXPECT_TRUE(ProcessAlive(*pid));
  StopProcessGroup(*pid, std::chrono::milliseconds(200));
  EXPECT_FALSE(GroupAlive(*pid));
  RemoveTree(*dir);
}

TEST(Process, FindOnPathTakesTheFirstExecutableInPathOrder) {
  auto dir = MakeTempDir("gravity-path-test");
  ASSERT_TRUE(dir.ok()) << dir.error();
  const std::string a = *dir + "/a", b = *dir + "/b";
  ASSERT_TRUE(MakeDirs(a).ok() && MakeDirs(b).ok());
  ASSERT_TRUE(WriteFileAtomic(a + "/tool", "#!/bin/sh\n", 0644).ok());  // not executable
  ASSERT_TRUE(WriteFileAtomic(b + "/tool", "#!/bin/sh\n", 0755).ok());
  EXPECT_EQ(FindOnPath("tool", a + ":" + b), b + "/tool");
  EXPECT_EQ(FindOnPath("tool", "::" + b + ":"), b + "/tool");  // empty fields are skipped
  EXPECT_EQ(FindOnPath("tool", a), std::nullopt);
  EXPECT_EQ(FindOnPath("missing", a + ":" + b), std::nullopt);
  EXPECT_EQ(FindOnPath("tool", ""), std::nullopt);
  EXPECT_TRUE(RemoveTree(*dir).ok());
}

TEST(Process, ShellQuoteSurvivesTheShell) {
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

}  // namespace
}  // namespace gravity
