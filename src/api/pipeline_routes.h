#pragma once

#include <nlohmann/json.hpp>

#include "api/router.h"
#include "pipeline/pipeline.h"

namespace gravity::api {

// Adds the pipeline's routes to the daemon's API:
//   GET  /v1/health                 {"ok":true,"pid":N}
//   GET  /v1/apps                   apps, their branches (tips seen) and environments
//   GET  /v1/runs?app=A&limit=N     pipeline runs, newest first
//   GET  /v1/runs/:id               one run with its stages and tests
//   GET  /v1/runs/:id/logs?stage=S  its log lines
//   GET  /v1/runs/:id/stream        its output as server-sent events while it runs
//   POST /v1/apps/:app/deploy       {"ref":..,"env":..}: queue a run now
//   POST /v1/apps/:app/fetch        fetch the app's repository now
//   POST /v1/apps/:app/environments/:env/pause    pause its automatic deploys (persisted)
//   POST /v1/apps/:app/environments/:env/resume   resume them (and catch up: {"run":N})
//   POST /hooks/:app                GitHub push webhooks (authenticated by their HMAC)
// `pipeline` must outlive the router.
void AddPipelineRoutes(Router& router, pipeline::Pipeline& pipeline);

// Only the webhook routes, for the listener the proxy exposes (stack.yml `webhooks:`):
//   POST /hooks/:app   as above
//   GET  /hooks        {"ok":true} (the proxy's health check)
void AddWebhookRoutes(Router& router, pipeline::Pipeline& pipeline);

// JSON forms shared by the API and the CLI.
nlohmann::json RunToJson(const pipeline::RunRecord& run);

}  // namespace gravity::api
