#pragma once

// A blocking client of the proxy's control API (Unix socket, HTTP/1.1 + JSON), for the CLI
// and the deploy component. No Asio here.
// Thread-safety: a ControlClient holds only its settings; calls may run on any thread, and
// each opens its own connection.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/health_check_spec.h"
#include "common/status.h"
#include "proxy/config.h"

namespace gravity::proxy {

struct DeployRequest {
  std::string service;
  std::vector<std::string> targets;  // HOST:PORT
  std::vector<std::string> hosts;    // empty: ["*"]
  std::string path_prefix = "/";
  HealthSpec health;
  std::chrono::milliseconds deploy_timeout{30000};
  std::chrono::milliseconds drain_timeout{30000};
  std::chrono::seconds hsts{0};  // Strict-Transport-Security max-age over HTTPS; 0: none
};

struct DeployResult {
  bool ok = false;  // traffic switched
  std::int64_t switched_after_ms = 0;
  std::string error;                    // one line when !ok
  std::vector<TargetFailure> failures;  // per failing target when !ok
};

class ControlClient {
 public:
  explicit ControlClient(std::string socket_path,
                         std::chrono::milliseconds timeout = std::chrono::minutes(10));

  // Deploys and blocks until switched or refused. A refused deploy (422) is a DeployResult
  // with ok=false and the failures; transport and request errors are an error Status.
  Result<DeployResult> Deploy(const DeployRequest& request);
  Status Remove(const std::string& service);
  Result<nlohmann::json> List();  // the GET /v1/services document
  Result<DeployResult> DeployCanary(const std::string& service, const CanaryRequest& request);
  Status SetCanaryWeight(const std::string& service, int weight);
  Status PromoteCanary(const std::string& service);
  Status DropCanary(const std::string& service);

  // TLS (tls_api.h): certificates served by the HTTPS listener, and ACME challenges.
  Status PutCertificate(const std::string& host, const std::string& chain_pem,
                        const std::string& key_pem, const std::string& source,
                        bool is_default = false);
  Status RemoveCertificate(const std::string& host);
  Result<nlohmann::json> Certificates();  // the GET /v1/tls/certificates document
  Status PutHttpChallenge(const std::string& token, const std::string& key_authorization);
  Status RemoveHttpChallenge(const std::string& token);
  Status PutAlpnChallenge(const std::string& domain, const std::string& cert_pem,
                          const std::string& key_pem);
  Status RemoveAlpnChallenge(const std::string& domain);

  struct Response {
    int status = 0;
    std::string body;
  };
  // One request; the error names the socket and what failed.
  Result<Response> Call(const std::string& method, const std::string& path,
                        const std::string& body = "");

 private:
  std::string socket_path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace gravity::proxy
