#include "proxy/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/http1.h"

namespace gravity::proxy {

using nlohmann::json;

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// The Status code for an answer the proxy gave with HTTP status `http`.
Status::Code CodeFor(int http) {
  switch (http) {
    case 400:
      return Status::Code::kInvalidArgument;
    case 404:
      return Status::Code::kNotFound;
    case 409:
      return Status::Code::kConflict;
    case 422:
      return Status::Code::kFailedPrecondition;
    default:
      return Status::Code::kUnknown;
  }
}

Result<DeployResult> ToDeployResult(const ControlClient::Response& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    return Status::WithCode(CodeFor(r.status), "proxy answered " + std::to_string(r.status) +
                                                   " with a body that is not JSON");
  }
  DeployResult out;
  if (r.status == 200) {
    out.ok = true;
    out.switched_after_ms = j.value("switched_after_ms", 0);
    return out;
  }
  std::string error = j.value("error", "proxy answered " + std::to_string(r.status));
  if (r.status != 422) return Status::WithCode(CodeFor(r.status), error);
  out.error = error;
  if (j.contains("targets") && j["targets"].is_array()) {
    for (const auto& t : j["targets"]) {
      out.failures.push_back(TargetFailure{t.value("target", ""), t.value("reason", "")});
    }
  }
  return out;
}

Status ToStatus(const Result<ControlClient::Response>& r) {
  if (!r.ok()) return r.status();
  if (r->status == 200) return Status::Ok();
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string()) {
    return Status::WithCode(CodeFor(r->status), j["error"].get<std::string>());
  }
  return Status::WithCode(CodeFor(r->status), "proxy answered " + std::to_string(r->status));
}

json HealthJson(const HealthSpec& h) { return HealthToJson(h); }

using SteadyTime = std::chrono::steady_clock::time_point;

// Waits until `fd` is ready for `events` or `deadline` passes (Interrupted: by then the
// proxy may have acted on the request).
Status WaitReady(int fd, short events, SteadyTime deadline, const std::string& where) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return Status::Interrupted(where + ": no answer within the timeout");
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (r > 0) return Status::Ok();
    if (r < 0 && errno != EINTR) return Status::Interrupted(where + ": poll: " + std::strerror(errno));
  }
}

