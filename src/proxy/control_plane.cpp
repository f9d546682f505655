// The control plane of `gravity proxy run`: one event loop on the main thread that owns
// the services, runs health checks, deploys/drains, serves the control API (Unix socket)
// and metrics, saves the routing table, and handles SIGTERM. Workers only ever see
// immutable RouteTable snapshots published from here.

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "common/fs.h"
#include "common/http1.h"
#include "proxy/health.h"
#include "proxy/internal.h"
#include "proxy/state.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;
using nlohmann::json;
namespace local = asio::local;

struct TargetRuntime {
  TargetRuntime(std::shared_ptr<Target> t, HealthSpec h, HealthState initial)
      : target(std::move(t)),
        health(std::move(h)),
        machine(health.healthy_threshold, health.unhealthy_threshold, initial) {}
  std::shared_ptr<Target> target;
  HealthSpec health;
  HealthMachine machine;
  bool stopped = false;
};
using TargetRef = std::shared_ptr<TargetRuntime>;

struct PoolRuntime {
  std::vector<TargetRef> targets;
  HealthSpec health;
};

struct ServiceRuntime {
  ServiceSpec spec;  // hosts, prefix, timeouts; pools mirrored from below on save
  PoolRuntime main;
  std::optional<PoolRuntime> canary;
  int canary_weight = 0;
  std::vector<TargetRef> draining;
  std::shared_ptr<PoolStats> main_stats = std::make_shared<PoolStats>();
  std::shared_ptr<PoolStats> canary_stats = std::make_shared<PoolStats>();
  bool busy = false;  // a deploy or canary deploy is in progress
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

HttpResponse JsonResponse(int status, const json& j) {
  return {status, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}
HttpResponse JsonError(int status, const std::string& message) {
  return JsonResponse(status, json{{"ok", false}, {"error", message}});
}

}  // namespace

class ControlPlane {
 public:
  ControlPlane(const ServerOptions& options, Clock& clock) : options_(options), clock_(clock) {}

  int Run();

 private:
  // ---- services ----
  Status Restore();
  void Publish();
  void Save();
  TargetRef NewTarget(const std::string& address, const HealthSpec& health, HealthState initial);
  void StartChecks(const TargetRef& t);
  void StopChecks(const TargetRef& t);
  void Drain(ServiceRuntime& svc, std::vector<TargetRef> targets, milliseconds timeout);
  awaitable<void> CheckLoop(TargetRef t);
  awaitable<CheckResult> CheckOnce(const Address& address, const HealthSpec& spec);
  void Feed(TargetRuntime& t, const CheckResult& r);
  awaitable<Status> WaitHealthy(const std::vector<TargetRef>& targets, milliseconds timeout,
                                json* failures);
  Status CheckRouteConflict(const ServiceSpec& spec);
  json Describe(const ServiceRuntime& svc) const;

  // ---- control API ----
  awaitable<HttpResponse> Handle(std::string method, std::string path, std::string body);
  awaitable<HttpResponse> HandleDeploy(const std::string& name, const json& body);
  awaitable<HttpResponse> HandleCanary(const std::string& name, const json& body);
  HttpResponse HandleMetrics();
  template <typename Socket>
  awaitable<void> ServeHttp(Socket sock, bool metrics);
  template <typename Acceptor>
  awaitable<void> AcceptHttp(Acceptor& acceptor, bool metrics);

  void BeginShutdown();

