#pragma once

#include <functional>

#include "api/router.h"
#include "deploy/deployer.h"

namespace gravity::api {

// Adds the deploy component's routes to the daemon's API:
//   GET  /v1/status                 apps, environments, live/warm releases, instances+health
//   GET  /v1/apps/:app/releases     releases (on disk, live/warm where) and deployments
//   POST /v1/apps/:app/rollback     {"env":"E","to":"COMMIT"} (both optional)
//   POST /v1/apps/:app/promote      {"to":"ENV"}
//   POST /v1/shutdown               {"stop_instances":bool}: answers 202, then calls
//                                   `shutdown(stop_instances)` (the daemon stops in order;
//                                   with stop_instances every instance is stopped first).
// A deployer error is 404 when what it names does not exist (Status::IsNotFound), 422
// otherwise; a malformed body is 400.
void AddDeployRoutes(Router& router, deploy::Deployer& deployer,
                     std::function<void(bool stop_instances)> shutdown);

// The HTTP status for a deployer error (see AddDeployRoutes).
int DeployErrorStatus(const Status& status);

}  // namespace gravity::api
