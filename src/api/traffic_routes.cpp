#include "api/traffic_routes.h"

#include <nlohmann/json.hpp>

namespace gravity::api {

namespace {

using json = nlohmann::json;

json PointJson(const deploy::TrafficPoint& p) {
  return {{"t", p.t_ms},
          {"seconds", p.seconds},
          {"requests", p.requests},
          {"requests_per_s", p.RequestsPerSecond()},
          {"errors_5xx", p.errors_5xx},
          {"errors_4xx", p.errors_4xx},
          {"error_rate", p.ErrorRate()},
          {"p50_ms", p.p50_ms},
          {"p99_ms", p.p99_ms}};
}

Response Traffic(deploy::TrafficHistory& history, const Request& req) {
  for (const auto& [name, value] : req.query) {
    if (name != "app" && name != "env") {
      return Response::Error(400, "traffic: unknown parameter '" + name + "' (app, env)");
    }
  }
  auto app = req.query.find("app");
  auto env = req.query.find("env");
  if (app == req.query.end() || app->second.empty()) {
    return Response::Error(400, "traffic: app is required (?app=A&env=E)");
  }
  if (env == req.query.end() || env->second.empty()) {
    return Response::Error(400, "traffic: env is required (?app=A&env=E)");
  }
  auto series = history.Series(app->second, env->second);
  if (!series.ok()) return Response::Error(series.status().IsNotFound() ? 404 : 500, series.error());
  json pools = json::array();
  for (const auto& s : *series) {
    json points = json::array();
    for (const auto& p : s.points) points.push_back(PointJson(p));
    pools.push_back({{"pool", s.pool}, {"points", std::move(points)}});
  }
  return Response::Json(200, {{"app", app->second},
                              {"env", env->second},
                              {"resolution_ms", history.resolution().count()},
                              {"capacity", history.capacity()},
                              {"pools", std::move(pools)}});
}

}  // namespace

void AddTrafficRoutes(Router& router, deploy::TrafficHistory& history) {
  router.Add("GET", "/v1/traffic",
             [&history](const Request& req) { return Traffic(history, req); });
}

}  // namespace gravity::api
