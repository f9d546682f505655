#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "config/spec.h"

namespace gravity::cli {

struct ApiResponse {
  int status = 0;
  std::string body;
};

// The CLI's one handle on the daemon's HTTP API: an address ("host:port") and the bearer
// token, over api::HttpCall. Not thread-safe (one per command).
class DaemonClient {
 public:
  explicit DaemonClient(std::string address, std::string token = "")
      : address_(std::move(address)), token_(std::move(token)) {}

  // The daemon of `stack`: admin.listen, and the token in its state_dir ("" when none).
  static DaemonClient For(const config::StackSpec& stack);
  // For commands with -f FILE and --admin HOST:PORT: the address is `admin_override` or the
  // stack file's admin.listen; the token $GRAVITY_TOKEN or the stack's state_dir/token.
  // `stack_file` may be missing when `admin_override` is given (no token then, unless
  // $GRAVITY_TOKEN is set).
  static Result<DaemonClient> Connect(const std::string& stack_file,
                                      const std::string& admin_override);

  // One request, with the HTTP status and raw body (for callers that print the API's own
  // error text). `timeout` bounds connect + send + the whole response.
  Result<ApiResponse> Request(const std::string& method, const std::string& path,
                              const std::string& body = "",
                              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The JSON body of a 2xx answer; otherwise an error carrying the API's "error" and the
  // HTTP status.
  Result<nlohmann::json> Get(const std::string& path);
  Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body);

  const std::string& address() const { return address_; }

 private:
  Result<nlohmann::json> CallJson(const std::string& method, const std::string& path,
                                  const std::string& body);
  std::string address_;
  std::string token_;
};

// Percent-encodes a query value or path segment.
std::string UrlEncode(const std::string& s);

}  // namespace gravity::cli
