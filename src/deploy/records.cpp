#include "deploy/records.h"

#include <nlohmann/json.hpp>

namespace gravity::deploy {

namespace {

using json = nlohmann::json;

std::string ToJson(const std::vector<std::string>& v) { return json(v).dump(); }

std::vector<std::string> FromJson(const std::string& s) {
  json j = json::parse(s, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

template <typename E, std::size_t N>
E Parse(const std::string_view (&names)[N], const std::string& text, E fallback) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<E>(i);
  }
  return fallback;
}

constexpr std::string_view kKindNames[] = {"deploy", "rollback", "promote", "restore", "scale"};
constexpr std::string_view kStatusNames[] = {"running", "succeeded", "failed", "interrupted"};
constexpr std::string_view kStepNames[] = {"starting", "health_wait", "verify", "canary_gate", "canary",
                                           "promoting", "switched",   "done"};
constexpr std::string_view kPhaseNames[] = {"gate", "observing", "promoting", "promoted",
                                            "dropped"};

std::string CanaryText(const std::optional<CanaryRecord>& c) {
  // replace: a byte that is not UTF-8 in a reason (an app's or a server's text) must not
  // keep the record from being saved.
  return c ? CanaryJson(*c).dump(-1, ' ', false, json::error_handler_t::replace) : std::string();
}

std::optional<CanaryRecord> CanaryFromText(const std::string& text) {
  if (text.empty()) return std::nullopt;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return CanaryFromJson(j);
}

constexpr const char* kDeploymentColumns =
    "id, app, environment, commit_id, kind, status, step, error, previous_commit, instances, "
    "started_at_ms, finished_at_ms, switched_after_ms, duration_ms, canary, watch";

DeploymentRecord DeploymentFromRow(const store::Row& r) {
  DeploymentRecord d;
  d.id = r.Int(0);
  d.app = r.Text(1);
  d.environment = r.Text(2);
  d.commit = r.Text(3);
  d.kind = Parse(kKindNames, r.Text(4), DeploymentKind::kDeploy);
  d.status = Parse(kStatusNames, r.Text(5), DeploymentStatus::kFailed);
  d.step = Parse(kStepNames, r.Text(6), DeploymentStep::kDone);
  d.error = r.Text(7);
  d.previous_commit = r.Text(8);
  d.instances = FromJson(r.Text(9));
  d.started_at_ms = r.Int(10);
  d.finished_at_ms = r.Int(11);
  d.switched_after_ms = r.Int(12);
  d.duration_ms = r.Int(13);
  d.canary = CanaryFromText(r.Text(14));
  if (std::string w = r.Text(15); !w.empty()) {
    json j = json::parse(w, nullptr, false);
    if (j.is_object()) d.watch = WatchFromJson(j);
  }
  return d;
}

EnvironmentRecord EnvironmentFromRow(const store::Row& r) {
  EnvironmentRecord e;
  e.app = r.Text(0);
  e.environment = r.Text(1);
  e.live_commit = r.Text(2);
  e.live_instances = FromJson(r.Text(3));
  e.live_deployment = r.Int(4);
  e.warm_commit = r.Text(5);
  e.warm_instances = FromJson(r.Text(6));
  e.warm_until_ms = r.Int(7);
  return e;
}

ReleaseRecord ReleaseFromRow(const store::Row& r) {
  ReleaseRecord rel;
  rel.app = r.Text(0);
  rel.commit = r.Text(1);
  rel.release_dir = r.Text(2);
  rel.first_deployed_ms = r.Int(3);
  rel.last_deployed_ms = r.Int(4);
  rel.removed = r.Int(5) != 0;
  return rel;
}

}  // namespace

std::string_view Name(DeploymentKind kind) { return kKindNames[static_cast<int>(kind)]; }
std::string_view Name(DeploymentStatus status) { return kStatusNames[static_cast<int>(status)]; }
std::string_view Name(DeploymentStep step) { return kStepNames[static_cast<int>(step)]; }
std::string_view Name(CanaryPhase phase) { return kPhaseNames[static_cast<int>(phase)]; }

json CanaryJson(const CanaryRecord& c) {
  json j = {{"phase", Name(c.phase)},
            {"weight", c.weight},
            {"duration_ms", c.duration_ms},
            {"max_error_rate", c.max_error_rate},
            {"min_requests", c.min_requests},
            {"requests", c.requests},
            {"errors_5xx", c.errors_5xx},
            {"error_rate", c.error_rate},
            {"main_requests", c.main_requests},
            {"main_errors_5xx", c.main_errors_5xx}};
  if (c.started_at_ms) j["started_at_ms"] = c.started_at_ms;
  if (c.ends_at_ms) j["ends_at_ms"] = c.ends_at_ms;
  if (!c.verdict.empty()) j["verdict"] = c.verdict;
  if (!c.baseline_instances.empty()) {
    j["baseline"] = {{"commit", c.baseline_commit}, {"instances", c.baseline_instances}};
  }
  if (!c.steps.empty()) {
    json steps = json::array();
    for (const auto& st : c.steps) {
      json sj = {{"weight", st.weight},
                 {"duration_ms", st.duration_ms},
                 {"started_at_ms", st.started_at_ms},
                 {"ended_at_ms", st.ended_at_ms},
                 {"extensions", st.extensions},
                 {"decision", st.decision},
                 {"analysis", st.analysis}};
      steps.push_back(std::move(sj));
    }
    j["steps"] = std::move(steps);
  }
  return j;
}

json WatchJson(const WatchRecord& w) {
  return {{"phase", w.phase},       {"started_at_ms", w.started_at_ms},
          {"ends_at_ms", w.ends_at_ms}, {"verdict", w.verdict},
          {"previous", w.previous}, {"analysis", w.analysis}};
}

WatchRecord WatchFromJson(const json& j) {
  WatchRecord w;
  w.phase = j.value("phase", std::string("ended"));
  w.started_at_ms = j.value("started_at_ms", std::int64_t{0});
  w.ends_at_ms = j.value("ends_at_ms", std::int64_t{0});
  w.verdict = j.value("verdict", std::string());
  if (j.contains("previous")) w.previous = j["previous"];
  if (j.contains("analysis")) w.analysis = j["analysis"];
  return w;
}

CanaryRecord CanaryFromJson(const json& j) {
  CanaryRecord c;
  c.phase = Parse(kPhaseNames, j.value("phase", std::string()), CanaryPhase::kGate);
  c.weight = j.value("weight", 0);
  c.duration_ms = j.value("duration_ms", std::int64_t{0});
  c.max_error_rate = j.value("max_error_rate", 0.0);
  c.min_requests = j.value("min_requests", 0);
  c.requests = j.value("requests", std::uint64_t{0});
  c.errors_5xx = j.value("errors_5xx", std::uint64_t{0});
  c.error_rate = j.value("error_rate", 0.0);
  c.main_requests = j.value("main_requests", std::uint64_t{0});
  c.main_errors_5xx = j.value("main_errors_5xx", std::uint64_t{0});
  c.started_at_ms = j.value("started_at_ms", std::int64_t{0});
  c.ends_at_ms = j.value("ends_at_ms", std::int64_t{0});
  c.verdict = j.value("verdict", std::string());
  if (auto b = j.find("baseline"); b != j.end() && b->is_object()) {
    c.baseline_commit = b->value("commit", std::string());
    for (const auto& id : b->value("instances", json::array())) {
      if (id.is_string()) c.baseline_instances.push_back(id.get<std::string>());
    }
  }
  for (const auto& sj : j.value("steps", json::array())) {
    if (!sj.is_object()) continue;
    CanaryStepRecord st;
    st.weight = sj.value("weight", 0);
    st.duration_ms = sj.value("duration_ms", std::int64_t{0});
    st.started_at_ms = sj.value("started_at_ms", std::int64_t{0});
    st.ended_at_ms = sj.value("ended_at_ms", std::int64_t{0});
    st.extensions = sj.value("extensions", 0);
    st.decision = sj.value("decision", std::string());
    if (sj.contains("analysis")) st.analysis = sj["analysis"];
    c.steps.push_back(std::move(st));
  }
  return c;
}

Status Records::Migrate() {
  return db_.Migrate("deploy", {R"sql(
CREATE TABLE deploy_environments (
  app TEXT NOT NULL,
  environment TEXT NOT NULL,
  live_commit TEXT NOT NULL DEFAULT '',
  live_instances TEXT NOT NULL DEFAULT '[]',
  live_deployment INTEGER NOT NULL DEFAULT 0,
  warm_commit TEXT NOT NULL DEFAULT '',
  warm_instances TEXT NOT NULL DEFAULT '[]',
  warm_until_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (app, environment)
);
CREATE TABLE deploy_deployments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  app TEXT NOT NULL,
  environment TEXT NOT NULL,
  commit_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  step TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  previous_commit TEXT NOT NULL DEFAULT '',
  instances TEXT NOT NULL DEFAULT '[]',
  started_at_ms INTEGER NOT NULL,
  finished_at_ms INTEGER NOT NULL DEFAULT 0,
  switched_after_ms INTEGER NOT NULL DEFAULT 0,
  duration_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deploy_deployments_by_env ON deploy_deployments (app, environment, id);
CREATE TABLE deploy_releases (
  app TEXT NOT NULL,
  commit_id TEXT NOT NULL,
  release_dir TEXT NOT NULL,
  first_deployed_ms INTEGER NOT NULL,
  last_deployed_ms INTEGER NOT NULL,
  removed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (app, commit_id)
);
)sql",
                                R"sql(
ALTER TABLE deploy_deployments ADD COLUMN canary TEXT NOT NULL DEFAULT '';
)sql",
                                R"sql(
ALTER TABLE deploy_deployments ADD COLUMN watch TEXT NOT NULL DEFAULT '';
)sql"});
}

