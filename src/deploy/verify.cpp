// The verify step (gravity.yml `verify:`, docs/deploy.md "Verify"): acceptance checks
// against the new instances through the proxy, before any client reaches them. The
// instances are health-gated into the service's canary slot with a share of 0, and only a
// request carrying this deployment's one-off X-Gravity-Candidate header goes there.
#include <random>

#include "common/duration.h"
#include "deploy/run.h"

namespace gravity::deploy {

namespace {

std::string CandidateToken() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string t;
  for (int i = 0; i < 32; ++i) t.push_back(kAlphabet[rd() % (sizeof kAlphabet - 1)]);
  return t;
}

// The proxy's listener as a client reaches it: a wildcard address is dialled on loopback.
std::string DialAddress(const config::ListenAddress& a) {
  config::ListenAddress d = a;
  if (d.host == "0.0.0.0" || d.host.empty()) d.host = "127.0.0.1";
  if (d.host == "::") d.host = "::1";
  return d.ToString();
}

// The Host the checks send: the environment's host; for a wildcard one, a name under it;
// for "*", none is needed.
std::string CandidateHost(const std::string& host) {
  if (host.empty() || host == "*") return "";
  if (host.rfind("*.", 0) == 0) return "verify" + host.substr(1);
  return host;
}

}  // namespace

void Deployer::DropCandidateSlot(Run& run) {
  if (!run.candidate_slot) return;
  run.candidate_slot = false;
  if (Status dropped = proxy_.DropCanary(run.route.service); !dropped.ok()) MarkReconcilePending();
}

Result<ProxyDeployOutcome> Deployer::Verify(Run& run) {
  const config::VerifySpec& spec = *run.release.spec.verify;
  run.d.step = DeploymentStep::kVerify;
  (void)records_.UpdateDeployment(run.d);
  ProxyRoute route = run.route;
  route.candidate_token = CandidateToken();
  ASSIGN_OR_RETURN(ProxyDeployOutcome gate, proxy_.DeployCanary(route, 0));
  if (!gate.switched) return gate;  // not healthy: the usual failure, nothing to verify
  run.candidate_slot = true;

  const std::string host = CandidateHost(run.env.host);
  std::map<std::string, std::string> env = {
      {"GRAVITY_CANDIDATE_URL", "http://" + DialAddress(StackCopy().proxy_listen)},
      {"GRAVITY_CANDIDATE_HOST", host},
      {"GRAVITY_CANDIDATE_HEADER", "X-Gravity-Candidate: " + route.candidate_token},
      {"GRAVITY_CANDIDATE_COMMIT", run.release.commit},
      {"GRAVITY_VERIFY_TIMEOUT", FormatDuration(spec.timeout)},
  };
  Progress(run.where + ": verifying " + ShortCommit(run.release.commit) +
               " against its new instances (no client traffic yet)",
           run.log);
  const auto t0 = clock_.Now();
  Status verdict = (*run.verify)(env);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - t0);
  if (verdict.ok()) {
    Progress(run.where + ": verify passed in " + FormatDuration(took), run.log);
    return gate;
  }
  // Failed: the candidate slot drains away; the main pool never changed.
  DropCandidateSlot(run);
  run.judged = "verify failed: " + verdict.message();
  Progress(run.where + ": verify failed", run.log);
  ProxyDeployOutcome out;
  out.error = run.judged;
  return out;
}

}  // namespace gravity::deploy
