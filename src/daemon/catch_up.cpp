// Runs for environments added to a running stack. Environments that have something
// live, or that a run already names (running, failed or done), are left alone, and a
// branch the watcher has not fetched yet is left to the watcher.
#include <spdlog/spdlog.h>

#include "daemon/daemon.h"

namespace gravity::daemon {

namespace {

bool RunNames(const pipeline::RunRecord& run, const std::string& env) {
  return ("," + run.environments + ",").find("," + env + ",") != std::string::npos;
}

}  // namespace

void CatchUpNewEnvironments(pipeline::Pipeline& pipeline, deploy::Deployer& deployer,
                            const config::StackSpec& stack) {
  for (const auto& app : stack.apps) {
    auto runs = pipeline.runs().ListRuns(app.name, 1000);
    if (!runs.ok()) continue;
    for (const auto& env : app.environments) {
      if (env.branch.empty()) continue;
      auto rec = deployer.records().Environment(app.name, env.name);
      if (rec.ok() && !rec->live_commit.empty()) continue;
      auto branch = pipeline.runs().GetBranch(app.name, env.branch);
      if (!branch.ok() || !branch->has_value()) continue;
      bool named = false;
      for (const auto& run : *runs) named |= RunNames(run, env.name);
      if (named) continue;
      auto id = pipeline.RequestRun(app.name, env.branch, env.name);
      if (id.ok()) {
        spdlog::info("{}/{}: new environment: run {} queued for the tip of {}", app.name,
                     env.name, *id, env.branch);
      } else {
        spdlog::warn("{}/{}: new environment: cannot queue a run: {}", app.name, env.name,
                     id.error());
      }
    }
  }
}

}  // namespace gravity::daemon
