#include "proxy/control_api.h"

#include <spdlog/spdlog.h>

#include "common/duration.h"
#include "proxy/tls_api.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using nlohmann::json;

// Errors quote what was sent (service names, addresses): bytes that are not UTF-8 are
// replaced (U+FFFD) rather than making dump() throw.
ApiResponse JsonResponse(int status, const json& j) {
  return {status, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}
ApiResponse JsonError(int status, const std::string& message) {
  return JsonResponse(status, json{{"ok", false}, {"error", message}});
}
ApiResponse Ok() { return JsonResponse(200, json{{"ok", true}}); }
ApiResponse NoSuchService(const std::string& name) {
  return JsonError(404, "no service named '" + name + "'");
}
ApiResponse Busy(const std::string& name) {
  return JsonError(409, "a deploy of '" + name + "' is already in progress");
}
ApiResponse NoCanary(const ServiceRuntime& svc) {
  return JsonError(404, "service '" + svc.spec.name + "' has no canary");
}
ApiResponse Refused(const std::string& what, const Status& st, json failures) {
  return JsonResponse(422, json{{"ok", false},
                                {"error", what + " failed: " + st.message()},
                                {"targets", std::move(failures)}});
}

}  // namespace

awaitable<ApiResponse> ControlApi::Handle(std::string method, std::string path,
                                          std::string body) {
  if (std::size_t q = path.find('?'); q != std::string::npos) path.resize(q);
  if (path == "/v1/services" || path == "/v1/services/") {
    if (method != "GET") co_return JsonError(405, "use GET");
    // "deploying": services whose health gate runs now (a first deploy has no entry in
    // "services" yet), so that a restarted daemon waits for the proxy's decision.
    co_return JsonResponse(200, json{{"services", table_.DescribeAll()},
                                     {"deploying", table_.DeploysInProgress()}});
  }
  if (path.rfind("/v1/tls/", 0) == 0) {
    json j = json::object();
    if (!body.empty()) {
      j = json::parse(body, nullptr, false);
      if (!j.is_object()) co_return JsonError(400, "request body is not a JSON object");
    }
    co_return HandleTlsApi(tls_, method, path, j);
  }
  const std::string prefix = "/v1/services/";
  if (path.rfind(prefix, 0) != 0) co_return JsonError(404, "no such endpoint: " + path);
  std::string rest = path.substr(prefix.size());
  std::string name = rest.substr(0, rest.find('/'));
  std::string sub = rest.size() > name.size() ? rest.substr(name.size()) : "";
  Status valid = ValidateServiceName(name);
  if (!valid.ok()) co_return JsonError(400, valid.message());
  json j = json::object();
  if (!body.empty()) {
    j = json::parse(body, nullptr, false);
    if (j.is_discarded()) co_return JsonError(400, "request body is not valid JSON");
  }
  if (sub.empty()) co_return co_await HandleService(method, name, j);
  ServiceRuntime* svc = table_.Find(name);
  if (!svc) co_return NoSuchService(name);
  if (sub == "/canary" || sub == "/canary/weight" || sub == "/canary/promote") {
    co_return co_await HandleCanaryPaths(method, sub, *svc, j);
  }
  co_return JsonError(404, "no such endpoint: " + path);
}

awaitable<ApiResponse> ControlApi::HandleService(const std::string& method,
                                                 const std::string& name, const json& body) {
  if (method == "PUT") co_return co_await Deploy(name, body);
  if (method == "GET") {
    ServiceRuntime* svc = table_.Find(name);
    if (!svc) co_return NoSuchService(name);
    co_return JsonResponse(200, table_.Describe(*svc));
  }
  if (method == "DELETE") co_return Remove(name);
  co_return JsonError(405, "use GET, PUT or DELETE");
}

awaitable<ApiResponse> ControlApi::HandleCanaryPaths(const std::string& method,
                                                     const std::string& sub, ServiceRuntime& svc,
                                                     const json& body) {
  if (sub == "/canary") {
    if (method == "PUT") co_return co_await DeployCanary(svc.spec.name, body);
    if (method == "DELETE") co_return DropCanary(svc);
    co_return JsonError(405, "use PUT or DELETE");
  }
  if (method != "POST") co_return JsonError(405, "use POST");
  co_return sub == "/canary/weight" ? SetWeight(svc, body) : Promote(svc);
}

// PUT /v1/services/<name>: new targets, health-gated; traffic switches only when all are
// healthy, then the old ones drain. A refused deploy changes nothing.
awaitable<ApiResponse> ControlApi::Deploy(const std::string& name, const json& body) {
  auto spec_r = DeployRequestFromJson(name, body);
  if (!spec_r.ok()) co_return JsonError(400, spec_r.error());
  ServiceSpec spec = std::move(spec_r).value();
  if (Status c = table_.CheckRouteConflict(spec); !c.ok()) co_return JsonError(409, c.message());
  if (!table_.BeginDeploy(name)) co_return Busy(name);
  const auto started = clock_.Now();
  std::vector<TargetRef> fresh = table_.NewTargets(spec.main);
  json failures;
  Status st = co_await table_.WaitHealthy(fresh, spec.deploy_timeout, &failures);
  table_.EndDeploy(name);
  if (!st.ok()) {
    table_.StopChecks(fresh);
    spdlog::warn("proxy: deploy of {} refused: {}", name, st.message());
    co_return Refused("deploy of '" + name + "'", st, failures);
  }
  // Another service may have claimed the route meanwhile.
  if (Status c = table_.CheckRouteConflict(spec); !c.ok()) {
    table_.StopChecks(fresh);
    co_return JsonError(409, c.message());
  }
  ServiceRuntime& svc = table_.Create(name);
  std::vector<TargetRef> old = std::move(svc.main.targets);
  std::optional<CanarySpec> keep_canary = svc.spec.canary;
  svc.spec = spec;
  svc.spec.canary = keep_canary;
  svc.main = PoolRuntime{fresh, spec.main.health};
  auto switched = std::chrono::duration_cast<milliseconds>(clock_.Now() - started);
  table_.Commit(svc, std::move(old), spec.drain_timeout);
  spdlog::info("proxy: deployed {} to {} target(s) after {}", name, fresh.size(),
               FormatDuration(switched));
  co_return JsonResponse(200, json{{"ok", true}, {"switched_after_ms", switched.count()}});
}

