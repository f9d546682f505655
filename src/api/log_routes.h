#pragma once

#include "api/router.h"
#include "common/clock.h"
#include "logs/store.h"

namespace gravity::api {

// GET /v1/logs?app=A&... — lines of the stack's log store as JSON (docs/api.md);
// GET /v1/logs/stream?app=A&... — the same, then new lines as they arrive (server-sent
// events, one `data:` JSON line per log line, `id:` = the line's id). `store` and `clock`
// outlive the router.
void AddLogRoutes(Router& router, logs::LogStore& store, Clock& clock);

}  // namespace gravity::api
