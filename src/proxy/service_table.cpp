#include "proxy/service_table.h"

#include <spdlog/spdlog.h>

#include "common/duration.h"
#include "proxy/health_probe.h"
#include "proxy/state.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;
using nlohmann::json;

// Requests answered per pool since the proxy started, by status class, and their latency
// as [bin, count] pairs of the non-empty fine bins (what canary analysis reads; the same
// counters as gravity_proxy_requests_total).
json RequestsJson(const PoolStats& st) {
  json j = json::object();
  std::uint64_t total = 0;
  for (int c = 0; c < 5; ++c) {
    std::uint64_t n = st.by_class[c].load(std::memory_order_relaxed);
    j[std::to_string(c + 1) + "xx"] = n;
    total += n;
  }
  j["total"] = total;
  json bins = json::array();
  for (std::size_t b = 0; b < st.fine.size(); ++b) {
    std::uint64_t n = st.fine[b].load(std::memory_order_relaxed);
    if (n) bins.push_back(json::array({b, n}));
  }
  j["latency_bins"] = std::move(bins);
  return j;
}

json TargetJson(const TargetRef& t, bool draining) {
  return json{{"address", t->target->address.text},
              {"healthy", !draining && t->target->healthy.load()},
              {"state", draining ? "draining" : HealthStateName(t->machine.state())},
              {"last_error", t->machine.last_error()},
              {"in_flight", t->target->inflight.load()}};
}

std::vector<std::shared_ptr<Target>> Targets(const std::vector<TargetRef>& refs) {
  std::vector<std::shared_ptr<Target>> out;
  for (const auto& t : refs) out.push_back(t->target);
  return out;
}

}  // namespace

// ---- targets and their checks -------------------------------------------------------

TargetRef ServiceTable::NewTarget(const std::string& address, const HealthSpec& health,
                                  HealthState initial) {
  auto addr = ParseAddress(address);  // validated by the caller
  auto target = std::make_shared<Target>(next_target_id_++, addr.ok() ? *addr : Address{address});
  target->healthy.store(initial == HealthState::kHealthy);
  auto t = std::make_shared<TargetRuntime>(target, health, initial);
  by_id_[target->id] = t;
  return t;
}

std::vector<TargetRef> ServiceTable::NewTargets(const PoolSpec& pool) {
  std::vector<TargetRef> fresh;
  for (const auto& a : pool.targets) fresh.push_back(NewTarget(a, pool.health, HealthState::kUnknown));
  for (const auto& t : fresh) StartChecks(t);
  return fresh;
}

void ServiceTable::StartChecks(const TargetRef& t) {
  asio::co_spawn(io_, CheckLoop(t), asio::detached);
}

void ServiceTable::StopChecks(const TargetRef& t) {
  t->stopped = true;
  by_id_.erase(t->target->id);
}

void ServiceTable::StopChecks(const std::vector<TargetRef>& ts) {
  for (const auto& t : ts) StopChecks(t);
}

void ServiceTable::PassiveFailure(std::uint64_t id, const std::string& reason) {
  auto it = by_id_.find(id);
  if (it != by_id_.end()) Feed(*it->second, CheckResult{false, reason});
}

void ServiceTable::Feed(TargetRuntime& t, const CheckResult& r) {
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

awaitable<void> ServiceTable::CheckLoop(TargetRef t) {
  asio::steady_timer timer(io_);
  error_code ec;
  while (!t->stopped) {
    CheckResult r = co_await Probe(io_, t->target->address, t->health);
    if (t->stopped) break;
    Feed(*t, r);
    timer.expires_after(t->health.interval);
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

awaitable<Status> ServiceTable::WaitHealthy(const std::vector<TargetRef>& targets,
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

// ---- services -------------------------------------------------------------------------

ServiceRuntime* ServiceTable::Find(const std::string& name) {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : it->second.get();
}

ServiceRuntime& ServiceTable::Create(const std::string& name) {
  auto& slot = services_[name];
  if (!slot) slot = std::make_unique<ServiceRuntime>();
  return *slot;
}

void ServiceTable::Remove(const std::string& name) {
  auto it = services_.find(name);
  if (it == services_.end()) return;
  std::unique_ptr<ServiceRuntime> svc = std::move(it->second);
  services_.erase(it);
  Publish();
  Save();
  std::vector<TargetRef> all = svc->main.targets;
  if (svc->canary) all.insert(all.end(), svc->canary->targets.begin(), svc->canary->targets.end());
  if (svc->baseline) {
    all.insert(all.end(), svc->baseline->targets.begin(), svc->baseline->targets.end());
  }
  for (const auto& t : all) t->target->draining.store(true);
  StopChecks(all);
  // The drain only compares the runtime's address with the table's; it may go now.
  Drain(*svc, all, svc->spec.drain_timeout);
}

std::vector<RouteKey> ServiceTable::Keys() const {
  std::vector<RouteKey> keys;
  for (const auto& [name, svc] : services_) {
    keys.push_back(RouteKey{name, svc->spec.hosts, svc->spec.path_prefix});
  }
  return keys;
}

Status ServiceTable::CheckRouteConflict(const ServiceSpec& spec) const {
  std::vector<RouteKey> keys;
  for (const auto& k : Keys()) {
    if (k.service != spec.name) keys.push_back(k);
  }
  keys.push_back(RouteKey{spec.name, spec.hosts, spec.path_prefix});
  auto r = Router::Build(keys);
  return r.ok() ? Status::Ok() : r.status();
}

void ServiceTable::Commit(ServiceRuntime& svc, std::vector<TargetRef> leaving,
                          milliseconds drain_timeout) {
  Publish();
  Save();
  Drain(svc, std::move(leaving), drain_timeout);
}

void ServiceTable::Publish() {
  auto table = std::make_shared<RouteTable>();
  for (const auto& [name, svc] : services_) {
    auto snap = std::make_shared<ServiceSnapshot>();
    snap->name = name;
    snap->main = std::make_unique<PoolSnapshot>();
    snap->main->targets = Targets(svc->main.targets);
    snap->main->stats = svc->main_stats;
    if (svc->spec.hsts_max_age > 0) snap->hsts = "max-age=" + std::to_string(svc->spec.hsts_max_age);
    if (svc->canary) {
      snap->canary = std::make_unique<PoolSnapshot>();
      snap->canary->targets = Targets(svc->canary->targets);
      snap->canary->stats = svc->canary_stats;
      snap->canary_weight = svc->canary_weight;
      snap->candidate_token = svc->candidate_token;
      if (svc->baseline) {
        snap->baseline = std::make_unique<PoolSnapshot>();
        snap->baseline->targets = Targets(svc->baseline->targets);
        snap->baseline->stats = svc->baseline_stats;
      }
    }
    table->services.push_back(std::move(snap));
  }
  auto router = Router::Build(Keys());
  if (!router.ok()) {
    spdlog::error("proxy: internal: routing table rejected: {}", router.error());
    return;
  }
  table->router = std::move(router).value();
  auto acks = std::make_shared<std::atomic<int>>(0);
  last_publish_acks_ = acks;
  for (auto& w : workers_) w->SetTable(table, [acks] { acks->fetch_add(1); });
}

void ServiceTable::Save() {
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
      if (svc->baseline) {
        for (const auto& t : svc->baseline->targets) c.baseline.push_back(t->target->address.text);
      }
      s.canary = c;
    }
    specs.push_back(std::move(s));
  }
  Status st = SaveState(state_path_, specs);
  if (!st.ok()) spdlog::error("proxy: saving the routing table failed: {}", st.message());
}

void ServiceTable::Drain(ServiceRuntime& svc, std::vector<TargetRef> targets,
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
          std::erase_if(svcp->draining, [&](const TargetRef& t) {
            return std::find(targets.begin(), targets.end(), t) != targets.end();
          });
        }
      },
      asio::detached);
}

