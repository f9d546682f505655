#include "config/values.h"

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

TEST(ListenAddress, RefusesPortZeroAndHostsThatAreNotNames) {
  // stack.yml's listeners are fixed addresses other processes connect to: port 0 (any free
  // port) has no use there.
  auto zero = ParseListenAddress("127.0.0.1:0");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error(),
            "invalid listen address '127.0.0.1:0': port must be between 1 and 65535 (write e.g. "
            "127.0.0.1:8080 or [::1]:8080)");
  for (const char* bad : {"[::1]", "[1.2.3.4]:80", "a..b:80", "-a:80", "a_b:80", "256.0.0.1:80",
                          "127.0.0.1:080000", "127.0.0.1: 80", "[::1]:", "localhost:+80"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseListenAddress("my-host.local:8080").ok());
}

TEST(RouteHost, AcceptsStarWildcardAndNames) {
  for (const char* good : {"*", "*.example.com", "www.example.com", "localhost", "a-1.b"}) {
    EXPECT_EQ(CheckRouteHost(good), "") << good;
  }
  EXPECT_EQ(CheckRouteHost("a:80"), "a host is a name without a port");
  for (const char* bad :
       {"", "*.", "**.a", "a.*", "a..b", "a.", "-a", "a-", "a b", "a_b", "\x01"}) {
    EXPECT_NE(CheckRouteHost(bad), "") << bad;
  }
  EXPECT_NE(CheckRouteHost(std::string(64, 'a') + ".com"), "");
  EXPECT_EQ(CheckRouteHost(std::string(63, 'a') + ".com"), "");
}

TEST(Branch, FollowsGitsRefRules) {
  for (const char* good : {"main", "release/1.2", "feature-x", "a.b"}) {
    EXPECT_EQ(CheckBranch(good), "") << good;
  }
  for (const char* bad : {"-x", "/x", "x/", "x.", "x.lock", "a..b", "a//b", "a@{1}", "@", "a b",
                          "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b"}) {
    EXPECT_NE(CheckBranch(bad), "") << bad;
  }
  EXPECT_EQ(CheckBranch(""), "must not be empty");
}

TEST(Names, AppsEnvironmentsAndVariables) {
  EXPECT_TRUE(ValidName("site"));
  EXPECT_TRUE(ValidName("0-a_b"));
  EXPECT_FALSE(ValidName(""));
  EXPECT_FALSE(ValidName("Site"));
  EXPECT_FALSE(ValidName("-a"));
  EXPECT_FALSE(ValidName("_a"));
  EXPECT_FALSE(ValidName("a.b"));
  EXPECT_TRUE(ValidName(std::string(63, 'a')));
  EXPECT_FALSE(ValidName(std::string(64, 'a')));
  EXPECT_TRUE(ValidEnvVarName("_A1"));
  EXPECT_FALSE(ValidEnvVarName("1A"));
  EXPECT_FALSE(ValidEnvVarName("A-B"));
  EXPECT_FALSE(ValidEnvVarName("A=B"));
  EXPECT_FALSE(ValidEnvVarName(""));
}

TEST(Rate, PercentOrFraction) {
  EXPECT_DOUBLE_EQ(ParseRate("1%").value(), 0.01);
  EXPECT_DOUBLE_EQ(ParseRate("0.5").value(), 0.5);
  EXPECT_DOUBLE_EQ(ParseRate("100%").value(), 1.0);
  for (const char* bad :
       {"", "%", "1%%", "-1%", "101%", "1.5", "lots", "1 %", "nan", "nan%", "inf", "-inf"}) {
    EXPECT_FALSE(ParseRate(bad).ok()) << bad;
  }
}

TEST(Repo, UrlsStayAsWrittenPathsResolve) {
  EXPECT_TRUE(IsRemoteUrl("https://example.com/a.git"));
  EXPECT_TRUE(IsRemoteUrl("git@github.com:org/a.git"));
  EXPECT_FALSE(IsRemoteUrl("./a.git"));
  EXPECT_FALSE(IsRemoteUrl("dir/user@host:x"));
  EXPECT_EQ(Resolve("/srv/stack", "../repos/a.git/"), "/srv/repos/a.git");
  EXPECT_EQ(Resolve("/srv/stack", "/abs"), "/abs");
}

}  // namespace
}  // namespace gravity::config