Result<EnvironmentRecord> Records::Environment(const std::string& app, const std::string& env) {
  ASSIGN_OR_RETURN(auto row,
                   db_.QueryOne("SELECT app, environment, live_commit, live_instances, "
                                "live_deployment, warm_commit, warm_instances, warm_until_ms "
                                "FROM deploy_environments WHERE app = ? AND environment = ?",
                                {app, env}));
  if (!row) {
    EnvironmentRecord e;
    e.app = app;
    e.environment = env;
    return e;
  }
  return EnvironmentFromRow(*row);
}

Result<std::vector<EnvironmentRecord>> Records::Environments() {
  ASSIGN_OR_RETURN(auto rows,
                   db_.Query("SELECT app, environment, live_commit, live_instances, "
                             "live_deployment, warm_commit, warm_instances, warm_until_ms "
                             "FROM deploy_environments ORDER BY app, environment"));
  std::vector<EnvironmentRecord> out;
  for (const auto& r : rows) out.push_back(EnvironmentFromRow(r));
  return out;
}

Status Records::SaveEnvironment(const EnvironmentRecord& e) {
  return db_.Exec(
      "INSERT INTO deploy_environments (app, environment, live_commit, live_instances, "
      "live_deployment, warm_commit, warm_instances, warm_until_ms) VALUES (?,?,?,?,?,?,?,?) "
      "ON CONFLICT (app, environment) DO UPDATE SET live_commit = excluded.live_commit, "
      "live_instances = excluded.live_instances, live_deployment = excluded.live_deployment, "
      "warm_commit = excluded.warm_commit, warm_instances = excluded.warm_instances, "
      "warm_until_ms = excluded.warm_until_ms",
      {e.app, e.environment, e.live_commit, ToJson(e.live_instances), e.live_deployment,
       e.warm_commit, ToJson(e.warm_instances), e.warm_until_ms});
}