  const ServerOptions options_;
  Clock& clock_;
  asio::io_context io_{1};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<std::string, std::unique_ptr<ServiceRuntime>> services_;
  std::unordered_map<std::uint64_t, TargetRef> by_id_;
  std::uint64_t next_target_id_ = 1;
  std::string state_path_;
  bool stopping_ = false;
  // Workers that applied the latest published table (a drain waits for all of them: only
  // then can no new request pick a removed target).
  std::shared_ptr<std::atomic<int>> last_publish_acks_;
};

// ---- services ------------------------------------------------------------------------

TargetRef ControlPlane::NewTarget(const std::string& address, const HealthSpec& health,
                                  HealthState initial) {
  auto addr = ParseAddress(address);  // validated by the caller
  auto target = std::make_shared<Target>(next_target_id_++, addr.ok() ? *addr : Address{address});
  target->healthy.store(initial == HealthState::kHealthy);
  auto t = std::make_shared<TargetRuntime>(target, health, initial);
  by_id_[target->id] = t;
  return t;
}

void ControlPlane::StartChecks(const TargetRef& t) {
  asio::co_spawn(io_, CheckLoop(t), asio::detached);
}

void ControlPlane::StopChecks(const TargetRef& t) {
  t->stopped = true;
  by_id_.erase(t->target->id);
}

void ControlPlane::Feed(TargetRuntime& t, const CheckResult& r) {
  auto tr = t.machine.Feed(r, clock_.Now());
  if (!tr) return;
  t.target->healthy.store(tr->to == HealthState::kHealthy);
  if (tr->to == HealthState::kHealthy) {
    spdlog::info("proxy: target {} is healthy", t.target->address.text);
  } else {
    spdlog::warn("proxy: target {} is {}: {}", t.target->address.text, HealthStateName(tr->to),
                 tr->reason);
  }
}

awaitable<void> ControlPlane::CheckLoop(TargetRef t) {
  asio::steady_timer timer(io_);
  error_code ec;
  while (!t->stopped) {
    CheckResult r = co_await CheckOnce(t->target->address, t->health);
    if (t->stopped) break;
    Feed(*t, r);
    timer.expires_after(t->health.interval);
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

awaitable<CheckResult> ControlPlane::CheckOnce(const Address& address, const HealthSpec& spec) {
  // Shared with the timeout handler: one that already fired when timer.cancel() runs still
  // runs after this frame is gone, and must find the socket alive.
  auto sock_owner = std::make_shared<tcp::socket>(io_);
  tcp::socket& sock = *sock_owner;
  asio::steady_timer timer(io_);
  auto timed_out = std::make_shared<bool>(false);
  timer.expires_after(spec.timeout);
  timer.async_wait([timed_out, sock_owner](error_code ec) {
    if (ec) return;
    *timed_out = true;
    error_code ignored;
    sock_owner->close(ignored);
  });
  error_code ec;
  auto tok = asio::redirect_error(use_awaitable, ec);
  tcp::endpoint ep(asio::ip::make_address(address.host, ec), address.port);
  co_await sock.async_connect(ep, tok);
  if (ec) {
    timer.cancel();
    if (*timed_out) co_return CheckResult{false, TimedOutReason(spec.timeout)};
    if (ec == asio::error::connection_refused) co_return CheckResult{false, "connection refused"};
    co_return CheckResult{false, "connect failed: " + ec.message()};
  }
  std::string req =
      "GET " + spec.path + " HTTP/1.1\r\nHost: " + address.text +
      "\r\nUser-Agent: gravity-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(sock, asio::buffer(req), tok);
  std::string data;
  constexpr std::size_t kMax = 1 << 20;
  http1::ResponseHead head;
  http1::Limits limits;
  std::size_t head_len = 0;
  http1::Framing framing;
  char chunk[8192];
  bool complete = false;
  while (!ec && data.size() < kMax) {
    std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), tok);
    data.append(chunk, n);
    if (head_len == 0) {
      auto r = http1::ParseResponseHead(data, limits, &head);
      if (r.status == http1::ParseStatus::kError) {
        timer.cancel();
        co_return CheckResult{false, std::string("malformed response: ") + r.error_reason};
      }
      if (r.status == http1::ParseStatus::kComplete) {
        head_len = r.head_length;
        framing = http1::ResponseFraming(head, "GET");
      }
    }
    if (head_len && framing.kind == http1::BodyKind::kContentLength &&
        data.size() - head_len >= framing.length) {
      complete = true;
      break;
    }
    if (head_len && framing.kind == http1::BodyKind::kNone) {
      complete = true;
      break;
    }
  }
  timer.cancel();
  if (*timed_out) co_return CheckResult{false, TimedOutReason(spec.timeout)};
  if (head_len == 0) {
    co_return CheckResult{false, ec == asio::error::connection_reset
                                     ? "connection reset"
                                     : "connection closed before a response"};
  }
  // Re-parse: `data` may have been reallocated since the head was parsed.
  http1::ParseResponseHead(data, limits, &head);
  std::string body = data.substr(head_len);
  if (framing.kind == http1::BodyKind::kContentLength) {
    if (!complete) co_return CheckResult{false, "response body cut short"};
    body.resize(framing.length);
  } else if (framing.kind == http1::BodyKind::kChunked) {
    // De-chunk for the body check.
    std::string plain;
    std::size_t p = 0;
    while (p < body.size()) {
      std::size_t eol = body.find("\r\n", p);
      if (eol == std::string::npos) break;
      std::size_t size = std::strtoull(body.substr(p, eol - p).c_str(), nullptr, 16);
      if (size == 0) break;
      plain += body.substr(eol + 2, size);
      p = eol + 2 + size + 2;
    }
    body = std::move(plain);
  }
  co_return EvaluateResponse(spec, head.status, body);
}

awaitable<Status> ControlPlane::WaitHealthy(const std::vector<TargetRef>& targets,
                                            milliseconds timeout, json* failures) {
  const auto deadline = clock_.Now() + timeout;
  asio::steady_timer timer(io_);
  error_code ec;
  for (;;) {
    bool all = true;
    for (const auto& t : targets) all = all && t->machine.state() == HealthState::kHealthy;
    if (all) co_return Status::Ok();
    if (clock_.Now() >= deadline || stopping_) break;
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  *failures = json::array();
  std::string first;
  for (const auto& t : targets) {
    if (t->machine.state() == HealthState::kHealthy) continue;
    std::string reason = t->machine.last_error();
    if (reason.empty()) {
      reason = t->machine.checks() == 0
                   ? TimedOutReason(t->health.timeout.count() < timeout.count() ? t->health.timeout
                                                                                : timeout)
                   : "passed " + std::to_string(t->machine.checks()) + " checks but needs " +
                         std::to_string(t->health.healthy_threshold) + " in a row";
    }
    failures->push_back(json{{"target", t->target->address.text}, {"reason", reason}});
    if (first.empty()) first = t->target->address.text + ": " + reason;
  }
  co_return Status::Error("not healthy within " + FormatDuration(timeout) + " (" + first + ")");
}

Status ControlPlane::CheckRouteConflict(const ServiceSpec& spec) {
  std::vector<RouteKey> keys;
  for (const auto& [name, svc] : services_) {
    if (name == spec.name) continue;
    keys.push_back(RouteKey{name, svc->spec.hosts, svc->spec.path_prefix});
  }
  keys.push_back(RouteKey{spec.name, spec.hosts, spec.path_prefix});
  auto r = Router::Build(keys);
  return r.ok() ? Status::Ok() : r.status();
}

void ControlPlane::Publish() {
  auto table = std::make_shared<RouteTable>();
  std::vector<RouteKey> keys;
  for (const auto& [name, svc] : services_) {
    keys.push_back(RouteKey{name, svc->spec.hosts, svc->spec.path_prefix});
    auto snap = std::make_shared<ServiceSnapshot>();
    snap->name = name;
    snap->main = std::make_unique<PoolSnapshot>();
    for (const auto& t : svc->main.targets) snap->main->targets.push_back(t->target);
    snap->main->stats = svc->main_stats;
    if (svc->canary) {
      snap->canary = std::make_unique<PoolSnapshot>();
      for (const auto& t : svc->canary->targets) snap->canary->targets.push_back(t->target);
      snap->canary->stats = svc->canary_stats;
      snap->canary_weight = svc->canary_weight;
    }
    table->services.push_back(std::move(snap));
  }
  auto router = Router::Build(keys);
  if (!router.ok()) {
    spdlog::error("proxy: internal: routing table rejected: {}", router.error());
    return;
  }
  table->router = std::move(router).value();
  auto acks = std::make_shared<std::atomic<int>>(0);
  last_publish_acks_ = acks;
  for (auto& w : workers_) w->SetTable(table, [acks] { acks->fetch_add(1); });
}

void ControlPlane::Save() {
  std::vector<ServiceSpec> specs;
  for (const auto& [name, svc] : services_) {
    ServiceSpec s = svc->spec;
    s.main.targets.clear();
    for (const auto& t : svc->main.targets) s.main.targets.push_back(t->target->address.text);
    s.main.health = svc->main.health;
    s.canary.reset();
    if (svc->canary) {
      CanarySpec c;
      for (const auto& t : svc->canary->targets) c.pool.targets.push_back(t->target->address.text);
      c.pool.health = svc->canary->health;
      c.weight = svc->canary_weight;
      s.canary = c;
    }
    specs.push_back(std::move(s));
  }
  Status st = SaveState(state_path_, specs);
  if (!st.ok()) spdlog::error("proxy: saving the routing table failed: {}", st.message());
}

void ControlPlane::Drain(ServiceRuntime& svc, std::vector<TargetRef> targets,
                         milliseconds timeout) {
  // Listed as draining at once; taken out of traffic only once every worker has the new
  // table. A worker still on the old table picks among these targets: marked draining
  // earlier, it would find none routable and answer 503.
  for (const auto& t : targets) svc.draining.push_back(t);
  ServiceRuntime* svcp = &svc;
  std::string name = svc.spec.name;
  asio::co_spawn(
      io_,
      [this, svcp, name, targets, timeout, acks = last_publish_acks_]() -> awaitable<void> {
        const auto deadline = clock_.Now() + timeout;
        asio::steady_timer timer(io_);
        error_code ec;
        while (acks && acks->load() < static_cast<int>(workers_.size()) && !stopping_) {
          timer.expires_after(std::chrono::milliseconds(1));
          co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
        }
        for (const auto& t : targets) {
          t->target->draining.store(true);
          StopChecks(t);
        }
        for (;;) {
          bool idle = true;
          for (const auto& t : targets) idle = idle && t->target->inflight.load() == 0;
          if (idle || clock_.Now() >= deadline) break;
          timer.expires_after(std::chrono::milliseconds(20));
          co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
        }
        for (const auto& t : targets) {
          t->target->retired.store(true);
          for (auto& w : workers_) w->CloseTarget(t->target->id);
        }
        auto it = services_.find(name);
        if (it != services_.end() && it->second.get() == svcp) {
          auto& d = svcp->draining;
          std::erase_if(d, [&](const TargetRef& t) {
            return std::find(targets.begin(), targets.end(), t) != targets.end();
          });
        }
      },
      asio::detached);
}

Status ControlPlane::Restore() {
  auto loaded = LoadState(state_path_);
  if (!loaded.ok()) {
    spdlog::error("proxy: {}; starting with no routes", loaded.error());
    return Status::Ok();
  }
  if (!loaded->warning.empty()) spdlog::error("proxy: {}", loaded->warning);
  for (const auto& spec : loaded->services) {
    auto svc = std::make_unique<ServiceRuntime>();
    svc->spec = spec;
    svc->main.health = spec.main.health;
    // Restored targets serve at once; health is re-checked in the background.
    for (const auto& a : spec.main.targets) {
      svc->main.targets.push_back(NewTarget(a, spec.main.health, HealthState::kHealthy));
    }
    if (spec.canary) {
      svc->canary = PoolRuntime{{}, spec.canary->pool.health};
      svc->canary_weight = spec.canary->weight;
      for (const auto& a : spec.canary->pool.targets) {
        svc->canary->targets.push_back(
            NewTarget(a, spec.canary->pool.health, HealthState::kHealthy));
      }
    }
    services_[spec.name] = std::move(svc);
  }
  std::vector<RouteKey> keys;
  for (const auto& [name, svc] : services_) {
    keys.push_back(RouteKey{name, svc->spec.hosts, svc->spec.path_prefix});
  }
  if (auto router = Router::Build(keys); !router.ok()) {
    spdlog::error("proxy: restored routes conflict ({}); starting with no routes", router.error());
    services_.clear();
    by_id_.clear();
  }
  for (const auto& [name, svc] : services_) {
    for (const auto& t : svc->main.targets) StartChecks(t);
    if (svc->canary) {
      for (const auto& t : svc->canary->targets) StartChecks(t);
    }
  }
  if (!services_.empty())
    spdlog::info("proxy: restored {} service(s) from {}", services_.size(), state_path_);
  return Status::Ok();
}

json ControlPlane::Describe(const ServiceRuntime& svc) const {
  auto target_json = [](const TargetRef& t, bool draining) {
    return json{{"address", t->target->address.text},
                {"healthy", !draining && t->target->healthy.load()},
                {"state", draining ? "draining" : HealthStateName(t->machine.state())},
                {"last_error", t->machine.last_error()},
                {"in_flight", t->target->inflight.load()}};
  };
  json main_targets = json::array();
  for (const auto& t : svc.main.targets) main_targets.push_back(target_json(t, false));
  for (const auto& t : svc.draining) main_targets.push_back(target_json(t, true));
  // Requests answered per pool since the proxy started, by status class (what canary
  // analysis reads; the same counters as gravity_proxy_requests_total).
  auto requests_json = [](const PoolStats& st) {
    json j = json::object();
    std::uint64_t total = 0;
    for (int c = 0; c < 5; ++c) {
      std::uint64_t n = st.by_class[c].load(std::memory_order_relaxed);
      j[std::to_string(c + 1) + "xx"] = n;
      total += n;
    }
    j["total"] = total;
    return j;
  };
  json canary = nullptr;
  if (svc.canary) {
    json ct = json::array();
    for (const auto& t : svc.canary->targets) ct.push_back(target_json(t, false));
    canary = json{{"weight", svc.canary_weight},
                  {"targets", ct},
                  {"health", HealthToJson(svc.canary->health)},
                  {"requests", requests_json(*svc.canary_stats)}};
  }
  return json{{"name", svc.spec.name},
              {"hosts", svc.spec.hosts},
              {"path_prefix", svc.spec.path_prefix},
              {"pools",
               {{"main",
                 {{"targets", main_targets},
                  {"health", HealthToJson(svc.main.health)},
                  {"requests", requests_json(*svc.main_stats)}}},
                {"canary", canary}}}};
}

// ---- control API -----------------------------------------------------------------------

awaitable<HttpResponse> ControlPlane::HandleDeploy(const std::string& name, const json& body) {
  auto spec_r = DeployRequestFromJson(name, body);
  if (!spec_r.ok()) co_return JsonError(400, spec_r.error());
  ServiceSpec spec = std::move(spec_r).value();
  Status conflict = CheckRouteConflict(spec);
  if (!conflict.ok()) co_return JsonError(409, conflict.message());
  auto it = services_.find(name);
  if (it != services_.end() && it->second->busy) {
    co_return JsonError(409, "a deploy of '" + name + "' is already in progress");
  }
  const auto started = clock_.Now();
  std::vector<TargetRef> fresh;
  for (const auto& a : spec.main.targets) {
    fresh.push_back(NewTarget(a, spec.main.health, HealthState::kUnknown));
  }
  if (it != services_.end()) it->second->busy = true;
  for (const auto& t : fresh) StartChecks(t);
  json failures;
  Status st = co_await WaitHealthy(fresh, spec.deploy_timeout, &failures);
  it = services_.find(name);
  if (it != services_.end()) it->second->busy = false;
  if (!st.ok()) {
    for (const auto& t : fresh) StopChecks(t);
    spdlog::warn("proxy: deploy of {} refused: {}", name, st.message());
    co_return JsonResponse(422, json{{"ok", false},
                                     {"error", "deploy of '" + name + "' failed: " + st.message()},
                                     {"targets", failures}});
  }
  conflict = CheckRouteConflict(spec);  // another service may have claimed the route meanwhile
  if (!conflict.ok()) {
    for (const auto& t : fresh) StopChecks(t);
    co_return JsonError(409, conflict.message());
  }
  std::vector<TargetRef> old;
  ServiceRuntime* svc;
  if (it == services_.end()) {
    auto created = std::make_unique<ServiceRuntime>();
    svc = created.get();
    services_[name] = std::move(created);
  } else {
    svc = it->second.get();
    old = std::move(svc->main.targets);
  }
  std::optional<CanarySpec> keep_canary = svc->spec.canary;
  svc->spec = spec;
  svc->spec.canary = keep_canary;
  svc->main = PoolRuntime{fresh, spec.main.health};
  Publish();
  Save();
  auto switched = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - started);
  Drain(*svc, std::move(old), spec.drain_timeout);
  spdlog::info("proxy: deployed {} to {} target(s) after {}", name, fresh.size(),
               FormatDuration(switched));
  co_return JsonResponse(200, json{{"ok", true}, {"switched_after_ms", switched.count()}});
}

awaitable<HttpResponse> ControlPlane::HandleCanary(const std::string& name, const json& body) {
  auto it = services_.find(name);
  if (it == services_.end()) co_return JsonError(404, "no service named '" + name + "'");
  auto req_r = CanaryRequestFromJson(body);
  if (!req_r.ok()) co_return JsonError(400, req_r.error());
  CanaryRequest req = std::move(req_r).value();
  if (it->second->busy)
    co_return JsonError(409, "a deploy of '" + name + "' is already in progress");
  it->second->busy = true;
  const auto started = clock_.Now();
  std::vector<TargetRef> fresh;
  for (const auto& a : req.pool.targets) {
    fresh.push_back(NewTarget(a, req.pool.health, HealthState::kUnknown));
  }
  for (const auto& t : fresh) StartChecks(t);
  json failures;
  Status st = co_await WaitHealthy(fresh, req.deploy_timeout, &failures);
  it = services_.find(name);
  if (it == services_.end()) {
    for (const auto& t : fresh) StopChecks(t);
    co_return JsonError(409, "service '" + name + "' was removed during the canary deploy");
  }
  ServiceRuntime& svc = *it->second;
  svc.busy = false;
  if (!st.ok()) {
    for (const auto& t : fresh) StopChecks(t);
    co_return JsonResponse(422, json{{"ok", false},
                                     {"error", "canary of '" + name + "' failed: " + st.message()},
                                     {"targets", failures}});
  }
  std::vector<TargetRef> old;
  if (svc.canary) old = std::move(svc.canary->targets);
  svc.canary = PoolRuntime{fresh, req.pool.health};
  svc.canary_weight = req.weight;
  Publish();
  Save();
  auto switched = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - started);
  Drain(svc, std::move(old), svc.spec.drain_timeout);
  co_return JsonResponse(200, json{{"ok", true}, {"switched_after_ms", switched.count()}});
}

