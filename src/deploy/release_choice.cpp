// Which release a rollback or promotion deploys, and finding a release on disk.
#include "common/commit.h"
#include "config/config.h"
#include "deploy/deployer.h"

namespace gravity::deploy {

Result<std::string> Deployer::ResolveCommit(const std::string& app, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto releases, records_.Releases(app));
  std::vector<std::string> matches;
  for (const auto& r : releases) {
    if (r.commit.rfind(prefix, 0) == 0) matches.push_back(r.commit);
  }
  if (matches.empty()) {
    return Status::InvalidArgument("no release of '" + app + "' matches commit '" + prefix + "'");
  }
  if (matches.size() > 1) {
    return Status::InvalidArgument("commit '" + prefix + "' is ambiguous: it matches " +
                                   std::to_string(matches.size()) + " releases of '" + app +
                                   "'");
  }
  return matches[0];
}

Result<std::string> Deployer::RollbackTarget(const std::string& app, const std::string& env,
                                             const EnvironmentRecord& rec,
                                             const std::string& to_commit) {
  std::string target;
  if (!to_commit.empty()) {
    ASSIGN_OR_RETURN(target, ResolveCommit(app, to_commit));
  } else if (!rec.warm_commit.empty()) {
    target = rec.warm_commit;
  } else {
    ASSIGN_OR_RETURN(auto history, records_.Deployments(app, 200));
    for (const auto& d : history) {
      if (d.environment == env && d.status == DeploymentStatus::kSucceeded &&
          d.commit != rec.live_commit) {
        target = d.commit;
        break;
      }
    }
    if (target.empty()) {
      return Status::FailedPrecondition(app + "/" + env + ": no earlier release to roll back to");
    }
  }
  if (target == rec.live_commit) {
    return Status::Conflict(app + "/" + env + ": release " + ShortCommit(target) +
                            " is already live");
  }
  return target;
}

Release Deployer::KnownRelease(const std::string& app, const std::string& commit,
                               Status* problem) {
  Release r;
  r.app = app;
  r.commit = commit;
  auto rel = records_.Release(app, commit);
  if (!rel.ok()) {
    *problem = rel.status();
    return r;
  }
  if (*rel) r.release_dir = (*rel)->release_dir;
  if (!*rel || (*rel)->removed) {
    *problem = Status::FailedPrecondition("release " + ShortCommit(commit) + " of '" + app +
                                          "' is no longer kept on disk (retention)");
    return r;
  }
  // The one place a release's gravity.yml is read again (rollback, promotion, restore).
  auto spec = config::LoadAppSpec(r.release_dir + "/gravity.yml");
  if (!spec.ok()) {
    *problem = Status::FailedPrecondition("release " + ShortCommit(commit) + " of '" + app +
                                          "' cannot be relaunched: " + spec.error());
    return r;
  }
  r.spec = *spec;
  return r;
}

Result<Release> Deployer::ReleaseFromDisk(const std::string& app, const std::string& commit) {
  Status problem;
  Release r = KnownRelease(app, commit, &problem);
  if (!problem.ok()) return problem;
  return r;
}

Release Deployer::WarmRelease(const std::string& app, const std::string& commit) {
  Status ignored;  // warm instances run already: neither directory nor spec is needed
  return KnownRelease(app, commit, &ignored);
}

}  // namespace gravity::deploy
