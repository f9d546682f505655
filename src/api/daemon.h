#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/router.h"
#include "api/server.h"
#include "common/status.h"
#include "config/spec.h"
#include "pipeline/pipeline.h"
#include "store/db.h"

namespace gravity::api {

// The control-plane process: state in SQLite under state_dir (state.db), pid file
// (daemon.pid), bearer token (token, mode 0600), the pipeline, and the HTTP API on
// admin.listen.
//
// Lifecycle: Init() -> [extensions add routes / set the deploy hook] -> Start() -> Stop().
// router(), db(), pipeline() may be used by extensions between Init() and Start(); the
// Router must not change after Start(). Thread-safe after Start(): handlers run on
// connection threads and only use thread-safe objects (Db, Pipeline).
class Daemon {
 public:
  explicit Daemon(config::StackSpec stack);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Creates state_dir, takes the pid file (refuses when another live daemon holds it),
  // opens the database, makes the token, initializes the pipeline (including recovery of
  // runs a killed daemon left) and registers the pipeline's API routes.
  Status Init();
  // Starts the pipeline threads and the API server.
  Status Start();
  void Stop();

  Router& router() { return router_; }
  store::Db& db() { return *db_; }
  pipeline::Pipeline& pipeline() { return *pipeline_; }
  const config::StackSpec& stack() const { return stack_; }
  // The deploy stage of every run (see pipeline::DeployHook); call before Start().
  void SetDeployHook(pipeline::DeployHook hook) { pipeline_->SetDeployHook(std::move(hook)); }
  std::uint16_t port() const { return server_ ? server_->port() : 0; }
  const std::string& token() const { return token_; }

  static std::string TokenPath(const std::string& state_dir) { return state_dir + "/token"; }
  static std::string PidPath(const std::string& state_dir) { return state_dir + "/daemon.pid"; }
  static std::string LogPath(const std::string& state_dir) { return state_dir + "/daemon.log"; }
  static std::string DbPath(const std::string& state_dir) { return state_dir + "/state.db"; }

 private:
  void AddPipelineRoutes();

  const config::StackSpec stack_;
  std::unique_ptr<store::Db> db_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::string token_;
  bool owns_pid_file_ = false;
};

// JSON forms shared by the API and the CLI.
nlohmann::json RunToJson(const pipeline::RunRecord& run);

}  // namespace gravity::api
