#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/router.h"
#include "api/server.h"
#include "certs/manager.h"
#include "common/status.h"
#include "config/spec.h"
#include "daemon/state_layout.h"
#include "deploy/service.h"
#include "logs/forward.h"
#include "logs/service.h"
#include "pipeline/pipeline.h"
#include "store/db.h"

namespace gravity::daemon {

// The control-plane process, assembled: state under state_dir (StateLayout: state.db, the
// pid file, the bearer token), the pipeline, the deploy service (instances, deploys,
// reconcile), and the HTTP API on admin.listen with the pipeline's, the deploy
// component's and the dashboard's routes.
//
// Lifecycle: Init() -> Start() -> [runs until the process is signalled] -> Stop().
// POST /v1/shutdown sends this process SIGTERM (the caller waits for it with sigwait).
// Thread-safe after Start(): handlers run on connection threads and only use thread-safe
// objects (Db, Pipeline, Deployer).
class Daemon {
 public:
  explicit Daemon(config::StackSpec stack);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Creates state_dir, takes the pid file (Conflict when another live daemon holds it),
  // opens the database, makes the token, initializes the pipeline (including recovery of
  // runs a killed daemon left), starts the deploy service (re-adopts instances; reconciles
  // and restores in its own thread) and registers the API's routes.
  Status Init();
  // Starts the pipeline threads and the API server; queues a first run for environments
  // added to a running stack.
  Status Start();
  // Stops the API and the pipeline, then the deploy service: instances keep running
  // unless POST /v1/shutdown asked for them to stop (`gravity down`).
  void Stop();

  std::uint16_t port() const { return server_ ? server_->port() : 0; }
  bool stopped_instances() const { return stop_instances_.load(); }
  const StateLayout& layout() const { return layout_; }

 private:
  // The pipeline's deploy stage: a sealed release onto one environment.
  Status Deploy(const pipeline::DeployRequest& request);
  // The steps of Init, in order.
  Status GuardAdminApi();
  Status OpenLogs();
  Status OpenPipeline();
  Status StartDeploys();
  Status AddRoutes();

  const config::StackSpec stack_;
  const StateLayout layout_;
  std::unique_ptr<store::Db> db_;
  // logs.forward: each destination's queue and thread; outlive logs_, which feeds them.
  std::vector<std::unique_ptr<logs::Forwarder>> forwarders_;
  std::unique_ptr<logs::LogService> logs_;  // the stack's log store and its ingester
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::unique_ptr<deploy::DeployService> deploys_;
  std::unique_ptr<certs::CertManager> certs_;  // with proxy.https: the tls: hosts
  api::Router router_;
  std::unique_ptr<api::HttpServer> server_;
  api::Router hook_router_;  // stack.yml `webhooks:`: only the webhook routes
  std::unique_ptr<api::HttpServer> hook_server_;
  bool owns_pid_file_ = false;
  std::atomic<bool> stop_instances_{false};  // set by POST /v1/shutdown
};

// An environment added to a running stack follows a branch whose tip the pipeline has
// already seen, so no new tip will ever queue a run for it. Queues one now (see
// catch_up.cpp for which environments qualify).
void CatchUpNewEnvironments(pipeline::Pipeline& pipeline, deploy::Deployer& deployer,
                            const config::StackSpec& stack);

}  // namespace gravity::daemon
