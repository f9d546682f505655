#include "acme/client.h"

#include "acme/account_key.h"
#include "acme/https_client.h"
#include "acme/order_flow.h"
#include "acme/session.h"
#include "common/clock.h"

namespace gravity::acme {

const char* ChallengeTypeName(ChallengeType type) {
  switch (type) {
    case ChallengeType::kHttp01:
      return "http-01";
    case ChallengeType::kTlsAlpn01:
      return "tls-alpn-01";
  }
  return "unknown";
}

Sleeper RealSleeper() {
  return [](std::chrono::milliseconds d) { Clock::Real().SleepFor(d); };
}

Client::Client(ClientOptions options, Sleeper sleep)
    : options_(std::move(options)),
      sleep_(std::move(sleep)),
      http_(std::make_unique<HttpsClient>(options_.ca_bundle)) {}

Client::~Client() = default;

int Client::bad_nonce_retries() const { return session_ ? session_->bad_nonce_retries() : 0; }

Status Client::Start() {
  if (session_) return Status::Ok();
  if (options_.directory_url.empty())
    return Status::InvalidArgument("no ACME directory URL configured");
  ASSIGN_OR_RETURN(AccountKey key, AccountKey::LoadOrCreate(options_.account_key_path));
  session_ = std::make_unique<internal::Session>(*http_, std::move(key), options_.directory_url);
  return Status::Ok();
}

Status Client::EnsureAccount() {
  if (!account_url_.empty()) return Status::Ok();
  nlohmann::json payload = {{"termsOfServiceAgreed", true}};
  if (!options_.email.empty()) payload["contact"] = {"mailto:" + options_.email};
  RETURN_IF_ERROR(session_->LoadDirectory());
  // Without a kid the JWS embeds the key; for a key the CA knows it answers 200 with the
  // existing account's URL instead of creating a second account (§7.3.1).
  session_->set_kid("");
  Result<internal::AcmeResponse> r = session_->Post(session_->directory().new_account, payload);
  if (!r.ok()) return r.status().Prefixed("ACME account failed");
  if (r->location.empty())
    return Status::FailedPrecondition(
        "ACME account failed: no account URL (Location) in the "
        "answer to newAccount");
  std::string status = internal::JsonString(r->json, "status");
  if (!status.empty() && status != "valid")
    return Status::FailedPrecondition("ACME account failed: account " + r->location + " is " +
                                      status);
  account_url_ = r->location;
  account_created_ = r->status == 201;
  session_->set_kid(account_url_);
  return Status::Ok();
}

Result<IssuedCertificate> Client::Obtain(const std::vector<std::string>& names, ChallengeType type,
                                         ChallengeSolver& solver) {
  std::string who;
  for (const std::string& n : names) who += (who.empty() ? "" : ", ") + n;
  last_failure_.reset();
  Status st =
      names.empty() ? Status::InvalidArgument("no names to obtain a certificate for") : Start();
  if (st.ok()) {
    session_->set_failure({});
    st = EnsureAccount();
  }
  if (st.ok()) {
    internal::OrderFlow flow(*session_, sleep_, options_.poll_timeout);
    Result<IssuedCertificate> issued = flow.Run(names, type, solver);
    if (issued.ok()) return issued;
    st = issued.status();
  }
  last_failure_ = session_ ? session_->failure() : AcmeFailure{};
  return st.Prefixed(who.empty() ? "(no names)" : who);
}

}  // namespace gravity::acme
