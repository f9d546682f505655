#pragma once

#include <atomic>
#include <functional>

#include "cli/daemon_client.h"
#include "config/spec.h"

namespace gravity::cli {

// Prints pipeline runs, their stages and deploys as they happen (polling the daemon's
// API) until `stop` becomes true.
// `daemon_alive` is polled too: when the daemon dies, following ends with a message.
void FollowProgress(DaemonClient& client, const config::StackSpec& stack,
                    const std::atomic<bool>& stop, const std::function<bool()>& daemon_alive);

// Prints progress until every environment that follows a branch has finished its first
// deploy (a live release, or its run failed). Exit status: 0 when all are live.
// When the daemon dies meanwhile, returns 1 at once.
int WaitForFirstDeploys(DaemonClient& client, const config::StackSpec& stack,
                        const std::function<bool()>& daemon_alive);

}  // namespace gravity::cli