void ServiceTable::Restore() {
  auto loaded = LoadState(state_path_);
  if (!loaded.ok()) {
    spdlog::error("proxy: {}; starting with no routes", loaded.error());
    return;
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
      if (!spec.canary->baseline.empty()) {
        // The live release: checked as the main pool is.
        svc->baseline = PoolRuntime{{}, spec.main.health};
        for (const auto& a : spec.canary->baseline) {
          svc->baseline->targets.push_back(
              NewTarget(a, spec.main.health, HealthState::kHealthy));
        }
      }
    }
    services_[spec.name] = std::move(svc);
  }
  if (auto router = Router::Build(Keys()); !router.ok()) {
    spdlog::error("proxy: restored routes conflict ({}); starting with no routes", router.error());
    services_.clear();
    by_id_.clear();
  }
  for (const auto& [name, svc] : services_) {
    for (const auto& t : svc->main.targets) StartChecks(t);
    if (svc->canary) {
      for (const auto& t : svc->canary->targets) StartChecks(t);
    }
    if (svc->baseline) {
      for (const auto& t : svc->baseline->targets) StartChecks(t);
    }
  }
  if (!services_.empty()) {
    spdlog::info("proxy: restored {} service(s) from {}", services_.size(), state_path_);
  }
  Publish();
}

// ---- views ----------------------------------------------------------------------------

json ServiceTable::Describe(const ServiceRuntime& svc) const {
  json main_targets = json::array();
  for (const auto& t : svc.main.targets) main_targets.push_back(TargetJson(t, false));
  for (const auto& t : svc.draining) main_targets.push_back(TargetJson(t, true));
  // The canary and its baseline: the same share of clients, each with its own counters.
  auto side_pool = [&svc](const std::optional<PoolRuntime>& pool, const PoolStats& stats) {
    if (!pool) return json(nullptr);
    json targets = json::array();
    for (const auto& t : pool->targets) targets.push_back(TargetJson(t, false));
    return json{{"weight", svc.canary_weight},
                {"targets", targets},
                {"health", HealthToJson(pool->health)},
                {"requests", RequestsJson(stats)}};
  };
  json canary = side_pool(svc.canary, *svc.canary_stats);
  json baseline = side_pool(svc.baseline, *svc.baseline_stats);
  return json{{"name", svc.spec.name},
              {"hosts", svc.spec.hosts},
              {"path_prefix", svc.spec.path_prefix},
              {"pools",
               {{"main",
                 {{"targets", main_targets},
                  {"health", HealthToJson(svc.main.health)},
                  {"requests", RequestsJson(*svc.main_stats)}}},
                {"canary", canary},
                {"baseline", baseline}}}};
}

json ServiceTable::DescribeAll() const {
  json list = json::array();
  for (const auto& [name, svc] : services_) list.push_back(Describe(*svc));
  return list;
}

std::string ServiceTable::RenderMetrics() const {
  std::vector<PoolMetrics> pools;
  std::vector<TargetMetrics> targets;
  for (const auto& [name, svc] : services_) {
    pools.push_back(PoolMetrics{name, "main", svc->main_stats.get()});
    pools.push_back(PoolMetrics{name, "canary", svc->canary_stats.get()});
    pools.push_back(PoolMetrics{name, "baseline", svc->baseline_stats.get()});
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
    if (svc->baseline) {
      for (const auto& t : svc->baseline->targets) add(t, "baseline", false);
    }
  }
  return proxy::RenderMetrics(pools, targets);
}

}  // namespace gravity::proxy