Result<std::int64_t> Records::InsertDeployment(const DeploymentRecord& d) {
  std::int64_t id = 0;
  Status st = db_.Transaction([&]() -> Status {
    RETURN_IF_ERROR(db_.Exec(
        "INSERT INTO deploy_deployments (app, environment, commit_id, kind, status, step, error, "
        "previous_commit, instances, started_at_ms, finished_at_ms, switched_after_ms, "
        "duration_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        {d.app, d.environment, d.commit, std::string(Name(d.kind)), std::string(Name(d.status)),
         std::string(Name(d.step)), d.error, d.previous_commit,
         ToJson(d.instances), d.started_at_ms, d.finished_at_ms, d.switched_after_ms,
         d.duration_ms}));
    id = db_.LastInsertId();
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  return id;
}

Status Records::UpdateDeployment(const DeploymentRecord& d) {
  return db_.Exec(
      "UPDATE deploy_deployments SET status = ?, step = ?, error = ?, instances = ?, "
      "finished_at_ms = ?, switched_after_ms = ?, duration_ms = ?, canary = ?, watch = ? "
      "WHERE id = ?",
      {std::string(Name(d.status)), std::string(Name(d.step)), d.error, ToJson(d.instances),
       d.finished_at_ms, d.switched_after_ms, d.duration_ms, CanaryText(d.canary),
       d.watch ? WatchJson(*d.watch).dump(-1, ' ', false, json::error_handler_t::replace)
               : std::string(),
       d.id});
}

Result<std::optional<DeploymentRecord>> Records::Deployment(std::int64_t id) {
  ASSIGN_OR_RETURN(auto row, db_.QueryOne(std::string("SELECT ") + kDeploymentColumns +
                                              " FROM deploy_deployments WHERE id = ?",
                                          {id}));
  if (!row) return std::optional<DeploymentRecord>();
  return std::optional<DeploymentRecord>(DeploymentFromRow(*row));
}

Result<std::vector<DeploymentRecord>> Records::Deployments(const std::string& app, int limit) {
  ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kDeploymentColumns +
                                            " FROM deploy_deployments WHERE app = ? "
                                            "ORDER BY id DESC LIMIT ?",
                                        {app, static_cast<std::int64_t>(limit)}));
  std::vector<DeploymentRecord> out;
  for (const auto& r : rows) out.push_back(DeploymentFromRow(r));
  return out;
}

