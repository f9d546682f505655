#include "api/dashboard.h"

#include <gtest/gtest.h>

namespace gravity::api {
namespace {

Request Get(const std::string& target) {
  Request r;
  r.method = "GET";
  r.target = target;
  return r;
}

TEST(Dashboard, ServesTheHtmlPageWithoutATokenAndWithAStrictPolicy) {
  Router router;
  router.SetToken("secret-token-of-sufficient-length-0123456789");
  AddDashboardRoutes(router);
  for (const char* target : {"/", "/dashboard"}) {
    Response res = router.Handle(Get(target));
    EXPECT_EQ(res.status, 200) << target;
    EXPECT_EQ(res.content_type, "text/html; charset=utf-8");
    EXPECT_NE(res.body.find("/v1/status"), std::string::npos);
    EXPECT_NE(res.body.find("/v1/runs"), std::string::npos);
    // API text goes in as text, never as markup.
    EXPECT_EQ(res.body.find("innerHTML"), std::string::npos);
    bool csp = false;
    for (const auto& [k, v] : res.headers) csp |= (k == "Content-Security-Policy");
    EXPECT_TRUE(csp);
  }
  Request post = Get("/");
  post.method = "POST";
  EXPECT_EQ(router.Handle(post).status, 405);
}

}  // namespace
}  // namespace gravity::api
