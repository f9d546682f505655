#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "api/daemon.h"
#include "api/dashboard.h"
#include "cli/commands.h"
#include "cli/deploy_routes.h"
#include "common/fs.h"
#include "common/log.h"
#include "config/config.h"
#include "deploy/service.h"

namespace gravity::cli {

namespace {

// An environment added to a running stack follows a branch whose tip the pipeline has
// already seen, so no new tip will ever queue a run for it. Queue one now: the pipeline
// runs that tip for the new environment only. Environments that have something live, or
// that a run already names (running, failed or done), are left alone, and a branch the
// watcher has not fetched yet is left to the watcher.
void CatchUpNewEnvironments(pipeline::Pipeline& pipeline, deploy::DeployService& deploys,
                            const config::StackSpec& stack) {
  for (const auto& app : stack.apps) {
    auto runs = pipeline.runs().ListRuns(app.name, 1000);
    if (!runs.ok()) continue;
    for (const auto& env : app.environments) {
      if (env.branch.empty()) continue;
      auto rec = deploys.deployer().records().Environment(app.name, env.name);
      if (rec.ok() && !rec->live_commit.empty()) continue;
      auto branch = pipeline.runs().GetBranch(app.name, env.branch);
      if (!branch.ok() || !branch->has_value()) continue;
      bool named = false;
      for (const auto& run : *runs) {
        named |= ("," + run.environments + ",").find("," + env.name + ",") != std::string::npos;
      }
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

}  // namespace

// gravity daemon [-f stack.yml] [--log-level L] [--log-file PATH]
// Runs until SIGTERM or SIGINT. Logs go to state_dir/daemon.log unless --log-file says
// otherwise ("-" = stderr).
int DaemonCommand(int argc, char** argv) {
  CLI::App app{"gravity daemon: the control plane (pipelines, API)", "gravity daemon"};
  std::string stack_file = "stack.yml";
  std::string level = "info";
  std::string log_file;
  app.add_option("-f,--file", stack_file, "stack file")->capture_default_str();
  app.add_option("--log-level", level, "trace|debug|info|warn|error")->capture_default_str();
  app.add_option("--log-file", log_file, "log file (default state_dir/daemon.log; - = stderr)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto stack = config::LoadStackSpec(stack_file);
  if (!stack.ok()) {
    std::fprintf(stderr, "gravity daemon: %s\n", stack.error().c_str());
    return 1;
  }
  if (Status st = MakeDirs(stack->state_dir, 0700); !st.ok()) {
    std::fprintf(stderr, "gravity daemon: %s\n", st.message().c_str());
    return 1;
  }
  if (log_file.empty()) log_file = api::Daemon::LogPath(stack->state_dir);
  SetupLogging(level, log_file == "-" ? "" : log_file);

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  api::Daemon daemon(*stack);
  if (Status st = daemon.Init(); !st.ok()) {
    spdlog::error("{}", st.message());
    std::fprintf(stderr, "gravity daemon: %s\n", st.message().c_str());
    return 1;
  }
  // Extensions plug in here, between Init() and Start(): they may add API routes
  // (daemon.router()), keep tables in daemon.db() through their own migrations, and set
  // the deploy stage with daemon.SetDeployHook(...).
  // Instances and deploys: re-adopts instances, reconciles interrupted deploys, restores
  // what was live (in its own thread), and gives the pipeline its deploy stage.
  deploy::DeployService deploys(daemon.db(), *stack);
  std::atomic<bool> stop_instances{false};
  if (Status st = deploys.Start(); !st.ok()) {
    spdlog::error("{}", st.message());
    std::fprintf(stderr, "gravity daemon: %s\n", st.message().c_str());
    return 1;
  }
  daemon.SetDeployHook(
      [&deploys](const pipeline::DeployRequest& r) { return deploys.DeployHook(r); });
  AddDeployRoutes(daemon.router(), deploys, &stop_instances);
  api::AddDashboardRoutes(daemon.router());
  if (Status st = daemon.Start(); !st.ok()) {
    spdlog::error("{}", st.message());
    std::fprintf(stderr, "gravity daemon: %s\n", st.message().c_str());
    return 1;
  }
  CatchUpNewEnvironments(daemon.pipeline(), deploys, *stack);
  std::fprintf(stderr, "gravity daemon: API on %s:%u, state in %s, log %s\n",
               stack->admin_listen.host.c_str(), daemon.port(), stack->state_dir.c_str(),
               log_file.c_str());
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("gravity daemon: signal {}, stopping", sig);
  daemon.Stop();
  // Instances outlive the daemon unless `gravity down` asked for them to stop.
  deploys.Stop(stop_instances.load());
  spdlog::info("gravity daemon: stopped{}", stop_instances.load() ? " with its instances" : "");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace gravity::cli
