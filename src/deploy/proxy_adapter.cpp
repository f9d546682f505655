#include "deploy/proxy_adapter.h"

#include "common/latency_bins.h"

#include "proxy/control_client.h"

namespace gravity::deploy {

namespace {

// gravity.yml's health spec is the proxy's plus the deploy's wait (taken apart here).
proxy::HealthSpec ToProxyHealth(const config::HealthSpec& h) {
  return static_cast<const HealthCheckSpec&>(h);
}

ProxyDeployOutcome ToOutcome(proxy::DeployResult r) {
  ProxyDeployOutcome out;
  out.switched = r.ok;
  out.switched_after_ms = r.switched_after_ms;
  out.error = std::move(r.error);
  out.failures = std::move(r.failures);
  return out;
}

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
    req.health = ToProxyHealth(route.health);
    req.deploy_timeout = route.health.deploy_timeout;
    req.drain_timeout = route.drain_timeout;
    req.hsts = std::chrono::duration_cast<std::chrono::seconds>(route.hsts);
    auto result = client_.Deploy(req);
    if (!result.ok()) {
      // Errors on an established connection (send/recv/timeout: Interrupted) leave it
      // unknown whether the proxy switched. Anything else — no connection at all
      // (Unavailable), or the proxy's own refusal (400, 409) — means it did not.
      if (result.status().IsInterrupted()) return result.status();
      ProxyDeployOutcome refused;
      refused.error = result.error();
      return refused;
    }
    return ToOutcome(std::move(result).value());
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

  Result<bool> DeployInProgress(const std::string& service) override {
    ASSIGN_OR_RETURN(nlohmann::json doc, client_.List());
    for (const auto& name : doc.value("deploying", nlohmann::json::array())) {
      if (name.is_string() && name.get<std::string>() == service) return true;
    }
    return false;
  }

  Status Remove(const std::string& service) override {
    Status st = client_.Remove(service);
    if (st.IsNotFound()) return Status::Ok();  // no such service: nothing to remove
    return st;
  }

  Result<ProxyDeployOutcome> DeployCanary(const ProxyRoute& route, int weight) override {
    proxy::CanaryRequest req;
    req.pool.targets = route.targets;
    req.pool.health = ToProxyHealth(route.health);
    req.weight = weight;
    req.candidate_token = route.candidate_token;
    req.baseline = route.baseline_targets;
    req.deploy_timeout = route.health.deploy_timeout;
    ASSIGN_OR_RETURN(proxy::DeployResult r, client_.DeployCanary(route.service, req));
    return ToOutcome(std::move(r));
  }

  Status SetCanaryWeight(const std::string& service, int weight) override {
    return client_.SetCanaryWeight(service, weight);
  }

  Status PromoteCanary(const std::string& service) override {
    return client_.PromoteCanary(service);
  }

  Status DropCanary(const std::string& service) override {
    Status st = client_.DropCanary(service);
    // 404: the service has no canary, or does not exist.
    return st.IsNotFound() ? Status::Ok() : st;
  }

  Result<std::optional<ProxyService>> Service(const std::string& service) override {
    ASSIGN_OR_RETURN(nlohmann::json doc, client_.List());
    for (const auto& s : doc.value("services", nlohmann::json::array())) {
      if (s.value("name", "") != service) continue;
      ProxyService out;
      const auto& pools = s.value("pools", nlohmann::json::object());
      auto targets = [](const nlohmann::json& pool) {
        std::vector<ProxyTarget> list;
        for (const auto& t : pool.value("targets", nlohmann::json::array())) {
          std::string state = t.value("state", "");
          if (state == "draining") continue;
          list.push_back({t.value("address", ""), state, t.value("last_error", "")});
        }
        return list;
      };
      auto requests = [](const nlohmann::json& pool) {
        PoolRequests r;
        const auto& j = pool.value("requests", nlohmann::json::object());
        r.total = j.value("total", std::uint64_t{0});
        r.errors_5xx = j.value("5xx", std::uint64_t{0});
        r.errors_4xx = j.value("4xx", std::uint64_t{0});
        // [bin, count] pairs; bins outside the known range are ignored.
        for (const auto& pair : j.value("latency_bins", nlohmann::json::array())) {
          if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() ||
              !pair[1].is_number_unsigned()) {
            continue;
          }
          auto bin = pair[0].get<std::uint64_t>();
          if (bin >= latency::kBins) continue;
          if (r.latency.size() <= bin) r.latency.resize(static_cast<std::size_t>(bin) + 1, 0);
          r.latency[static_cast<std::size_t>(bin)] = pair[1].get<std::uint64_t>();
        }
        return r;
      };
      if (pools.contains("main") && pools["main"].is_object()) {
        out.main = targets(pools["main"]);
        for (const auto& t : pools["main"].value("targets", nlohmann::json::array())) {
          if (t.value("state", "") != "draining") continue;
          out.draining_in_flight[t.value("address", "")] += t.value("in_flight", std::int64_t{0});
        }
        out.main_requests = requests(pools["main"]);
      }
      if (pools.contains("canary") && pools["canary"].is_object()) {
        out.has_canary = true;
        out.canary_weight = pools["canary"].value("weight", 0);
        out.canary = targets(pools["canary"]);
        out.canary_requests = requests(pools["canary"]);
      }
      if (pools.contains("baseline") && pools["baseline"].is_object()) {
        out.has_baseline = true;
        out.baseline = targets(pools["baseline"]);
        out.baseline_requests = requests(pools["baseline"]);
      }
      return std::optional<ProxyService>(out);
    }
    return std::optional<ProxyService>();
  }

 private:
  proxy::ControlClient client_;
};

}  // namespace

std::unique_ptr<ProxyControl> MakeProxyControl(const std::string& socket_path) {
  return std::make_unique<ClientProxyControl>(socket_path);
}

}  // namespace gravity::deploy
