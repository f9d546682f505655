#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "common/fs.h"
#include "common/log.h"
#include "config/config.h"
#include "daemon/daemon.h"

namespace gravity::cli {

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
  if (log_file.empty()) log_file = daemon::StateLayout::For(stack->state_dir).daemon_log;
  SetupLogging(level, log_file == "-" ? "" : log_file);

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  daemon::Daemon process(*stack);
  Status st = process.Init();
  if (st.ok()) st = process.Start();
  if (!st.ok()) {
    spdlog::error("{}", st.message());
    std::fprintf(stderr, "gravity daemon: %s\n", st.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "gravity daemon: API on %s:%u, state in %s, log %s\n",
               stack->admin_listen.host.c_str(), process.port(), stack->state_dir.c_str(),
               log_file.c_str());
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("gravity daemon: signal {}, stopping", sig);
  process.Stop();
  spdlog::info("gravity daemon: stopped{}", process.stopped_instances() ? " with its instances" : "");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace gravity::cli
