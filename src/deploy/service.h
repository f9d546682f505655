#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "config/spec.h"
#include "deploy/deployer.h"
#include "deploy/proxy_control.h"
#include "deploy/traffic_history.h"
#include "runtime/launcher.h"
#include "runtime/supervisor.h"
#include "store/db.h"

namespace gravity::deploy {

// The daemon's instances-and-deploys part, assembled: a ProcessLauncher (instances run as
// `gravity _instance` from this binary), the Supervisor (state_dir/runtime), the proxy at
// options.proxy_socket, and the Deployer over the daemon's database. The daemon
// (daemon/daemon.h) hands the pipeline's releases to deployer(); so do the API's deploy
// routes (api/deploy_routes.h).
//
// Threads: Start() runs the supervisor's tick thread, one thread that runs
// Deployer::Tick every 500 ms (and first reconciles and restores what was live), and the
// traffic history's sampler (traffic()).
// Thread-safe: handlers may be called from any thread.
class DeployService {
 public:
  struct Options {
    std::string proxy_socket;    // the proxy's control socket (daemon::StateLayout)
    std::string gravity_binary;  // default: this executable
    // How often the traffic history reads the proxy's counters (an hour of points is kept).
    std::chrono::milliseconds traffic_resolution = std::chrono::seconds(10);
  };
  DeployService(store::Db& db, const config::StackSpec& stack, Options options);
  DeployService(store::Db& db, const config::StackSpec& stack)
      : DeployService(db, stack, Options{}) {}
  ~DeployService();

  // Re-adopts instances, migrates, starts the threads (reconcile + restore run there).
  Status Start();
  // Ends the threads; with stop_instances every instance is stopped too (records are kept,
  // so the next start brings the same releases back from disk).
  void Stop(bool stop_instances);
  // A changed stack (gravity up again): environments that disappeared are torn down.
  void SetStack(const config::StackSpec& stack);


  Deployer& deployer() { return *deployer_; }
  runtime::Supervisor& supervisor() { return *supervisor_; }
  TrafficHistory& traffic() { return *traffic_; }

 private:
  void TickLoop() EXCLUDES(thread_mutex_);
  bool Stopping() EXCLUDES(thread_mutex_);

  Mutex stack_mutex_;
  config::StackSpec stack_ GUARDED_BY(stack_mutex_);
  std::unique_ptr<runtime::ProcessLauncher> launcher_;
  std::unique_ptr<runtime::Supervisor> supervisor_;
  std::unique_ptr<ProxyControl> proxy_;
  std::unique_ptr<Deployer> deployer_;
  std::unique_ptr<TrafficHistory> traffic_;  // reads proxy_

  Mutex thread_mutex_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(thread_mutex_) = false;
  std::thread thread_;
};

}  // namespace gravity::deploy