// Sends `req` whole, then reads the answer to the end of the connection (64 MiB at most).
Result<std::string> Exchange(int fd, const std::string& req, SteadyTime deadline,
                             const std::string& where) {
  std::size_t sent = 0;
  while (sent < req.size()) {
    RETURN_IF_ERROR(WaitReady(fd, POLLOUT, deadline, where));
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status::Interrupted(where + ": send: " + std::strerror(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string data;
  char buf[16384];
  for (;;) {
    RETURN_IF_ERROR(WaitReady(fd, POLLIN, deadline, where));
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status::Interrupted(where + ": recv: " + std::strerror(errno));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > (64u << 20)) return Status::Interrupted(where + ": answer too large");
  }
  return data;
}

}  // namespace

ControlClient::ControlClient(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

Result<ControlClient::Response> ControlClient::Call(const std::string& method,
                                                    const std::string& path,
                                                    const std::string& body) {
  const std::string where = "proxy control socket " + socket_path_;
  // Path parts come from elsewhere (service names, ACME tokens and domains from a CA):
  // a space, CR, LF or other control byte would split the request line.
  for (unsigned char c : path) {
    if (c <= 0x20 || c == 0x7f) {
      return Status::Error("refusing a control request: the path has a space or control byte");
    }
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Until connected the request cannot have arrived (Unavailable); from then on a failure
  // leaves it unknown whether the proxy acted on it (Interrupted).
  if (socket_path_.size() >= sizeof(addr.sun_path)) {
    return Status::Unavailable(where + ": path too long");
  }
  std::memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::Unavailable(where + ": socket: " + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::Unavailable("cannot reach the proxy at " + socket_path_ + ": " +
                               std::strerror(errno));
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n";
  if (!body.empty() || method == "PUT" || method == "POST") {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  ASSIGN_OR_RETURN(std::string data,
                   Exchange(fd.get(), req, std::chrono::steady_clock::now() + timeout_, where));
  http1::ResponseHead head;
  auto pr = http1::ParseResponseHead(data, http1::Limits{}, &head);
  if (pr.status != http1::ParseStatus::kComplete) {
    return Status::Interrupted(where + ": malformed answer");
  }
  Response r;
  r.status = head.status;
  r.body = data.substr(pr.head_length);
  http1::Framing f = http1::ResponseFraming(head, method);
  if (f.kind == http1::BodyKind::kContentLength && r.body.size() > f.length)
    r.body.resize(f.length);
  return r;
}

Result<DeployResult> ControlClient::Deploy(const DeployRequest& request) {
  json body{{"hosts", request.hosts.empty() ? std::vector<std::string>{"*"} : request.hosts},
            {"path_prefix", request.path_prefix},
            {"targets", request.targets},
            {"health", HealthJson(request.health)},
            {"deploy_timeout_ms", request.deploy_timeout.count()},
            {"drain_timeout_ms", request.drain_timeout.count()},
            {"hsts_max_age", request.hsts.count()}};
  ASSIGN_OR_RETURN(Response r, Call("PUT", "/v1/services/" + request.service, body.dump()));
  return ToDeployResult(r);
}

Status ControlClient::Remove(const std::string& service) {
  return ToStatus(Call("DELETE", "/v1/services/" + service));
}

Result<json> ControlClient::List() {
  ASSIGN_OR_RETURN(Response r, Call("GET", "/v1/services"));
  json j = json::parse(r.body, nullptr, false);
  if (r.status != 200 || j.is_discarded()) {
    return Status::WithCode(CodeFor(r.status),
                            "proxy answered " + std::to_string(r.status) + " to GET /v1/services");
  }
  return j;
}

Result<DeployResult> ControlClient::DeployCanary(const std::string& service,
                                                const CanaryRequest& request) {
  ASSIGN_OR_RETURN(Response r, Call("PUT", "/v1/services/" + service + "/canary",
                                    CanaryRequestToJson(request).dump()));
  return ToDeployResult(r);
}

Status ControlClient::SetCanaryWeight(const std::string& service, int weight) {
  return ToStatus(
      Call("POST", "/v1/services/" + service + "/canary/weight", json{{"weight", weight}}.dump()));
}

Status ControlClient::PromoteCanary(const std::string& service) {
  return ToStatus(Call("POST", "/v1/services/" + service + "/canary/promote", "{}"));
}

Status ControlClient::DropCanary(const std::string& service) {
  return ToStatus(Call("DELETE", "/v1/services/" + service + "/canary"));
}

Status ControlClient::PutCertificate(const std::string& host, const std::string& chain_pem,
                                     const std::string& key_pem, const std::string& source,
                                     bool is_default) {
  json body = {{"certificate", chain_pem}, {"key", key_pem}, {"source", source},
               {"default", is_default}};
  return ToStatus(Call("PUT", "/v1/tls/certificates/" + host, body.dump()));
}

Status ControlClient::RemoveCertificate(const std::string& host) {
  return ToStatus(Call("DELETE", "/v1/tls/certificates/" + host));
}

Result<json> ControlClient::Certificates() {
  ASSIGN_OR_RETURN(Response r, Call("GET", "/v1/tls/certificates"));
  json j = json::parse(r.body, nullptr, false);
  if (r.status != 200 || j.is_discarded()) {
    std::string detail = j.is_object() ? j.value("error", "") : "";
    return Status::WithCode(CodeFor(r.status), "proxy answered " + std::to_string(r.status) +
                                                   " to GET /v1/tls/certificates" +
                                                   (detail.empty() ? "" : ": " + detail));
  }
  return j;
}

Status ControlClient::PutHttpChallenge(const std::string& token,
                                       const std::string& key_authorization) {
  return ToStatus(Call("PUT", "/v1/tls/challenges/http/" + token,
                       json{{"key_authorization", key_authorization}}.dump()));
}

Status ControlClient::RemoveHttpChallenge(const std::string& token) {
  return ToStatus(Call("DELETE", "/v1/tls/challenges/http/" + token));
}

Status ControlClient::PutAlpnChallenge(const std::string& domain, const std::string& cert_pem,
                                       const std::string& key_pem) {
  return ToStatus(Call("PUT", "/v1/tls/challenges/alpn/" + domain,
                       json{{"certificate", cert_pem}, {"key", key_pem}}.dump()));
}

Status ControlClient::RemoveAlpnChallenge(const std::string& domain) {
  return ToStatus(Call("DELETE", "/v1/tls/challenges/alpn/" + domain));
}

}  // namespace gravity::proxy
