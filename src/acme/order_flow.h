#pragma once

// Internal to gravity_acme: one issuance (RFC 8555 §7.4) over an established session:
// order, authorizations, finalize, download.

#include <chrono>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acme/client.h"
#include "acme/session.h"

namespace gravity::acme::internal {

// Errors name the step: "ACME order failed: ...", "ACME authorization of <domain> failed:
// ...", "ACME finalize failed: ...", "ACME certificate download failed: ...".
// Not thread-safe; lives for one Obtain.
class OrderFlow {
 public:
  OrderFlow(Session& session, const Sleeper& sleep, std::chrono::seconds poll_timeout);
  Result<IssuedCertificate> Run(const std::vector<std::string>& names, ChallengeType type,
                                ChallengeSolver& solver);

 private:
  // authorization.cpp
  Status Authorize(const std::string& url, ChallengeType type, ChallengeSolver& solver);
  Status Validate(const nlohmann::json& authz, const std::string& url, ChallengeType type,
                  ChallengeSolver& solver);
  Status AuthorizationFailed(const nlohmann::json& authz, ChallengeType type);

  // order_flow.cpp
  Result<nlohmann::json> NewOrder(const std::vector<std::string>& names);
  Result<nlohmann::json> Finalize(const nlohmann::json& order, const std::string& csr_der);
  Result<std::string> Download(const std::string& url);
  Status OrderFailed(const nlohmann::json& order, const std::string& expected);
  // POST-as-GET `url` until the object's "status" is none of `waiting`; returns the last
  // object. Waits Retry-After when given, else 250 ms doubling up to 5 s; fails after
  // poll_timeout of waiting in all.
  Result<nlohmann::json> PollWhile(const std::string& url,
                                   std::initializer_list<const char*> waiting,
                                   const std::string& what);

  Session& session_;
  const Sleeper& sleep_;
  const std::chrono::seconds poll_timeout_;
  std::string order_url_;
};

}  // namespace gravity::acme::internal