// PUT /v1/services/<name>/canary: a health-gated canary pool with a share of the clients.
awaitable<ApiResponse> ControlApi::DeployCanary(const std::string& name, const json& body) {
  auto req_r = CanaryRequestFromJson(body);
  if (!req_r.ok()) co_return JsonError(400, req_r.error());
  CanaryRequest req = std::move(req_r).value();
  ServiceRuntime* before = table_.Find(name);
  if (!table_.BeginDeploy(name)) co_return Busy(name);
  const auto started = clock_.Now();
  std::vector<TargetRef> fresh = table_.NewTargets(req.pool);
  // The baseline's targets pass the same gate, in the same wait: both pools get clients
  // together or not at all. They run the live release, so they are checked as the main
  // pool is (its health path and thresholds), not as the new release asks.
  const HealthSpec baseline_health = before->main.health;
  std::vector<TargetRef> fresh_baseline =
      table_.NewTargets(PoolSpec{req.baseline, baseline_health});
  std::vector<TargetRef> gated = fresh;
  gated.insert(gated.end(), fresh_baseline.begin(), fresh_baseline.end());
  json failures;
  Status st = co_await table_.WaitHealthy(gated, req.deploy_timeout, &failures);
  table_.EndDeploy(name);
  ServiceRuntime* svc = table_.Find(name);
  if (!svc) {
    table_.StopChecks(gated);
    co_return JsonError(409, "service '" + name + "' was removed during the canary deploy");
  }
  if (!st.ok()) {
    table_.StopChecks(gated);
    co_return Refused("canary of '" + name + "'", st, failures);
  }
  std::vector<TargetRef> old;
  if (svc->canary) old = std::move(svc->canary->targets);
  if (svc->baseline) {
    old.insert(old.end(), svc->baseline->targets.begin(), svc->baseline->targets.end());
  }
  svc->canary = PoolRuntime{fresh, req.pool.health};
  svc->baseline.reset();
  if (!fresh_baseline.empty()) svc->baseline = PoolRuntime{fresh_baseline, baseline_health};
  svc->canary_weight = req.weight;
  svc->candidate_token = req.candidate_token;
  auto switched = std::chrono::duration_cast<milliseconds>(clock_.Now() - started);
  table_.Commit(*svc, std::move(old), svc->spec.drain_timeout);
  co_return JsonResponse(200, json{{"ok", true}, {"switched_after_ms", switched.count()}});
}

ApiResponse ControlApi::Remove(const std::string& name) {
  ServiceRuntime* svc = table_.Find(name);
  if (!svc) return NoSuchService(name);
  if (table_.Deploying(name)) return JsonError(409, "a deploy of '" + name + "' is in progress");
  table_.Remove(name);
  return Ok();
}

ApiResponse ControlApi::DropCanary(ServiceRuntime& svc) {
  if (!svc.canary) return NoCanary(svc);
  std::vector<TargetRef> old = std::move(svc.canary->targets);
  if (svc.baseline) {
    old.insert(old.end(), svc.baseline->targets.begin(), svc.baseline->targets.end());
  }
  svc.canary.reset();
  svc.baseline.reset();
  svc.canary_weight = 0;
  svc.candidate_token.clear();
  table_.Commit(svc, std::move(old), svc.spec.drain_timeout);
  return Ok();
}

ApiResponse ControlApi::SetWeight(ServiceRuntime& svc, const json& body) {
  if (!svc.canary) return NoCanary(svc);
  if (!body.contains("weight") || !body["weight"].is_number_integer()) {
    return JsonError(400, "'weight' must be an integer between 0 and 100");
  }
  if (Status w = ValidateWeight(body["weight"].get<int>(), svc.baseline.has_value()); !w.ok()) {
    return JsonError(400, w.message());
  }
  svc.canary_weight = body["weight"].get<int>();
  table_.Commit(svc, {}, svc.spec.drain_timeout);
  return JsonResponse(200, json{{"ok", true}, {"weight", svc.canary_weight}});
}

ApiResponse ControlApi::Promote(ServiceRuntime& svc) {
  if (!svc.canary) return NoCanary(svc);
  if (table_.Deploying(svc.spec.name)) {
    return JsonError(409, "a deploy of '" + svc.spec.name + "' is in progress");
  }
  // The old main pool and the baseline (the same release) drain.
  std::vector<TargetRef> old = std::move(svc.main.targets);
  if (svc.baseline) {
    old.insert(old.end(), svc.baseline->targets.begin(), svc.baseline->targets.end());
  }
  svc.main = std::move(*svc.canary);
  svc.canary.reset();
  svc.baseline.reset();
  svc.canary_weight = 0;
  svc.candidate_token.clear();
  table_.Commit(svc, std::move(old), svc.spec.drain_timeout);
  return Ok();
}

}  // namespace gravity::proxy