awaitable<HttpResponse> ControlPlane::Handle(std::string method, std::string path,
                                             std::string body) {
  std::size_t q = path.find('?');
  if (q != std::string::npos) path.resize(q);
  if (path == "/v1/services" || path == "/v1/services/") {
    if (method != "GET") co_return JsonError(405, "use GET");
    json list = json::array();
    for (const auto& [name, svc] : services_) list.push_back(Describe(*svc));
    co_return JsonResponse(200, json{{"services", list}});
  }
  const std::string prefix = "/v1/services/";
  if (path.rfind(prefix, 0) != 0) co_return JsonError(404, "no such endpoint: " + path);
  std::string rest = path.substr(prefix.size());
  std::string name = rest.substr(0, rest.find('/'));
  std::string sub = rest.size() > name.size() ? rest.substr(name.size()) : "";
  Status valid = ValidateServiceName(name);
  if (!valid.ok()) co_return JsonError(400, valid.message());

  json j;
  if (!body.empty()) {
    j = json::parse(body, nullptr, false);
    if (j.is_discarded()) co_return JsonError(400, "request body is not valid JSON");
  } else {
    j = json::object();
  }
  auto it = services_.find(name);
  if (sub.empty()) {
    if (method == "GET") {
      if (it == services_.end()) co_return JsonError(404, "no service named '" + name + "'");
      co_return JsonResponse(200, Describe(*it->second));
    }
    if (method == "PUT") co_return co_await HandleDeploy(name, j);
    if (method == "DELETE") {
      if (it == services_.end()) co_return JsonError(404, "no service named '" + name + "'");
      if (it->second->busy) co_return JsonError(409, "a deploy of '" + name + "' is in progress");
      std::unique_ptr<ServiceRuntime> svc = std::move(it->second);
      services_.erase(it);
      Publish();
      Save();
      std::vector<TargetRef> all = svc->main.targets;
      if (svc->canary)
        all.insert(all.end(), svc->canary->targets.begin(), svc->canary->targets.end());
      for (const auto& t : all) {
        t->target->draining.store(true);
        StopChecks(t);
      }
      // Keep the runtime alive until its targets drained (it owns nothing the drain needs).
      ServiceRuntime* raw = svc.get();
      Drain(*raw, all, raw->spec.drain_timeout);
      raw->draining.clear();
      co_return JsonResponse(200, json{{"ok", true}});
    }
    co_return JsonError(405, "use GET, PUT or DELETE");
  }
  if (it == services_.end()) co_return JsonError(404, "no service named '" + name + "'");
  ServiceRuntime& svc = *it->second;
  if (sub == "/canary") {
    if (method == "PUT") co_return co_await HandleCanary(name, j);
    if (method == "DELETE") {
      if (!svc.canary) co_return JsonError(404, "service '" + name + "' has no canary");
      std::vector<TargetRef> old = std::move(svc.canary->targets);
      svc.canary.reset();
      svc.canary_weight = 0;
      Publish();
      Save();
      Drain(svc, std::move(old), svc.spec.drain_timeout);
      co_return JsonResponse(200, json{{"ok", true}});
    }
    co_return JsonError(405, "use PUT or DELETE");
  }
  if (sub == "/canary/weight") {
    if (method != "POST") co_return JsonError(405, "use POST");
    if (!svc.canary) co_return JsonError(404, "service '" + name + "' has no canary");
    if (!j.contains("weight") || !j["weight"].is_number_integer()) {
      co_return JsonError(400, "'weight' must be an integer between 0 and 100");
    }
    Status w = ValidateWeight(j["weight"].get<int>());
    if (!w.ok()) co_return JsonError(400, w.message());
    svc.canary_weight = j["weight"].get<int>();
    Publish();
    Save();
    co_return JsonResponse(200, json{{"ok", true}, {"weight", svc.canary_weight}});
  }
  if (sub == "/canary/promote") {
    if (method != "POST") co_return JsonError(405, "use POST");
    if (!svc.canary) co_return JsonError(404, "service '" + name + "' has no canary");
    if (svc.busy) co_return JsonError(409, "a deploy of '" + name + "' is in progress");
    std::vector<TargetRef> old = std::move(svc.main.targets);
    svc.main = std::move(*svc.canary);
    svc.canary.reset();
    svc.canary_weight = 0;
    Publish();
    Save();
    Drain(svc, std::move(old), svc.spec.drain_timeout);
    co_return JsonResponse(200, json{{"ok", true}});
  }
  co_return JsonError(404, "no such endpoint: " + path);
}

