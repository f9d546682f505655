#include "cli/api_client.h"

#include "api/server.h"

namespace gravity::cli {

ApiClient::ApiClient(std::string host, int port, std::string token)
    : host_(std::move(host)), port_(port), token_(std::move(token)) {}

std::string ApiClient::address() const {
  return (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" +
         std::to_string(port_);
}

Result<ApiResponse> ApiClient::Request(const std::string& method, const std::string& path,
                                       const std::string& body,
                                       std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(api::ClientResponse res,
                   api::HttpCall(address(), method, path, body, token_,
                                 static_cast<int>(timeout.count())));
  return ApiResponse{res.status, std::move(res.body)};
}

}  // namespace gravity::cli
