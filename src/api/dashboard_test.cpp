#include "api/dashboard.h"

#include <gtest/gtest.h>

#include <string>

#include "api/dashboard_assets.h"

namespace gravity::api {
namespace {

Request Get(const std::string& target) {
  Request r;
  r.method = "GET";
  r.target = target;
  return r;
}

std::string HeaderOf(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

Router DashboardRouter() {
  Router router;
  router.SetToken("secret-token-of-sufficient-length-0123456789");
  router.RequireTokenForReads(true);  // the page loads even where reads need the token
  AddDashboardRoutes(router);
  return router;
}

TEST(Dashboard, ServesTheIndexWithoutATokenUnderAStrictPolicy) {
  Router router = DashboardRouter();
  for (const char* target : {"/", "/dashboard"}) {
    Response res = router.Handle(Get(target));
    EXPECT_EQ(res.status, 200) << target;
    EXPECT_EQ(res.content_type, "text/html; charset=utf-8");
    EXPECT_NE(res.body.find("/assets/app.js"), std::string::npos);
    std::string csp = HeaderOf(res, "Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos);
    EXPECT_EQ(HeaderOf(res, "X-Content-Type-Options"), "nosniff");
    // Nothing inline for the policy to allow: no <script> body, no <style>, no on*= handler.
    EXPECT_EQ(res.body.find("<style"), std::string::npos);
    EXPECT_EQ(res.body.find("<script>"), std::string::npos);
    EXPECT_EQ(res.body.find("onclick="), std::string::npos);
  }
  Request post = Get("/");
  post.method = "POST";
  EXPECT_EQ(router.Handle(post).status, 405);
}

TEST(Dashboard, ServesEachEmbeddedFileWithItsContentType) {
  Router router = DashboardRouter();
  struct Want {
    const char* file;
    const char* type;
  };
  for (const Want& w :
       {Want{"app.js", "text/javascript; charset=utf-8"},
        Want{"api.js", "text/javascript; charset=utf-8"},
        Want{"app.css", "text/css; charset=utf-8"}, Want{"icon.svg", "image/svg+xml"}}) {
    Response res = router.Handle(Get(std::string("/assets/") + w.file));
    EXPECT_EQ(res.status, 200) << w.file;
    EXPECT_EQ(res.content_type, w.type) << w.file;
    EXPECT_FALSE(res.body.empty()) << w.file;
    EXPECT_FALSE(HeaderOf(res, "ETag").empty()) << w.file;
    EXPECT_FALSE(HeaderOf(res, "Content-Security-Policy").empty()) << w.file;
  }
}

TEST(Dashboard, UnknownFilesAre404) {
  Router router = DashboardRouter();
  for (const char* target : {"/assets/nope.js", "/assets/..%2Fserver.cpp", "/assets/index.html",
                             "/assets/", "/assets/app.js/x"}) {
    EXPECT_EQ(router.Handle(Get(target)).status, 404) << target;
  }
}

TEST(Dashboard, AnswersNotModifiedForTheSameETag) {
  Router router = DashboardRouter();
  Response first = router.Handle(Get("/assets/app.js"));
  Request again = Get("/assets/app.js");
  again.headers["if-none-match"] = HeaderOf(first, "ETag");
  Response res = router.Handle(again);
  EXPECT_EQ(res.status, 304);
  EXPECT_TRUE(res.body.empty());
}

TEST(Dashboard, ScriptsNeverInsertApiTextAsMarkup) {
  int scripts = 0;
  for (const auto& a : DashboardAssets()) {
    std::string path = a.path;
    if (path.size() < 3 || path.compare(path.size() - 3, 3, ".js") != 0) continue;
    ++scripts;
    std::string body(a.bytes());
    for (const char* banned : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                               "eval(", "new Function"}) {
      EXPECT_EQ(body.find(banned), std::string::npos) << path << " uses " << banned;
    }
  }
  EXPECT_GE(scripts, 5);
}

TEST(Dashboard, ContentTypesByExtension) {
  EXPECT_EQ(DashboardContentType("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(DashboardContentType("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(DashboardContentType("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(DashboardContentType("a.svg"), "image/svg+xml");
  EXPECT_EQ(DashboardContentType("a.bin"), "application/octet-stream");
}

}  // namespace
}  // namespace gravity::api
