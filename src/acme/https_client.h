#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "common/status.h"

typedef void CURL;

namespace gravity::acme {

struct HttpsResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; a repeated name keeps the last
  std::string body;

  // The header `lower_name` (lower-case), or "".
  std::string Header(const std::string& lower_name) const;
};

// A blocking HTTPS client on libcurl (OpenSSL backend) for the ACME exchange: one easy
// handle, so consecutive requests to the ACME server reuse one TLS connection. Peer and
// host name are always verified; `ca_bundle` (a PEM file) adds trust on top of the
// system's, for a private or test CA. Redirects are not followed. Responses are limited to
// 4 MiB. Not thread-safe: one client per thread.
class HttpsClient {
 public:
  explicit HttpsClient(std::string ca_bundle = "",
                       std::chrono::seconds timeout = std::chrono::seconds(30));
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  Result<HttpsResponse> Get(const std::string& url);
  Result<HttpsResponse> Head(const std::string& url);
  // POST `body` with Content-Type `content_type`; `accept` (optional) as the Accept header.
  Result<HttpsResponse> Post(const std::string& url, const std::string& body,
                             const std::string& content_type, const std::string& accept = "");

 private:
  Result<HttpsResponse> Perform(const std::string& method, const std::string& url);

  const std::string ca_bundle_;
  const std::chrono::seconds timeout_;
  CURL* curl_ = nullptr;
};

}  // namespace gravity::acme