HttpResponse ControlPlane::HandleMetrics() {
  std::vector<PoolMetrics> pools;
  std::vector<TargetMetrics> targets;
  for (const auto& [name, svc] : services_) {
    pools.push_back(PoolMetrics{name, "main", svc->main_stats.get()});
    pools.push_back(PoolMetrics{name, "canary", svc->canary_stats.get()});
    auto add = [&](const TargetRef& t, const char* pool, bool draining) {
      targets.push_back(TargetMetrics{name, pool, t->target->address.text,
                                      draining ? "draining" : HealthStateName(t->machine.state()),
                                      !draining && t->target->healthy.load()});
    };
    for (const auto& t : svc->main.targets) add(t, "main", false);
    for (const auto& t : svc->draining) add(t, "main", true);
    if (svc->canary) {
      for (const auto& t : svc->canary->targets) add(t, "canary", false);
    }
  }
  return HttpResponse{200, RenderMetrics(pools, targets), "text/plain; version=0.0.4"};
}

template <typename Socket>
awaitable<void> ControlPlane::ServeHttp(Socket sock, bool metrics) {
  std::string data;
  char chunk[8192];
  error_code ec;
  auto tok = asio::redirect_error(use_awaitable, ec);
  http1::Limits limits;
  limits.max_head_bytes = 64 * 1024;
  for (;;) {
    http1::RequestHead head;
    http1::ParseResult pr;
    for (;;) {
      pr = http1::ParseRequestHead(data, limits, &head);
      if (pr.status != http1::ParseStatus::kNeedMore) break;
      std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), tok);
      if (ec) co_return;
      data.append(chunk, n);
    }
    HttpResponse resp;
    bool keep = false;
    std::string method, target, body;
    if (pr.status == http1::ParseStatus::kError) {
      resp = JsonError(pr.error_status, pr.error_reason);
    } else {
      http1::Framing f = http1::RequestFraming(head);
      http1::ConnectionInfo ci;
      http1::ParseConnection(head.headers, &ci);
      keep = http1::KeepAlive(head.version_minor, ci);
      method.assign(head.method);
      target.assign(head.target);
      if (!f.ok()) {
        resp = JsonError(f.error_status, f.error_reason);
        keep = false;
      } else if (f.kind == http1::BodyKind::kChunked) {
        resp = JsonError(411, "send the body with Content-Length");
        keep = false;
      } else if (f.length > (1u << 20)) {
        resp = JsonError(413, "request body larger than 1 MiB");
        keep = false;
      } else {
        std::size_t need = pr.head_length + f.length;
        while (data.size() < need) {
          std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), tok);
          if (ec) co_return;
          data.append(chunk, n);
        }
        body = data.substr(pr.head_length, f.length);
        data.erase(0, need);
        if (metrics) {
          resp = target.rfind("/metrics", 0) == 0
                     ? HandleMetrics()
                     : HttpResponse{404, "see /metrics\n", "text/plain"};
        } else {
          resp = co_await Handle(method, target, body);
        }
      }
    }
    std::string out =
        fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
                    resp.status, http1::ReasonPhrase(resp.status), resp.content_type,
                    resp.body.size(), keep ? "" : "Connection: close\r\n");
    if (method != "HEAD") out += resp.body;
    co_await asio::async_write(sock, asio::buffer(out), tok);
    if (ec || !keep) co_return;
  }
}

