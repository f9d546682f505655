#include "deploy/proxy_adapter.h"

#include "proxy/control_client.h"

namespace gravity::deploy {

namespace {

// Thread-safe: ControlClient opens a connection per call.
class ClientProxyControl final : public ProxyControl {
 public:
  explicit ClientProxyControl(const std::string& socket) : client_(socket) {}

  Result<ProxyDeployOutcome> Deploy(const ProxyRoute& route) override {
    proxy::DeployRequest req;
    req.service = route.service;
    req.targets = route.targets;
    req.hosts = route.hosts;
    req.path_prefix = route.path_prefix;
    req.health.path = route.health.path;
    req.health.status = route.health.status;
    req.health.body_contains = route.health.body_contains;
    req.health.interval = route.health.interval;
    req.health.timeout = route.health.timeout;
    req.health.healthy_threshold = route.health.healthy_threshold;
    req.health.unhealthy_threshold = route.health.unhealthy_threshold;
    req.deploy_timeout = route.health.deploy_timeout;
    req.drain_timeout = route.drain_timeout;
    auto result = client_.Deploy(req);
    if (!result.ok()) {
      // Errors on an established connection (send/recv/timeout: "proxy control socket
      // ...") leave it unknown whether the proxy switched. Anything else — no connection at
      // all, or the proxy's own refusal (400, 409) — means it did not.
      if (result.error().rfind("proxy control socket ", 0) == 0) return result.status();
      ProxyDeployOutcome refused;
      refused.error = result.error();
      return refused;
    }
    const proxy::DeployResult& r = *result;
    ProxyDeployOutcome out;
    out.switched = r.ok;
    out.switched_after_ms = r.switched_after_ms;
    out.error = r.error;
    for (const auto& f : r.failures) out.failures.push_back({f.target, f.reason});
    return out;
  }

  Result<std::optional<std::vector<ProxyTarget>>> Targets(const std::string& service) override {
    ASSIGN_OR_RETURN(nlohmann::json doc, client_.List());
    for (const auto& s : doc.value("services", nlohmann::json::array())) {
      if (s.value("name", "") != service) continue;
      std::vector<ProxyTarget> out;
      const auto& pools = s.value("pools", nlohmann::json::object());
      if (pools.contains("main") && pools["main"].is_object()) {
        for (const auto& t : pools["main"].value("targets", nlohmann::json::array())) {
          std::string state = t.value("state", "");
          if (state == "draining") continue;  // leaving: not what is served
          out.push_back({t.value("address", ""), state, t.value("last_error", "")});
        }
      }
      return std::optional<std::vector<ProxyTarget>>(out);
    }
    return std::optional<std::vector<ProxyTarget>>();
  }

  Status Remove(const std::string& service) override {
    Status st = client_.Remove(service);
    if (!st.ok() && st.message().find("no service") != std::string::npos) return Status::Ok();
    return st;
  }

 private:
  proxy::ControlClient client_;
};

}  // namespace

std::unique_ptr<ProxyControl> MakeProxyControl(const std::string& socket_path) {
  return std::make_unique<ClientProxyControl>(socket_path);
}

}  // namespace gravity::deploy
