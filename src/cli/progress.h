#pragma once

#include <atomic>

#include "cli/api_client.h"
#include "config/spec.h"

namespace gravity::cli {

// Prints pipeline runs, their stages and deploys as they happen (polling the daemon's
// API) until `stop` becomes true.
void FollowProgress(ApiClient& client, const config::StackSpec& stack,
                    const std::atomic<bool>& stop);

// Prints progress until every environment that follows a branch has finished its first
// deploy (a live release, or its run failed). Exit status: 0 when all are live.
int WaitForFirstDeploys(ApiClient& client, const config::StackSpec& stack);

}  // namespace gravity::cli
