#include "api/deploy_routes.h"

#include <nlohmann/json.hpp>

#include <cstdlib>

namespace gravity::api {

namespace {

using json = nlohmann::json;

json OutcomeJson(const deploy::DeployOutcome& o) {
  return json{{"ok", true},
              {"deployment", o.deployment_id},
              {"commit", o.commit},
              {"reused_warm", o.reused_warm},
              {"duration_ms", o.duration_ms},
              {"switched_after_ms", o.switched_after_ms},
              {"instances", o.instances}};
}

Response FromOutcome(const Result<deploy::DeployOutcome>& out) {
  if (!out.ok()) return Response::Error(DeployErrorStatus(out.status()), out.error());
  return Response::Json(200, OutcomeJson(*out));
}

std::string StringField(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

Response Rollback(deploy::Deployer& deployer, const Request& req) {
  json j = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (!j.is_object()) return Response::Error(400, "rollback: the body must be a JSON object");
  return FromOutcome(deployer.Rollback(req.Param("app"), StringField(j, "env"),
                                       StringField(j, "to")));
}

Response Promote(deploy::Deployer& deployer, const Request& req) {
  json j = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (!j.is_object() || !j.contains("to") || !j["to"].is_string()) {
    return Response::Error(400, "promote: the body must be {\"to\": \"ENV\"}");
  }
  return FromOutcome(deployer.Promote(req.Param("app"), j["to"].get<std::string>()));
}

}  // namespace

int DeployErrorStatus(const Status& status) { return status.IsNotFound() ? 404 : 422; }

void AddDeployRoutes(Router& router, deploy::Deployer& deployer,
                     std::function<void(bool stop_instances)> shutdown) {
  deploy::Deployer* d = &deployer;
  router.Add("GET", "/v1/status",
             [d](const Request&) { return Response::Json(200, d->StatusJson()); });
  router.Add("GET", "/v1/apps/:app/releases", [d](const Request& req) {
    auto r = d->ReleasesJson(req.Param("app"));
    if (!r.ok()) return Response::Error(404, r.error());
    return Response::Json(200, *r);
  });
  router.Add("GET", "/v1/deployments/:id", [d](const Request& req) {
    const std::string id = req.Param("id");
    char* end = nullptr;
    long long n = std::strtoll(id.c_str(), &end, 10);
    if (id.empty() || end != id.c_str() + id.size() || n <= 0) {
      return Response::Error(400, "deployment id '" + id + "' is not a positive number");
    }
    auto view = d->DeploymentView(n);
    if (!view.ok()) return Response::Error(500, view.error());
    if (!*view) return Response::Error(404, "no deployment " + id);
    return Response::Json(200, **view);
  });
  router.Add("POST", "/v1/apps/:app/rollback",
             [d](const Request& req) { return Rollback(*d, req); });
  router.Add("POST", "/v1/apps/:app/promote",
             [d](const Request& req) { return Promote(*d, req); });
  router.Add("POST", "/v1/shutdown", [shutdown = std::move(shutdown)](const Request& req) {
    auto j = json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
    bool stop = j.is_object() && j.contains("stop_instances") && j["stop_instances"].is_boolean() &&
                j["stop_instances"].get<bool>();
    shutdown(stop);
    return Response::Json(202, {{"ok", true}, {"stop_instances", stop}});
  });
}

}  // namespace gravity::api
