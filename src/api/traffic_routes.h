#pragma once

#include "api/router.h"
#include "deploy/traffic_history.h"

namespace gravity::api {

// GET /v1/traffic?app=A&env=E — the last hour of the environment's traffic per pool, from
// the daemon's traffic history (docs/api.md). `history` outlives the router.
void AddTrafficRoutes(Router& router, deploy::TrafficHistory& history);

}  // namespace gravity::api
