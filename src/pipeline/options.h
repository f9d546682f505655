#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "config/spec.h"
#include "pipeline/command.h"

namespace gravity::pipeline {

// What the deploy hook gets once a run's release passed build and test and was sealed.
struct DeployRequest {
  std::int64_t run_id = 0;
  std::string app;
  std::string environment;
  std::string commit;
  std::string release_dir;  // read-only
  config::AppSpec spec;     // the release's gravity.yml
  bool resumed = false;     // the run re-queued after a daemon restart interrupted one
  // Appends one line to the run's `deploy` stage log (thread-safe).
  std::function<void(const std::string&)> log;
  // Runs the release's verify command (spec.verify) sandboxed like its tests, with these
  // variables added to its environment; Ok when it exited 0. Set by the pipeline.
  std::function<Status(const std::map<std::string, std::string>& candidate_env)> verify;
};

// Called once per environment the run deploys to; its Status decides the deploy stage.
// Runs on the app's runner thread (one run per app at a time).
using DeployHook = std::function<Status(const DeployRequest&)>;

struct PipelineOptions {
  std::string state_dir;   // mirrors in repos/, releases in releases/, scratch in tmp/
  Clock* clock = nullptr;  // default: the real clock
  DeployHook deploy_hook;  // empty: runs end after the release is sealed
  // Also gets every line stored in a run's log (stage: checkout, build, test, seal,
  // deploy), from the run's threads: must be thread-safe. The daemon feeds its log store.
  std::function<void(const std::string& app, const std::string& commit, const std::string& stage,
                     const std::vector<LogLine>& lines)>
      output_sink;
  int test_port_base = 41000;  // GRAVITY_PORT_BASE = base + 1000*app index + 100*worker
  std::size_t log_head_bytes = 512 * 1024;  // per build, and per test file / 4
  std::size_t log_tail_bytes = 512 * 1024;
  int keep_logs_of_runs = 200;  // per app: older runs' logs are deleted (runs stay)
  bool start_threads = true;    // false: tests drive PollOnce/RunNext themselves
  // The gravity executable whose `_sandbox` runs each build and test command in the
  // sandbox under the app's build_limits. Empty: commands run plainly (unit tests only).
  std::string gravity_binary;
};

}  // namespace gravity::pipeline
