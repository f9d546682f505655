#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
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

// What a deployment does. Stored and shown as its Name() ("deploy", "rollback", ...).
enum class DeploymentKind { kDeploy, kRollback, kPromote, kRestore, kScale };
// How it ended (or that it is still running).
enum class DeploymentStatus { kRunning, kSucceeded, kFailed, kInterrupted };
// Where a running deployment got to: starting (instances being started), health_wait
// (handed to the proxy), canary_gate / canary / promoting (canary strategy), switched
// (traffic moved; records updated), done.
enum class DeploymentStep {
  kStarting,
  kHealthWait,
  kVerify,  // the verify command runs against the new instances (in the canary slot)
  kCanaryGate,
  kCanary,
  kPromoting,
  kSwitched,
  kDone
};
// The phases of a canary: its health gate, the observation window, the promotion, and
// the two ends.
enum class CanaryPhase { kGate, kObserving, kPromoting, kPromoted, kDropped };

std::string_view Name(DeploymentKind kind);
std::string_view Name(DeploymentStatus status);
std::string_view Name(DeploymentStep step);
std::string_view Name(CanaryPhase phase);

// A canary deployment's progress and the counts it was judged on (docs/deploy.md).
// One step of a canary as it ran: its share and window, and the judge's analysis at its
// end (deploy/canary_analysis.h AnalysisJson; null until judged).
struct CanaryStepRecord {
  int weight = 0;
  std::int64_t duration_ms = 0;
  std::int64_t started_at_ms = 0;  // wall
  std::int64_t ended_at_ms = 0;    // wall; 0 while it runs
  int extensions = 0;              // times the window was extended (marginal, no traffic)
  std::string decision;            // pass | marginal | fail | inconclusive; empty while it runs
  nlohmann::json analysis;
};

struct CanaryRecord {
  CanaryPhase phase = CanaryPhase::kGate;
  std::vector<CanaryStepRecord> steps;  // the steps begun so far
  int weight = 0;
  std::int64_t duration_ms = 0;
  double max_error_rate = 0;
  int min_requests = 0;
  std::uint64_t requests = 0;
  std::uint64_t errors_5xx = 0;
  double error_rate = 0;
  std::uint64_t main_requests = 0;
  std::uint64_t main_errors_5xx = 0;
  std::int64_t started_at_ms = 0;  // wall; 0 until the observation starts
  std::int64_t ends_at_ms = 0;     // wall; 0 until the observation starts
  std::string verdict;             // why it was promoted or dropped; empty until then
  // canary.baseline: the baseline pool's instances (of baseline_commit, the live release).
  std::string baseline_commit;
  std::vector<std::string> baseline_instances;
};

// The JSON form of a canary record, as stored and as the API shows it (started_at_ms,
// ends_at_ms and verdict only once set); and back (missing fields keep their defaults).
nlohmann::json CanaryJson(const CanaryRecord& canary);
CanaryRecord CanaryFromJson(const nlohmann::json& j);

// The watch after a deployment went live (environment `watch:`): the new live release
// judged against the previous one, which stays warm until the watch ends.
struct WatchRecord {
  std::string phase = "watching";  // watching | passed | rolled_back | ended
  std::int64_t started_at_ms = 0;  // wall
  std::int64_t ends_at_ms = 0;     // wall
  std::string verdict;             // why it passed or rolled back
  nlohmann::json previous;         // the previous release's window: requests, 5xx, latency
  nlohmann::json analysis;         // the last analysis (AnalysisJson), or null
};
nlohmann::json WatchJson(const WatchRecord& w);
struct DeploymentRecord;
// A deployment as the API shows it.
nlohmann::json DeploymentJson(const DeploymentRecord& d);
WatchRecord WatchFromJson(const nlohmann::json& j);

// One deploy, rollback or promotion of a release onto an environment.
struct DeploymentRecord {
  std::int64_t id = 0;
  std::string app;
  std::string environment;
  std::string commit;
  DeploymentKind kind = DeploymentKind::kDeploy;
  DeploymentStatus status = DeploymentStatus::kRunning;
  DeploymentStep step = DeploymentStep::kStarting;
  std::string error;
  std::string previous_commit;         // live before this deployment
  std::vector<std::string> instances;  // the new instances
  std::int64_t started_at_ms = 0;      // wall
  std::int64_t finished_at_ms = 0;     // wall; 0 while running
  std::int64_t switched_after_ms = 0;  // proxy's figure: hand-over to switch
  std::int64_t duration_ms = 0;        // start to switch (or failure)
  std::optional<CanaryRecord> canary;  // canary deploys only
  std::optional<WatchRecord> watch;    // when the environment has watch: and it switched
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
  Status RemoveEnvironment(const std::string& app, const std::string& env);

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
