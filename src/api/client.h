#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace gravity::api {

// Talks to the daemon's API for the CLI. The address comes from `admin_override` or the
// stack file's admin.listen; the token from $GRAVITY_TOKEN or the stack's state_dir/token.
// Not thread-safe (one per command).
class Client {
 public:
  // `stack_file` may be missing when `admin_override` is given (no token then, unless
  // $GRAVITY_TOKEN is set).
  static Result<Client> Connect(const std::string& stack_file, const std::string& admin_override);
  Client(std::string address, std::string token)
      : address_(std::move(address)), token_(std::move(token)) {}

  // The JSON body of a 2xx answer; otherwise an error carrying the API's "error".
  Result<nlohmann::json> Get(const std::string& target);
  Result<nlohmann::json> Post(const std::string& target, const nlohmann::json& body);
  const std::string& address() const { return address_; }

 private:
  Result<nlohmann::json> Call(const std::string& method, const std::string& target,
                              const std::string& body);
  std::string address_;
  std::string token_;
};

// Percent-encodes a query value.
std::string UrlEncode(const std::string& s);

}  // namespace gravity::api
