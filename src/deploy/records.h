#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/db.h"

namespace gravity::deploy {

// What is live and warm on one environment. Instance ids are the supervisor's.
struct EnvironmentRecord {
  std::string app;
  std::string environment;
  std::string live_commit;  // empty: nothing live yet
  std::vector<std::string> live_instances;
  std::int64_t live_deployment = 0;
  std::string warm_commit;  // previous live release, out of traffic; empty: none
  std::vector<std::string> warm_instances;
  std::int64_t warm_until_ms = 0;  // wall time (ms since epoch) after which warm ones stop
};

// One deploy, rollback or promotion of a release onto an environment.
struct DeploymentRecord {
  std::int64_t id = 0;
  std::string app;
  std::string environment;
  std::string commit;
  std::string kind;    // deploy | rollback | promote | restore | scale
  std::string status;  // running | succeeded | failed | interrupted
  // Where a running deployment got to: starting (instances being started), health_wait
  // (handed to the proxy), switched (traffic moved; records updated), done.
  std::string step;
  std::string error;
  std::string previous_commit;         // live before this deployment
  std::vector<std::string> instances;  // the new instances
  std::int64_t started_at_ms = 0;      // wall
  std::int64_t finished_at_ms = 0;     // wall; 0 while running
  std::int64_t switched_after_ms = 0;  // proxy's figure: hand-over to switch
  std::int64_t duration_ms = 0;        // start to switch (or failure)
  // Canary deploys only: a JSON object with the phase (gate, observing, promoting, promoted,
  // dropped), weight, window and the counts judged (see docs/deploy.md); empty otherwise.
  std::string canary;
};

// A release the deployer has used (kept on disk for rollback and promotion).
struct ReleaseRecord {
  std::string app;
  std::string commit;
  std::string release_dir;
  std::int64_t first_deployed_ms = 0;
  std::int64_t last_deployed_ms = 0;
  bool removed = false;  // deleted from disk by retention
};

// The deploy component's tables in the shared SQLite store (migrations under component
// "deploy"). Thread-safe as store::Db is; multi-statement updates use transactions.
class Records {
 public:
  explicit Records(store::Db& db) : db_(db) {}
  Status Migrate();

  Result<EnvironmentRecord> Environment(const std::string& app, const std::string& env);
  Result<std::vector<EnvironmentRecord>> Environments();
  Status SaveEnvironment(const EnvironmentRecord& record);

  Result<std::int64_t> InsertDeployment(const DeploymentRecord& record);
  Status UpdateDeployment(const DeploymentRecord& record);
  Result<std::optional<DeploymentRecord>> Deployment(std::int64_t id);
  Result<std::vector<DeploymentRecord>> Deployments(const std::string& app, int limit = 50);
  Result<std::vector<DeploymentRecord>> RunningDeployments();

  Status TouchRelease(const std::string& app, const std::string& commit,
                      const std::string& release_dir, std::int64_t now_ms);
  Result<std::optional<ReleaseRecord>> Release(const std::string& app, const std::string& commit);
  // Newest first (by last deploy).
  Result<std::vector<ReleaseRecord>> Releases(const std::string& app);
  Status MarkReleaseRemoved(const std::string& app, const std::string& commit);

  store::Db& db() { return db_; }

 private:
  store::Db& db_;
};

}  // namespace gravity::deploy