template <typename Acceptor>
awaitable<void> ControlPlane::AcceptHttp(Acceptor& acceptor, bool metrics) {
  error_code ec;
  for (;;) {
    typename Acceptor::protocol_type::socket sock(io_);
    co_await acceptor.async_accept(sock, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(io_, ServeHttp(std::move(sock), metrics), asio::detached);
  }
}

void ControlPlane::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  spdlog::info("proxy: shutting down: no new connections; finishing in-flight requests");
  for (auto& w : workers_) w->Shutdown();
  asio::co_spawn(
      io_,
      [this]() -> awaitable<void> {
        const auto deadline = clock_.Now() + options_.limits.shutdown_timeout;
        asio::steady_timer timer(io_);
        error_code ec;
        for (;;) {
          std::int64_t active = 0;
          for (auto& w : workers_) active += w->active_connections();
          if (active == 0) break;
          if (clock_.Now() >= deadline) {
            spdlog::warn("proxy: {} connection(s) still open after {}; closing", active,
                         FormatDuration(options_.limits.shutdown_timeout));
            break;
          }
          timer.expires_after(std::chrono::milliseconds(20));
          co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
        }
        io_.stop();
      },
      asio::detached);
}

int ControlPlane::Run() {
  std::signal(SIGPIPE, SIG_IGN);
  Status st = MakeDirs(options_.state_dir, 0700);
  if (!st.ok()) {
    spdlog::error("proxy: {}", st.message());
    return 1;
  }
  state_path_ = options_.state_dir + "/routes.json";
  const std::string sock_path = options_.control_socket.empty() ? options_.state_dir + "/proxy.sock"
                                                                : options_.control_socket;

  auto listen = ParseAddress(options_.listen);
  if (!listen.ok()) {
    spdlog::error("proxy: --listen: {}", listen.error());
    return 2;
  }
  error_code ec;
  tcp::endpoint listen_ep(asio::ip::make_address(listen->host, ec), listen->port);
  if (options_.listen.size() > 2 && options_.listen.rfind(":0") == options_.listen.size() - 2) {
    listen_ep.port(0);
  }

  // The listener first: a proxy started on an address in use fails before it touches the
  // control socket or the state. One socket for all workers (see Worker).
  AccessLogSink sink;
  if (options_.access_log == "-") {
    sink.fd = 1;
  } else if (!options_.access_log.empty() && options_.access_log != "off") {
    sink.fd = ::open(options_.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (sink.fd < 0) {
      spdlog::error("proxy: cannot open access log {}: {}", options_.access_log,
                    std::strerror(errno));
      return 1;
    }
  }

  PassiveFailureFn on_failure = [this](std::shared_ptr<Target> target, std::string reason) {
    asio::post(io_, [this, target = std::move(target), reason = std::move(reason)] {
      auto it = by_id_.find(target->id);
      if (it == by_id_.end()) return;
      Feed(*it->second, CheckResult{false, reason});
    });
  };
  int nworkers = options_.workers < 1 ? 1 : options_.workers;
  std::vector<Worker*> peers;
  for (int i = 0; i < nworkers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, options_, clock_, on_failure, sink));
    peers.push_back(workers_.back().get());
  }
  tcp::endpoint bound;
  {
    auto r = workers_.front()->Listen(listen_ep, peers);
    if (!r.ok()) {
      spdlog::error("proxy: {}", r.error());
      return 1;
    }
    bound = *r;
  }

  // Control socket: refuse to steal it from a live proxy; replace a stale file.
  local::stream_protocol::acceptor control(io_);
  {
    local::stream_protocol::socket probe(io_);
    probe.connect(local::stream_protocol::endpoint(sock_path), ec);
    if (!ec) {
      spdlog::error("proxy: another proxy is already serving the control socket {}", sock_path);
      return 1;
    }
    ::unlink(sock_path.c_str());
    mode_t old_mask = ::umask(0077);
    control.open(local::stream_protocol(), ec);
    if (!ec) control.bind(local::stream_protocol::endpoint(sock_path), ec);
    ::umask(old_mask);
    if (!ec) ::chmod(sock_path.c_str(), 0600);
    if (!ec) control.listen(64, ec);
    if (ec) {
      spdlog::error("proxy: cannot listen on control socket {}: {}", sock_path, ec.message());
      return 1;
    }
  }

  std::optional<tcp::acceptor> metrics;
  if (!options_.metrics_listen.empty()) {
    auto m = ParseAddress(options_.metrics_listen);
    if (!m.ok()) {
      spdlog::error("proxy: --metrics: {}", m.error());
      return 2;
    }
    metrics.emplace(io_);
    tcp::endpoint mep(asio::ip::make_address(m->host, ec), m->port);
    metrics->open(mep.protocol(), ec);
    if (!ec) metrics->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) metrics->bind(mep, ec);
    if (!ec) metrics->listen(64, ec);
    if (ec) {
      spdlog::error("proxy: cannot listen for metrics on {}: {}", options_.metrics_listen,
                    ec.message());
      return 1;
    }
    asio::co_spawn(io_, AcceptHttp(*metrics, true), asio::detached);
  }

  Restore();
  Publish();
  for (auto& w : workers_) w->Start();
  asio::co_spawn(io_, AcceptHttp(control, false), asio::detached);

  asio::signal_set signals(io_, SIGTERM, SIGINT);
  signals.async_wait([this](error_code ec, int) {
    if (!ec) BeginShutdown();
  });

  std::string where = bound.address().to_string() + ":" + std::to_string(bound.port());
  spdlog::info("proxy: listening on {} with {} worker(s); control socket {}", where, nworkers,
               sock_path);
  if (!options_.ready_file.empty()) {
    Status w = WriteFileAtomic(options_.ready_file, where + "\n");
    if (!w.ok()) spdlog::error("proxy: {}", w.message());
  }

  io_.run();

  for (auto& w : workers_) w->StopAndJoin();
  workers_.clear();
  control.close(ec);
  ::unlink(sock_path.c_str());
  if (sink.fd > 2) ::close(sink.fd);
  spdlog::info("proxy: stopped");
  return 0;
}

int RunServer(const ServerOptions& options, Clock& clock) {
  ControlPlane cp(options, clock);
  return cp.Run();
}

}  // namespace gravity::proxy
