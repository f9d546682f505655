#pragma once

// Internal to gravity_acme: the signed request layer of RFC 8555 (§6): the directory, the
// anti-replay nonces, JWS-signed POSTs (and POST-as-GET), problem documents as errors.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "acme/account_key.h"
#include "acme/https_client.h"
#include "acme/problem.h"
#include "common/status.h"

namespace gravity::acme::internal {

struct Directory {
  std::string new_nonce;
  std::string new_account;
  std::string new_order;
};

struct AcmeResponse {
  long status = 0;
  std::string location;  // Location header: the URL of a created account or order
  std::optional<std::chrono::seconds> retry_after;
  nlohmann::json json;  // the body when it is JSON, else null
  std::string body;
};

// Not thread-safe; lives inside one Client.
class Session {
 public:
  // A badNonce answer is retried with the nonce it carried; RFC 8555 §6.5 makes it a
  // retryable error. More than one retry: a server may reject again (pebble rejects a set
  // share of good nonces at random), and each retry costs one round trip only.
  static constexpr int kBadNonceRetries = 15;

  Session(HttpsClient& http, AccountKey key, std::string directory_url);

  // GET of the directory (once; later calls return at once).
  Status LoadDirectory();
  const Directory& directory() const { return directory_; }
  // The account URL: requests after newAccount name the key by it.
  void set_kid(std::string kid) { kid_ = std::move(kid); }
  const std::string& kid() const { return kid_; }
  const AccountKey& key() const { return key_; }

  // A JWS-signed POST of `payload`; nullopt is POST-as-GET (empty payload). An error
  // unless the server answered 2xx; failure() then says why.
  Result<AcmeResponse> Post(const std::string& url, const std::optional<nlohmann::json>& payload,
                            const std::string& accept = "");
  // Why the last failed Post or LoadDirectory failed (or what set_failure recorded).
  const AcmeFailure& failure() const { return failure_; }
  int bad_nonce_retries() const { return bad_nonce_retries_; }
  // Records a failure that no single response carries (an invalid authorization).
  void set_failure(AcmeFailure failure) { failure_ = std::move(failure); }

 private:
  Result<std::string> TakeNonce();
  Result<HttpsResponse> PostOnce(const std::string& url, const std::string& payload,
                                 const std::string& accept);
  // The error for a non-2xx response; records failure_.
  Status ResponseError(const HttpsResponse& response);
  Status NetworkError(const Status& status);

  HttpsClient& http_;
  const AccountKey key_;
  const std::string directory_url_;
  Directory directory_;
  bool have_directory_ = false;
  std::string kid_;
  std::string nonce_;  // from the last response that carried one; used once
  AcmeFailure failure_;
  int bad_nonce_retries_ = 0;
};

// Reads a string member of a JSON object, "" when missing or not a string.
std::string JsonString(const nlohmann::json& object, const char* key);

}  // namespace gravity::acme::internal
