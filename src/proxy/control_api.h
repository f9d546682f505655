#pragma once

// The proxy's control API (JSON over the Unix control socket): list and describe services,
// deploy (PUT: health-gated swap), remove, and the canary pool (PUT, DELETE, weight,
// promote), and the TLS certificates and ACME challenges (tls_api.h). Each handler decides what changes and hands the change to the ServiceTable.
// Thread-safety: runs on the control thread.

#include <string>

#include "proxy/internal.h"
#include "proxy/service_table.h"
#include "proxy/tls.h"

namespace gravity::proxy {

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

class ControlApi {
 public:
  // `tls` is null when the proxy has no HTTPS listener.
  ControlApi(ServiceTable& table, Clock& clock, TlsStore* tls = nullptr)
      : table_(table), clock_(clock), tls_(tls) {}

  asio::awaitable<ApiResponse> Handle(std::string method, std::string path, std::string body);

 private:
  asio::awaitable<ApiResponse> HandleService(const std::string& method, const std::string& name,
                                             const nlohmann::json& body);
  asio::awaitable<ApiResponse> HandleCanaryPaths(const std::string& method,
                                                 const std::string& sub, ServiceRuntime& svc,
                                                 const nlohmann::json& body);
  asio::awaitable<ApiResponse> Deploy(const std::string& name, const nlohmann::json& body);
  asio::awaitable<ApiResponse> DeployCanary(const std::string& name, const nlohmann::json& body);
  ApiResponse Remove(const std::string& name);
  ApiResponse DropCanary(ServiceRuntime& svc);
  ApiResponse SetWeight(ServiceRuntime& svc, const nlohmann::json& body);
  ApiResponse Promote(ServiceRuntime& svc);

  ServiceTable& table_;
  Clock& clock_;
  TlsStore* tls_;
};

}  // namespace gravity::proxy
