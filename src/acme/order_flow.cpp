#include "acme/order_flow.h"

#include <algorithm>

#include "acme/base64url.h"
#include "acme/csr.h"

namespace gravity::acme::internal {

using std::chrono::milliseconds;

namespace {

constexpr char kPemChain[] = "application/pem-certificate-chain";

bool StatusIn(const std::string& status, std::initializer_list<const char*> set) {
  return std::any_of(set.begin(), set.end(), [&](const char* s) { return status == s; });
}

// The object's "error" problem document as text, or "".
std::string ErrorOf(const nlohmann::json& object) {
  if (!object.is_object() || !object.contains("error")) return "";
  std::optional<Problem> p = ParseProblem(object["error"].dump());
  return p ? p->Describe() : object["error"].dump();
}

}  // namespace

OrderFlow::OrderFlow(Session& session, const Sleeper& sleep, std::chrono::seconds poll_timeout)
    : session_(session), sleep_(sleep), poll_timeout_(poll_timeout) {}

Result<IssuedCertificate> OrderFlow::Run(const std::vector<std::string>& names, ChallengeType type,
                                         ChallengeSolver& solver) {
  ASSIGN_OR_RETURN(nlohmann::json order, NewOrder(names));
  for (const auto& authz : order.value("authorizations", nlohmann::json::array())) {
    if (!authz.is_string()) return Status::FailedPrecondition("ACME order failed: bad order");
    RETURN_IF_ERROR(Authorize(authz.get<std::string>(), type, solver));
  }
  ASSIGN_OR_RETURN(order, PollWhile(order_url_, {"pending"}, "order"));
  if (JsonString(order, "status") != "ready") return OrderFailed(order, "ready");
  Result<CertificateRequest> csr = MakeCertificateRequest(names);
  if (!csr.ok()) return csr.status().Prefixed("ACME finalize failed");
  ASSIGN_OR_RETURN(order, Finalize(order, csr->der));
  if (JsonString(order, "status") != "valid") {
    ASSIGN_OR_RETURN(order, PollWhile(order_url_, {"ready", "processing"}, "order"));
  }
  if (JsonString(order, "status") != "valid") return OrderFailed(order, "valid");
  ASSIGN_OR_RETURN(std::string chain, Download(JsonString(order, "certificate")));
  return IssuedCertificate{std::move(chain), std::move(csr->key_pem)};
}

Result<nlohmann::json> OrderFlow::NewOrder(const std::vector<std::string>& names) {
  nlohmann::json identifiers = nlohmann::json::array();
  for (const std::string& n : names) identifiers.push_back({{"type", "dns"}, {"value", n}});
  Result<AcmeResponse> r =
      session_.Post(session_.directory().new_order, nlohmann::json{{"identifiers", identifiers}});
  if (!r.ok()) return r.status().Prefixed("ACME order failed");
  order_url_ = r->location;
  if (order_url_.empty() || !r->json.is_object())
    return Status::FailedPrecondition("ACME order failed: the server's answer (HTTP " +
                                      std::to_string(r->status) + ") lacks the order or its URL");
  if (JsonString(r->json, "status") == "invalid") return OrderFailed(r->json, "pending");
  return r->json;
}

Result<nlohmann::json> OrderFlow::Finalize(const nlohmann::json& order,
                                           const std::string& csr_der) {
  Result<AcmeResponse> r = session_.Post(JsonString(order, "finalize"),
                                         nlohmann::json{{"csr", Base64UrlEncode(csr_der)}});
  if (!r.ok()) return r.status().Prefixed("ACME finalize failed");
  return r->json;
}

Result<std::string> OrderFlow::Download(const std::string& url) {
  if (url.empty())
    return Status::FailedPrecondition(
        "ACME certificate download failed: valid order has no "
        "certificate URL");
  Result<AcmeResponse> r = session_.Post(url, std::nullopt, kPemChain);
  if (!r.ok()) return r.status().Prefixed("ACME certificate download failed");
  if (r->body.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return Status::FailedPrecondition("ACME certificate download failed: " + url +
                                      " sent no PEM certificate");
  return std::move(r->body);
}

Status OrderFlow::OrderFailed(const nlohmann::json& order, const std::string& expected) {
  std::string status = JsonString(order, "status");
  std::string error = ErrorOf(order);
  std::optional<Problem> p =
      order.contains("error") ? ParseProblem(order["error"].dump()) : std::nullopt;
  session_.set_failure({p ? p->type : "", p ? p->detail : "", 0, std::nullopt});
  return Status::FailedPrecondition("ACME order failed: order is " +
                                    (status.empty() ? "without status" : status) + ", not " +
                                    expected + (error.empty() ? "" : ": " + error));
}

Result<nlohmann::json> OrderFlow::PollWhile(const std::string& url,
                                            std::initializer_list<const char*> waiting,
                                            const std::string& what) {
  milliseconds waited{0};
  milliseconds delay{250};
  for (;;) {
    Result<AcmeResponse> r = session_.Post(url, std::nullopt);
    if (!r.ok()) return r.status().Prefixed("ACME " + what + " failed");
    std::string status = JsonString(r->json, "status");
    if (!StatusIn(status, waiting)) return std::move(r->json);
    milliseconds next =
        r->retry_after ? std::max<milliseconds>(*r->retry_after, milliseconds(100)) : delay;
    next = std::min(next, milliseconds(poll_timeout_) - waited);
    if (next <= milliseconds(0)) {
      session_.set_failure({});
      return Status::Unavailable("ACME " + what + " failed: still " + status + " after " +
                                 std::to_string(poll_timeout_.count()) + " s");
    }
    sleep_(next);
    waited += next;
    delay = std::min(delay * 2, milliseconds(5000));
  }
}

}  // namespace gravity::acme::internal
