#include "cli/deploy_routes.h"

#include <signal.h>
#include <unistd.h>

namespace gravity::cli {

namespace {

api::Response FromPair(const std::pair<int, nlohmann::json>& r) {
  return api::Response::Json(r.first, r.second);
}

}  // namespace

void AddDeployRoutes(api::Router& router, deploy::DeployService& service,
                     std::atomic<bool>* stop_instances) {
  deploy::DeployService* s = &service;
  router.Add("GET", "/v1/status", [s](const api::Request&) { return FromPair(s->HandleStatus()); });
  router.Add("GET", "/v1/apps/:app/releases", [s](const api::Request& req) {
    return FromPair(s->HandleReleases(req.Param("app")));
  });
  router.Add("POST", "/v1/apps/:app/rollback", [s](const api::Request& req) {
    return FromPair(s->HandleRollback(req.Param("app"), req.body));
  });
  router.Add("POST", "/v1/apps/:app/promote", [s](const api::Request& req) {
    return FromPair(s->HandlePromote(req.Param("app"), req.body));
  });
  router.Add("POST", "/v1/shutdown", [stop_instances](const api::Request& req) {
    auto j = nlohmann::json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
    bool stop = j.is_object() && j.contains("stop_instances") && j["stop_instances"].is_boolean() &&
                j["stop_instances"].get<bool>();
    stop_instances->store(stop);
    ::kill(::getpid(), SIGTERM);  // the daemon's sigwait picks it up and stops in order
    return api::Response::Json(202, {{"ok", true}, {"stop_instances", stop}});
  });
}

}  // namespace gravity::cli