Result<std::vector<DeploymentRecord>> Records::RunningDeployments() {
  ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kDeploymentColumns +
                                        " FROM deploy_deployments WHERE status = 'running' "
                                        "ORDER BY id"));
  std::vector<DeploymentRecord> out;
  for (const auto& r : rows) out.push_back(DeploymentFromRow(r));
  return out;
}

Status Records::TouchRelease(const std::string& app, const std::string& commit,
                             const std::string& release_dir, std::int64_t now_ms) {
  return db_.Exec(
      "INSERT INTO deploy_releases (app, commit_id, release_dir, first_deployed_ms, "
      "last_deployed_ms) VALUES (?,?,?,?,?) ON CONFLICT (app, commit_id) DO UPDATE SET "
      "release_dir = excluded.release_dir, last_deployed_ms = excluded.last_deployed_ms",
      {app, commit, release_dir, now_ms, now_ms});
}

Result<std::optional<ReleaseRecord>> Records::Release(const std::string& app,
                                                      const std::string& commit) {
  ASSIGN_OR_RETURN(auto row, db_.QueryOne("SELECT app, commit_id, release_dir, "
                                          "first_deployed_ms, last_deployed_ms, removed FROM "
                                          "deploy_releases WHERE app = ? AND commit_id = ?",
                                          {app, commit}));
  if (!row) return std::optional<ReleaseRecord>();
  return std::optional<ReleaseRecord>(ReleaseFromRow(*row));
}

Result<std::vector<ReleaseRecord>> Records::Releases(const std::string& app) {
  ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT app, commit_id, release_dir, first_deployed_ms, "
                                        "last_deployed_ms, removed FROM deploy_releases WHERE "
                                        "app = ? ORDER BY last_deployed_ms DESC, rowid DESC",
                                        {app}));
  std::vector<ReleaseRecord> out;
  for (const auto& r : rows) out.push_back(ReleaseFromRow(r));
  return out;
}

Status Records::RemoveEnvironment(const std::string& app, const std::string& env) {
  return db_.Exec("DELETE FROM deploy_environments WHERE app = ? AND environment = ?",
                  {app, env});
}

Status Records::MarkReleaseRemoved(const std::string& app, const std::string& commit) {
  return db_.Exec("UPDATE deploy_releases SET removed = 1 WHERE app = ? AND commit_id = ?",
                  {app, commit});
}

}  // namespace gravity::deploy
