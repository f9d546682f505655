#pragma once

#include <string>

#include "api/router.h"

namespace gravity::api {

// The dashboard (docs/dashboard.md): a page of plain HTML, CSS and JavaScript modules
// compiled into the binary (src/api/dashboard/, embedded by cmake/embed_assets.cmake),
// which asks the JSON API for everything it shows.
//   GET /, GET /dashboard    index.html
//   GET /assets/<file>       the other files (app.js, app.css, ...); unknown: 404
// Served without the token (they hold no data) under a strict Content-Security-Policy:
// scripts, styles and connections from this origin only, nothing inline.
void AddDashboardRoutes(Router& router);

// The Content-Security-Policy every dashboard answer carries.
extern const char* const kDashboardPolicy;

// The Content-Type for a dashboard file, from its extension.
std::string DashboardContentType(const std::string& path);

}  // namespace gravity::api
