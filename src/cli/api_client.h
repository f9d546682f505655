#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/status.h"

namespace gravity::cli {

struct ApiResponse {
  int status = 0;
  std::string body;
};

// The CLI's handle on the daemon's JSON API: address + bearer token over api::HttpCall,
// keeping the HTTP status and raw body (commands print the API's own error text).
class ApiClient {
 public:
  ApiClient(std::string host, int port, std::string token = "");

  // `timeout` bounds connect + send + the whole response.
  Result<ApiResponse> Request(const std::string& method, const std::string& path,
                              const std::string& body = "",
                              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  Result<ApiResponse> Get(const std::string& path) { return Request("GET", path); }
  Result<ApiResponse> Post(const std::string& path, const std::string& body = "{}") {
    return Request("POST", path, body);
  }

  std::string address() const;

 private:
  std::string host_;
  int port_;
  std::string token_;
};

}  // namespace gravity::cli
