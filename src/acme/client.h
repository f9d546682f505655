#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "acme/problem.h"
#include "common/status.h"

namespace gravity::acme {

namespace internal {
class Session;
}
class HttpsClient;

struct ClientOptions {
  std::string directory_url;     // e.g. https://acme-v02.api.letsencrypt.org/directory
  std::string email;             // account contact (mailto:); empty: none
  std::string ca_bundle;         // extra trust for the ACME server's HTTPS, empty = system
  std::string account_key_path;  // created (0600) when missing; see AccountKey::LoadOrCreate
  // Longest total wait for one authorization or for the order to become ready / valid.
  std::chrono::seconds poll_timeout{120};
};

enum class ChallengeType { kHttp01, kTlsAlpn01 };

// "http-01" / "tls-alpn-01".
const char* ChallengeTypeName(ChallengeType type);

// What answers the CA's validation requests. Called on the thread running Obtain.
class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;
  // http-01: serve key_authorization at http://<domain>/.well-known/acme-challenge/<token>
  // tls-alpn-01: answer ALPN acme-tls/1 for <domain> with the certificate from
  // MakeTlsAlpnCertificate(domain, key_authorization).
  virtual Status Present(ChallengeType type, const std::string& domain, const std::string& token,
                         const std::string& key_authorization) = 0;
  // Called for every challenge Present was called for (even when Present failed).
  virtual void CleanUp(ChallengeType type, const std::string& domain, const std::string& token) = 0;
};

struct IssuedCertificate {
  std::string chain_pem;  // leaf first, then the intermediates, as the CA sent them
  std::string key_pem;    // PKCS#8 PEM of the certificate's key: a new EC P-256 key per order
};

// Waits the given time. Tests inject one that records instead of sleeping.
using Sleeper = std::function<void(std::chrono::milliseconds)>;
// Sleeps through Clock::Real().
Sleeper RealSleeper();

// An ACME (RFC 8555) client for one CA directory and one account key.
//
// Obtain() runs the whole issuance: account (created, or found again for the same key),
// order, one challenge per authorization, finalization with a fresh key's CSR, download.
// Errors name the identifiers, the step and the server's problem document, e.g.
//   "www.example.com: ACME order failed: urn:ietf:params:acme:error:rejectedIdentifier: ..."
// and last_failure() gives the same as values (problem type, Retry-After) for a caller
// that schedules retries: a 429/503 with Retry-After returns Status code kUnavailable with
// "rate limited, retry after N s" in the message and last_failure()->retry_after set.
//
// Not thread-safe: one Obtain at a time per Client. Polls wait through the Sleeper; the
// poll budget (poll_timeout) counts the time asked of the Sleeper, so a fake Sleeper
// makes timeouts deterministic.
class Client {
 public:
  explicit Client(ClientOptions options, Sleeper sleep = RealSleeper());
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<IssuedCertificate> Obtain(const std::vector<std::string>& names, ChallengeType type,
                                   ChallengeSolver& solver);

  // The account URL (the JWS "kid"), known after the first successful account step.
  const std::string& account_url() const { return account_url_; }
  // Whether the last account step created the account (201) or found it (200).
  bool account_created() const { return account_created_; }
  // How many requests were sent again after a badNonce answer, in all (a metric).
  int bad_nonce_retries() const;
  // Why the last failed Obtain failed; nullopt after a success.
  const std::optional<AcmeFailure>& last_failure() const { return last_failure_; }

 private:
  // Loads the account key and makes the session, once.
  Status Start();
  // newAccount: creates the account, or finds the existing one of this key.
  Status EnsureAccount();

  const ClientOptions options_;
  Sleeper sleep_;
  std::unique_ptr<HttpsClient> http_;
  std::unique_ptr<internal::Session> session_;  // made at the first Obtain
  std::string account_url_;
  bool account_created_ = false;
  std::optional<AcmeFailure> last_failure_;
};

}  // namespace gravity::acme
