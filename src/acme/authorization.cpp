// The authorization step of OrderFlow (order_flow.h): RFC 8555 §7.5.
#include <string>

#include "acme/order_flow.h"

namespace gravity::acme::internal {

namespace {

// The challenge object of `type` in an authorization, or null.
nlohmann::json FindChallenge(const nlohmann::json& authz, ChallengeType type) {
  for (const auto& c : authz.value("challenges", nlohmann::json::array()))
    if (JsonString(c, "type") == ChallengeTypeName(type)) return c;
  return nullptr;
}

std::string OfferedTypes(const nlohmann::json& authz) {
  std::string out;
  for (const auto& c : authz.value("challenges", nlohmann::json::array()))
    out += (out.empty() ? "" : ", ") + JsonString(c, "type");
  return out.empty() ? "none" : out;
}

std::string Domain(const nlohmann::json& authz) {
  auto it = authz.find("identifier");
  return it != authz.end() ? JsonString(*it, "value") : "";
}

// Calls CleanUp for a presented challenge however the validation ends.
class CleanUpGuard {
 public:
  CleanUpGuard(ChallengeSolver& solver, ChallengeType type, std::string domain, std::string token)
      : solver_(solver), type_(type), domain_(std::move(domain)), token_(std::move(token)) {}
  ~CleanUpGuard() { solver_.CleanUp(type_, domain_, token_); }
  CleanUpGuard(const CleanUpGuard&) = delete;
  CleanUpGuard& operator=(const CleanUpGuard&) = delete;

 private:
  ChallengeSolver& solver_;
  ChallengeType type_;
  std::string domain_;
  std::string token_;
};

}  // namespace

Status OrderFlow::Authorize(const std::string& url, ChallengeType type, ChallengeSolver& solver) {
  Result<AcmeResponse> r = session_.Post(url, std::nullopt);
  if (!r.ok()) return r.status().Prefixed("ACME authorization " + url + " failed");
  const nlohmann::json& authz = r->json;
  std::string status = JsonString(authz, "status");
  if (status == "valid") return Status::Ok();  // reused from an earlier order
  if (status != "pending") return AuthorizationFailed(authz, type);
  return Validate(authz, url, type, solver);
}

Status OrderFlow::Validate(const nlohmann::json& authz, const std::string& url, ChallengeType type,
                           ChallengeSolver& solver) {
  const std::string domain = Domain(authz);
  const std::string context = "ACME authorization of " + domain + " failed";
  nlohmann::json challenge = FindChallenge(authz, type);
  if (challenge.is_null()) {
    session_.set_failure({});
    return Status::FailedPrecondition(context + ": the CA offers no " + ChallengeTypeName(type) +
                                      " challenge (offered: " + OfferedTypes(authz) + ")");
  }
  const std::string token = JsonString(challenge, "token");
  CleanUpGuard guard(solver, type, domain, token);
  Status presented = solver.Present(type, domain, token, session_.key().KeyAuthorization(token));
  if (!presented.ok()) {
    session_.set_failure({});
    return presented.Prefixed(context + ": presenting the " + ChallengeTypeName(type) +
                              " challenge");
  }
  if (JsonString(challenge, "status") == "pending") {
    // An empty object tells the CA the response is in place (§7.5.1).
    Result<AcmeResponse> r = session_.Post(JsonString(challenge, "url"), nlohmann::json::object());
    if (!r.ok()) return r.status().Prefixed(context);
  }
  ASSIGN_OR_RETURN(nlohmann::json final_authz,
                   PollWhile(url, {"pending"}, "authorization of " + domain));
  if (JsonString(final_authz, "status") == "valid") return Status::Ok();
  return AuthorizationFailed(final_authz, type);
}

Status OrderFlow::AuthorizationFailed(const nlohmann::json& authz, ChallengeType type) {
  std::string text = "ACME authorization of " + Domain(authz) + " failed: authorization is " +
                     JsonString(authz, "status");
  AcmeFailure failure;
  nlohmann::json challenge = FindChallenge(authz, type);
  if (challenge.is_object() && challenge.contains("error")) {
    std::optional<Problem> p = ParseProblem(challenge["error"].dump());
    if (p) {
      failure.problem_type = p->type;
      failure.detail = p->detail;
      text += ": " + std::string(ChallengeTypeName(type)) + " challenge " +
              JsonString(challenge, "status") + ": " + p->Describe();
    }
  }
  session_.set_failure(failure);
  return Status::FailedPrecondition(text);
}

}  // namespace gravity::acme::internal
