#pragma once

#include "api/router.h"

namespace gravity::api {

// GET / and GET /dashboard: a one-page, read-only dashboard (HTML + a little JavaScript, no
// external assets) that polls /v1/status and /v1/runs every two seconds and shows what is
// live where, each instance's health, what is warm, and the latest runs with their errors.
void AddDashboardRoutes(Router& router);

}  // namespace gravity::api
