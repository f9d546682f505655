#include "proxy/router.h"

#include <gtest/gtest.h>

namespace gravity::proxy {
namespace {

Router Build(const std::vector<RouteKey>& keys) {
  auto r = Router::Build(keys);
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? std::move(r).value() : Router();
}

TEST(Router, ExactHostBeatsWildcardBeatsDefault) {
  Router r = Build({{"default", {"*"}, "/"},
                    {"wild", {"*.example.com"}, "/"},
                    {"exact", {"www.example.com"}, "/"}});
  EXPECT_EQ(r.Match("www.example.com", "/"), 2);
  EXPECT_EQ(r.Match("WWW.Example.COM:8080", "/x"), 2);
  EXPECT_EQ(r.Match("api.example.com", "/"), 1);
  EXPECT_EQ(r.Match("a.b.example.com", "/"), 1);
  EXPECT_EQ(r.Match("example.com", "/"), 0);  // a wildcard needs a subdomain
  EXPECT_EQ(r.Match("other.org", "/"), 0);
  EXPECT_EQ(r.Match("", "/"), 0);
}

TEST(Router, LongestPathPrefixWinsOnSegmentBoundaries) {
  Router r = Build({{"root", {"*"}, "/"}, {"api", {"*"}, "/api"}, {"v2", {"*"}, "/api/v2/"}});
  EXPECT_EQ(r.Match("h", "/"), 0);
  EXPECT_EQ(r.Match("h", "/api"), 1);
  EXPECT_EQ(r.Match("h", "/api/users?x=1"), 1);
  EXPECT_EQ(r.Match("h", "/apix"), 0);
  EXPECT_EQ(r.Match("h", "/api/v2/things"), 2);
  EXPECT_EQ(r.Match("h", "/api/v2"), 2);
  EXPECT_EQ(r.Match("h", "/api?q=/api/v2/"), 1);
}

TEST(Router, FallsBackToLessSpecificHostWhenNoPrefixMatches) {
  Router r = Build({{"site", {"*"}, "/"}, {"api", {"www.localhost"}, "/api"}});
  EXPECT_EQ(r.Match("www.localhost", "/api/x"), 1);
  EXPECT_EQ(r.Match("www.localhost", "/index.html"), 0);
}

TEST(Router, NoMatchIsMinusOne) {
  Router r = Build({{"api", {"www.localhost"}, "/api"}});
  EXPECT_EQ(r.Match("www.localhost", "/"), -1);
  EXPECT_EQ(r.Match("other", "/api"), -1);
  Router empty = Build({});
  EXPECT_EQ(empty.Match("x", "/"), -1);
}

TEST(Router, SameHostAndPrefixIsAConflictNamingBoth) {
  auto r =
      Router::Build({{"a", {"www.localhost", "x.org"}, "/api"}, {"b", {"www.localhost"}, "/api/"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("'a'"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("'b'"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("www.localhost"), std::string::npos) << r.error();
  EXPECT_FALSE(Router::Build({{"a", {"*"}, "/"}, {"b", {"*"}, "/"}}).ok());
  EXPECT_TRUE(Router::Build({{"a", {"*"}, "/"}, {"b", {"*"}, "/b"}}).ok());
}

TEST(Router, AbsoluteFormTargetsRouteOnTheirPath) {
  Router r = Build({{"root", {"*"}, "/"}, {"api", {"*"}, "/api"}});
  EXPECT_EQ(r.Match("h", "http://h/api/x"), 1);
  EXPECT_EQ(r.Match("h", "*"), 0);
}

}  // namespace
}  // namespace gravity::proxy
