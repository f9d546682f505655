#pragma once

#include <atomic>

#include "api/router.h"
#include "deploy/service.h"

namespace gravity::cli {

// Adds the deploy component's routes to the daemon's API:
//   GET  /v1/status                 apps, environments, live/warm releases, instances+health
//   GET  /v1/apps/:app/releases     releases (on disk, live/warm where) and deployments
//   POST /v1/apps/:app/rollback     {"env":"E","to":"COMMIT"} (both optional)
//   POST /v1/apps/:app/promote      {"to":"ENV"}
//   POST /v1/shutdown               {"stop_instances":bool}: the daemon exits (SIGTERM to
//                                   itself); with stop_instances it stops every instance
//                                   first (`gravity down`). Sets *stop_instances.
void AddDeployRoutes(api::Router& router, deploy::DeployService& service,
                     std::atomic<bool>* stop_instances);

}  // namespace gravity::cli
