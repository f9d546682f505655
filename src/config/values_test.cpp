#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace gravity::config {
namespace {

TEST(ListenAddress, Parses) {
  auto a = ParseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseListenAddress("[::]:1");
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b->host, "::");
  EXPECT_EQ(b->ToString(), "[::]:1");
  auto c = ParseListenAddress("localhost:65535");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 65535);
  for (const char* bad : {"", ":80", "host:", "[::1]80", "[::1:80", "[zz]:80", "a b:80", "1.2.3:80",
                          "h:-1", "h:80x"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace gravity::config
