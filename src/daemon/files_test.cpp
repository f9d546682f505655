// The daemon's files under state_dir: layout, token, pid file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "daemon/pid_file.h"
#include "daemon/state_layout.h"
#include "daemon/token.h"

namespace gravity::daemon {
namespace {

class DaemonFilesTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("gravity-daemon-files").value(); }
  void TearDown() override { RemoveTree(dir_); }
  std::string dir_;
};

TEST(StateLayout, NamesEveryFileUnderTheStateDir) {
  StateLayout l = StateLayout::For("/srv/st");
  EXPECT_EQ(l.db, "/srv/st/state.db");
  EXPECT_EQ(l.token, "/srv/st/token");
  EXPECT_EQ(l.daemon_pid, "/srv/st/daemon.pid");
  EXPECT_EQ(l.daemon_log, "/srv/st/daemon.log");
  EXPECT_EQ(l.daemon_out, "/srv/st/daemon.out");
  EXPECT_EQ(l.proxy_socket, "/srv/st/proxy.sock");
  EXPECT_EQ(l.proxy_state, "/srv/st/proxy");
  EXPECT_EQ(l.proxy_pid, "/srv/st/proxy.pid");
  EXPECT_EQ(l.applied, "/srv/st/stack.applied");
}

TEST(Token, TrimsLineEndsAndSpaces) {
  EXPECT_EQ(TrimToken("abc\r\n"), "abc");
  EXPECT_EQ(TrimToken("abc \n\n"), "abc");
  EXPECT_EQ(TrimToken(""), "");
}

TEST_F(DaemonFilesTest, TokenIsMadeOnceAndKept) {
  std::string path = dir_ + "/token";
  EXPECT_EQ(ReadToken(path), "");
  auto first = LoadOrMakeToken(path);
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ(first->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(*LoadOrMakeToken(path), *first);
  EXPECT_EQ(ReadToken(path), *first);
  // Too short to be one: replaced.
  ASSERT_TRUE(WriteFileAtomic(path, "short\n").ok());
  EXPECT_NE(*LoadOrMakeToken(path), "short");
}

TEST_F(DaemonFilesTest, PidFileRoundTripsAndNamesALiveHolder) {
  std::string path = dir_ + "/x.pid";
  EXPECT_FALSE(ReadPidFile(path).ok());
  ASSERT_TRUE(WriteFileAtomic(path, "garbage\n").ok());
  EXPECT_TRUE(ReadPidFile(path).status().IsInvalidArgument());
  ASSERT_TRUE(WritePidFile(path, ::getpid()).ok());
  auto rec = ReadPidFile(path);
  ASSERT_TRUE(rec.ok()) << rec.error();
  EXPECT_EQ(rec->pid, ::getpid());
  EXPECT_TRUE(PidRecordAlive(*rec));
  // Same pid, other start time: a reused pid, not the recorded process.
  EXPECT_FALSE(PidRecordAlive(PidRecord{rec->pid, rec->start_time + 1}));
  // This process may take its own file again; a live other holder is a Conflict.
  EXPECT_TRUE(TakePidFile(path, "gravity daemon", dir_).ok());
  ASSERT_TRUE(WritePidFile(path, ::getppid()).ok());
  Status taken = TakePidFile(path, "gravity daemon", dir_);
  EXPECT_TRUE(taken.IsConflict()) << taken.message();
  EXPECT_NE(taken.message().find("another gravity daemon (pid "), std::string::npos);
}

}  // namespace
}  // namespace gravity::daemon
