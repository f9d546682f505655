#include "api/client.h"

#include <unistd.h>

#include <cstdlib>

#include "api/daemon.h"
#include "api/server.h"
#include "common/fs.h"
#include "config/config.h"

namespace gravity::api {

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

Result<Client> Client::Connect(const std::string& stack_file, const std::string& admin_override) {
  std::string address = admin_override;
  std::string token;
  if (const char* t = std::getenv("GRAVITY_TOKEN"); t && *t) token = t;
  bool have_stack = ::access(stack_file.c_str(), F_OK) == 0;
  if (have_stack) {
    auto stack = config::LoadStackSpec(stack_file);
    if (!stack.ok()) {
      if (address.empty()) return stack.status();
    } else {
      if (address.empty()) address = stack->admin_listen.ToString();
      if (token.empty()) {
        auto t = ReadFile(Daemon::TokenPath(stack->state_dir));
        if (t.ok()) {
          token = *t;
          while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
        }
      }
    }
  } else if (address.empty()) {
    return Status::Error("no stack file " + stack_file + " (give -f FILE or --admin HOST:PORT)");
  }
  return Client(address, token);
}

Result<nlohmann::json> Client::Call(const std::string& method, const std::string& target,
                                    const std::string& body) {
  ASSIGN_OR_RETURN(auto res, HttpCall(address_, method, target, body, token_));
  auto j = nlohmann::json::parse(res.body, nullptr, false);
  if (res.status >= 200 && res.status < 300) {
    if (j.is_discarded()) return Status::Error("the daemon answered with invalid JSON");
    return j;
  }
  std::string message;
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("error") && j["error"].is_string()) message = j["error"];
    if (message.empty() && j.contains("message") && j["message"].is_string())
      message = j["message"];
  }
  if (message.empty()) message = res.body.substr(0, 200);
  return Status::Error(message + " (HTTP " + std::to_string(res.status) + ")");
}

Result<nlohmann::json> Client::Get(const std::string& target) { return Call("GET", target, ""); }

Result<nlohmann::json> Client::Post(const std::string& target, const nlohmann::json& body) {
  return Call("POST", target, body.dump());
}

}  // namespace gravity::api
