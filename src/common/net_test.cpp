#include "common/net.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace gravity {
namespace {

TEST(Net, LoopbackPortOpenSeesAListenerAndNothingOnceItIsGone) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);
  EXPECT_TRUE(LoopbackPortOpen(port));
  ::close(fd);
  EXPECT_FALSE(LoopbackPortOpen(port));
  EXPECT_FALSE(LoopbackPortOpen(0));
  EXPECT_FALSE(LoopbackPortOpen(70000));
}

TEST(Net, LoopbackHostsAreOnlyThoseNoOtherMachineCanReach) {
  for (const char* h : {"127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"0.0.0.0", "::", "[::]", "", "10.0.0.1", "128.0.0.1", "::ffff:127.0.0.1",
                        "localhost.example", "127.0.0.1.example", "[::1", "1.127.0.0"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

}  // namespace
}  // namespace gravity
