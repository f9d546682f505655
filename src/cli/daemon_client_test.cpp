#include "cli/daemon_client.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/fs.h"

namespace gravity::cli {
namespace {

class DaemonClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-daemon-client").value();
    ::unsetenv("GRAVITY_TOKEN");
  }
  void TearDown() override {
    ::unsetenv("GRAVITY_TOKEN");
    RemoveTree(dir_);
  }
  std::string WriteStack() {
    std::string file = dir_ + "/stack.yml";
    EXPECT_TRUE(WriteFileAtomic(file,
                                "state_dir: st\nadmin: { listen: 127.0.0.1:7171 }\n"
                                "apps:\n  site:\n    repo: ./site.git\n    environments:\n"
                                "      staging: { branch: staging }\n")
                    .ok());
    EXPECT_TRUE(MakeDirs(dir_ + "/st").ok());
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/st/token", "from-the-file\n").ok());
    return file;
  }
  std::string dir_;
};

TEST_F(DaemonClientTest, WithoutAStackFileAdminIsNeeded) {
  auto c = DaemonClient::Connect(dir_ + "/missing.yml", "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("give -f FILE or --admin HOST:PORT"), std::string::npos);
  auto admin = DaemonClient::Connect(dir_ + "/missing.yml", "127.0.0.1:9999");
  ASSERT_TRUE(admin.ok()) << admin.error();
  EXPECT_EQ(admin->address(), "127.0.0.1:9999");
}

TEST_F(DaemonClientTest, TheStackGivesAddressAndAdminOverridesIt) {
  std::string file = WriteStack();
  auto c = DaemonClient::Connect(file, "");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->address(), "127.0.0.1:7171");
  auto over = DaemonClient::Connect(file, "127.0.0.1:8181");
  ASSERT_TRUE(over.ok()) << over.error();
  EXPECT_EQ(over->address(), "127.0.0.1:8181");
}

TEST_F(DaemonClientTest, ABrokenStackFileIsAnErrorUnlessAdminIsGiven) {
  std::string file = dir_ + "/bad.yml";
  ASSERT_TRUE(WriteFileAtomic(file, "apps: [\n").ok());
  EXPECT_FALSE(DaemonClient::Connect(file, "").ok());
  EXPECT_TRUE(DaemonClient::Connect(file, "127.0.0.1:1").ok());
}

TEST_F(DaemonClientTest, NoDaemonListeningIsAnError) {
  DaemonClient c("127.0.0.1:1");
  EXPECT_FALSE(c.Request("GET", "/v1/health", "", std::chrono::milliseconds(500)).ok());
  EXPECT_FALSE(c.Get("/v1/health").ok());
}

TEST(UrlEncode, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(UrlEncode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(UrlEncode("a b/c"), "a%20b%2Fc");
}

}  // namespace
}  // namespace gravity::cli
