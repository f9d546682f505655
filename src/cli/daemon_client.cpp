#include "cli/daemon_client.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include "api/server.h"
#include "config/config.h"
#include "daemon/state_layout.h"
#include "daemon/token.h"

namespace gravity::cli {

std::string UrlEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

DaemonClient DaemonClient::For(const config::StackSpec& stack) {
  return DaemonClient(stack.admin_listen.ToString(),
                      daemon::ReadToken(daemon::StateLayout::For(stack.state_dir).token));
}

Result<DaemonClient> DaemonClient::Connect(const std::string& stack_file,
                                           const std::string& admin_override) {
  std::string address = admin_override;
  std::string token;
  if (const char* t = std::getenv("GRAVITY_TOKEN"); t && *t) token = t;
  if (::access(stack_file.c_str(), F_OK) != 0) {
    if (address.empty()) {
      return Status::InvalidArgument("no stack file " + stack_file +
                                     " (give -f FILE or --admin HOST:PORT)");
    }
    return DaemonClient(address, token);
  }
  auto stack = config::LoadStackSpec(stack_file);
  if (!stack.ok()) {
    if (address.empty()) return stack.status();
    return DaemonClient(address, token);
  }
  if (address.empty()) address = stack->admin_listen.ToString();
  if (token.empty()) token = daemon::ReadToken(daemon::StateLayout::For(stack->state_dir).token);
  return DaemonClient(address, token);
}

Result<ApiResponse> DaemonClient::Request(const std::string& method, const std::string& path,
                                          const std::string& body,
                                          std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(api::ClientResponse res,
                   api::HttpCall(address_, method, path, body, token_,
                                 static_cast<int>(timeout.count())));
  return ApiResponse{res.status, std::move(res.body)};
}

Result<nlohmann::json> DaemonClient::CallJson(const std::string& method, const std::string& path,
                                              const std::string& body) {
  ASSIGN_OR_RETURN(ApiResponse res, Request(method, path, body, std::chrono::seconds(60)));
  auto j = nlohmann::json::parse(res.body, nullptr, false);
  if (res.status >= 200 && res.status < 300) {
    if (j.is_discarded()) return Status::Error("the daemon answered with invalid JSON");
    return j;
  }
  std::string message;
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("error") && j["error"].is_string()) message = j["error"];
    if (message.empty() && j.contains("message") && j["message"].is_string()) {
      message = j["message"];
    }
  }
  if (message.empty()) message = res.body.substr(0, 200);
  return Status::Error(message + " (HTTP " + std::to_string(res.status) + ")");
}

Result<nlohmann::json> DaemonClient::Get(const std::string& path) {
  return CallJson("GET", path, "");
}

Result<nlohmann::json> DaemonClient::Post(const std::string& path, const nlohmann::json& body) {
  return CallJson("POST", path, body.dump());
}

}  // namespace gravity::cli
