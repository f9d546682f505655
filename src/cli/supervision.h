#pragma once

// The CLI's side of supervision: what `gravity supervise` runs for a stack, and how
// `up`, `down`, `status` and `proxy restart` find and talk to a running supervisor.
#include <signal.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/stack.h"
#include "config/spec.h"
#include "supervise/status_file.h"
#include "supervise/supervisor.h"

namespace gravity::cli {

// Signals a running supervisor understands (besides SIGTERM: stop supervising).
constexpr int kRestartProxySignal = SIGUSR1;
constexpr int kRestartDaemonSignal = SIGHUP;

// The proxy and the daemon of `stack`, as the supervisor starts them.
supervise::SupervisorOptions SupervisorFor(const config::StackSpec& stack,
                                           const StackPaths& paths);

// The running supervisor's pid, if one holds supervisor.pid.
std::optional<pid_t> RunningSupervisor(const StackPaths& paths);

// Lines for `gravity status`: the supervisor and each supervised process with pid, uptime,
// restarts and the last exit. Empty when nothing was ever supervised here.
std::string DescribeSupervision(const StackPaths& paths);
// The same as JSON ({"supervisor": {...}, "processes": {...}}), null when none.
nlohmann::json SupervisionJson(const StackPaths& paths);

}  // namespace gravity::cli
