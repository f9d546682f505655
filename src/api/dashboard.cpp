#include "api/dashboard.h"

#include <string_view>

#include "api/dashboard_assets.h"

namespace gravity::api {

const char* const kDashboardPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

std::string DashboardContentType(const std::string& path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() &&
           path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

namespace {

const EmbeddedAsset* Find(const std::string& path) {
  for (const auto& a : DashboardAssets()) {
    if (path == a.path) return &a;
  }
  return nullptr;
}

Response Serve(const Request& req, const std::string& path) {
  const EmbeddedAsset* asset = Find(path);
  if (!asset) return Response::Error(404, "no dashboard file '" + path + "'");
  Response r;
  std::string etag = std::string("\"") + asset->etag + "\"";
  r.headers = {{"Content-Security-Policy", kDashboardPolicy},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"},
               {"X-Frame-Options", "DENY"},
               // Revalidated every time (cheap: the ETag), so an upgraded daemon's page is
               // never mixed with an old one's scripts.
               {"Cache-Control", "no-cache"},
               {"ETag", etag}};
  r.content_type = DashboardContentType(path);
  if (req.Header("if-none-match") == etag) {
    r.status = 304;
    return r;
  }
  r.body = std::string(asset->bytes());
  return r;
}

}  // namespace

void AddDashboardRoutes(Router& router) {
  auto index = [](const Request& req) { return Serve(req, "index.html"); };
  // The page and its files hold no data (they ask the API, with the token when the API
  // needs one).
  router.Add("GET", "/", index, Auth::kNone);
  router.Add("GET", "/dashboard", index, Auth::kNone);
  router.Add(
      "GET", "/assets/:file",
      [](const Request& req) {
        std::string file = req.Param("file");
        if (file == "index.html") return Response::Error(404, "no dashboard file 'index.html'");
        return Serve(req, file);
      },
      Auth::kNone);
}

}  // namespace gravity::api
